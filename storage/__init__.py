"""All SQL of newsbot, on aiosqlite."""

from storage.store import Store

__all__ = ["Store"]
