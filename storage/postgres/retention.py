"""Retention on PostgreSQL: the same pruning (storage/retention.py); the server reclaims space itself."""

from __future__ import annotations

from storage.retention import PageCounts, Retention

PAGE_SIZE = 8192  # PostgreSQL's block size as built by Debian and most distributions


class PgRetention(Retention):
    """Pruning as on SQLite; page reclaiming is autovacuum's work on the server, so those steps do nothing."""

    async def pages(self) -> PageCounts:
        """The database's size in blocks; free space inside tables is the server's to reuse (autovacuum)."""
        size = await self._db.fetchval("SELECT pg_database_size(current_database())")
        return PageCounts(page_count=int(size) // PAGE_SIZE, freelist_count=0, page_size=PAGE_SIZE)

    async def auto_vacuum_mode(self) -> str:
        """Always the server's autovacuum."""
        return "autovacuum"

    async def incremental_vacuum(self, pages: int) -> int:
        """Nothing to give back by hand: autovacuum marks pruned rows' space for reuse."""
        return 0

    async def checkpoint(self) -> None:
        """The server checkpoints on its own schedule."""

    async def ensure_incremental_vacuum(self, max_bytes: int | None = None) -> str:
        """Nothing to convert."""
        return await self.auto_vacuum_mode()
