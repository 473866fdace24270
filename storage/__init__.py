"""All SQL of newsbot, on SQLite (aiosqlite) or PostgreSQL (asyncpg); storage/dialect.py: how they differ."""

from storage.store import Store

__all__ = ["Store"]
