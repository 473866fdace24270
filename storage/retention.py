"""Retention: roll finished deliveries up into daily counts, delete them in small batches, reclaim pages."""

from __future__ import annotations

import functools
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from storage.database import Database, StorageError, Transaction
from storage.models import DeliveryArchive

log = logging.getLogger(__name__)

FINISHED = "status IN ('sent', 'failed')"  # anything else (pending, sending) is unfinished: kept
CONVERT_AT_OPEN_MAX_BYTES = 64 * 1024 * 1024  # VACUUM copies the database through memory (temp_store)
P = ParamSpec("P")
R = TypeVar("R")


def _storage_errors(step: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Any database failure of a retention step as a StorageError, so its caller needs no driver."""

    @functools.wraps(step)
    async def run(*args: P.args, **kwargs: P.kwargs) -> R:
        retention = args[0]
        assert isinstance(retention, Retention)
        try:
            return await step(*args, **kwargs)
        except StorageError:
            raise
        except retention._db.dialect.errors as error:  # damaged file, a schema it did not expect: says which
            raise StorageError(f"database error: {error}") from error

    return run


@dataclass(frozen=True)
class PageCounts:
    """The file's size in pages and how many of them are free, for vacuum decisions and reports."""

    page_count: int
    freelist_count: int
    page_size: int


@dataclass(frozen=True)
class PrunedBatch:
    """One batch: deliveries counted into delivery_days, and deliveries deleted (the same rows)."""

    rolled_up: int
    deleted: int


class Retention:
    """Every statement retention needs; each method is one short write transaction at most."""

    def __init__(self, db: Database) -> None:
        self._db = db
        dialect = db.dialect
        self._batch_table = (
            "CREATE TEMP TABLE IF NOT EXISTS retention_batch ("
            " broadcast_id bigint NOT NULL, chat_id bigint NOT NULL, day text NOT NULL,"
            f" status text NOT NULL, PRIMARY KEY (broadcast_id, chat_id)){dialect.without_rowid}"
        )
        self._take = (
            "INSERT INTO retention_batch (broadcast_id, chat_id, day, status) "
            f"SELECT broadcast_id, chat_id, {dialect.day_from_unix('finished_at')}, status FROM deliveries "
            f"WHERE finished_at < ? AND {FINISHED} ORDER BY finished_at LIMIT ?"
        )
        self._old_broadcasts = (
            "DELETE FROM broadcasts WHERE id IN ("
            " SELECT b.id FROM broadcasts b"
            f" WHERE b.created_at < {dialect.iso_from_unix('CAST(? AS double precision)')}"
            "  AND b.audience IS NULL AND b.id < (SELECT max(id) FROM broadcasts)"
            "  AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.broadcast_id = b.id)"
            " ORDER BY b.id LIMIT ?)"
        )

    @_storage_errors
    async def prune_batch(self, cutoff: float, limit: int) -> PrunedBatch:
        """Count up to `limit` finished deliveries older than `cutoff` into delivery_days and delete them."""
        async with self._db.transaction() as tx:
            await tx.execute(self._batch_table)
            await tx.execute("DELETE FROM retention_batch")
            # The oldest first, from the covering index deliveries_finished (finished_at, status, key).
            taken = await tx.execute(self._take, (cutoff, limit))
            if taken == 0:
                return PrunedBatch(0, 0)
            await tx.execute(
                "INSERT INTO delivery_days (day, kind, status, count) "
                "SELECT t.day, b.kind, t.status, count(*) "
                f"FROM retention_batch t {self._db.dialect.cross_join} broadcasts b ON b.id = t.broadcast_id "
                "WHERE true GROUP BY 1, 2, 3 "
                "ON CONFLICT (day, kind, status) DO UPDATE SET count = delivery_days.count + excluded.count"
            )
            deleted = await tx.execute(
                "DELETE FROM deliveries WHERE (broadcast_id, chat_id) IN "
                "(SELECT broadcast_id, chat_id FROM retention_batch)"
            )
            await tx.execute("DELETE FROM retention_batch")
            return PrunedBatch(rolled_up=taken, deleted=deleted)

    @_storage_errors
    async def prune_broadcasts(self, cutoff: float, limit: int) -> int:
        """Delete up to `limit` broadcasts older than `cutoff` that have no deliveries left at all.

        A broadcast with any delivery (pending, being sent, or not yet pruned) stays, as does one whose
        audience is still being queued, and the newest one, so broadcast ids are never handed out twice.
        """
        return await self._db.execute(self._old_broadcasts, (cutoff, limit))

    @_storage_errors
    async def pages(self) -> PageCounts:
        """The database's page count, free pages and page size."""
        return PageCounts(
            page_count=await self._db.fetchval("PRAGMA page_count"),
            freelist_count=await self._db.fetchval("PRAGMA freelist_count"),
            page_size=await self._db.fetchval("PRAGMA page_size"),
        )

    async def auto_vacuum_mode(self) -> str:
        """none, full or incremental, as SQLite reports it for this file."""
        # Asked on the writer, which ran any conversion: a reader connection reports the mode it opened with.
        async with self._db.transaction() as tx:
            mode = await _value(tx, "PRAGMA auto_vacuum")
        return {0: "none", 1: "full", 2: "incremental"}.get(mode, str(mode))

    @_storage_errors
    async def incremental_vacuum(self, pages: int) -> int:
        """Give up to `pages` free pages back to the file system (one write transaction); returns how many."""
        async with self._db.transaction() as tx:
            if await _value(tx, "PRAGMA auto_vacuum") != 2:
                return 0  # not converted yet: free pages stay in the file and are reused
            before = await _value(tx, "PRAGMA page_count")
            free = await _value(tx, "PRAGMA freelist_count")
            # Python's sqlite3 steps this pragma once, and each step frees one page: one call per page.
            for _ in range(min(pages, free)):
                await tx.execute("PRAGMA incremental_vacuum(1)")
            return before - await _value(tx, "PRAGMA page_count")

    @_storage_errors
    async def checkpoint(self) -> None:
        """Copy the WAL into the database without waiting for readers, so a shrunken file is truncated."""
        await self._db.fetchall("PRAGMA wal_checkpoint(PASSIVE)")

    async def ensure_incremental_vacuum(self, max_bytes: int | None = None) -> str:
        """Convert an older database to incremental auto-vacuum once, by VACUUM, if it is small enough.

        New databases get the mode before their first table (Database._configure). A larger file keeps
        working as before: pruned pages are reused, only the file does not shrink until converted offline.
        """
        mode = await self.auto_vacuum_mode()
        if mode == "incremental" or str(self._db.path) == ":memory:":
            return mode
        pages = await self.pages()
        size = pages.page_count * pages.page_size
        if mode == "full":
            await self._db.execute("PRAGMA auto_vacuum = INCREMENTAL")  # full -> incremental needs no VACUUM
            return await self.auto_vacuum_mode()
        if size > (CONVERT_AT_OPEN_MAX_BYTES if max_bytes is None else max_bytes):
            log.warning(
                "database %s (%.0f MB) does not reclaim pruned space; stop the bot and run "
                "sqlite3 %s 'PRAGMA auto_vacuum = INCREMENTAL; VACUUM;' once to convert it",
                self._db.path,
                size / 1e6,
                self._db.path,
            )
            return mode
        started = time.perf_counter()
        try:
            await self._db.execute("PRAGMA auto_vacuum = INCREMENTAL")
            await self._db.execute("VACUUM")
        except sqlite3.Error as error:
            log.warning("could not convert database %s to incremental auto-vacuum: %s", self._db.path, error)
            return mode
        log.info(
            "converted database %s to incremental auto-vacuum (one-time VACUUM of %.1f MB in %.1f s)",
            self._db.path,
            size / 1e6,
            time.perf_counter() - started,
        )
        return await self.auto_vacuum_mode()

    async def archive(self) -> DeliveryArchive | None:
        """Totals of the pruned deliveries kept as daily counts (None before the first pruning)."""
        row = await self._db.fetchone(
            "SELECT min(day) AS first, max(day) AS last, "
            " coalesce(sum(CASE WHEN status = 'sent' THEN count END), 0) AS sent, "
            " coalesce(sum(CASE WHEN status = 'failed' THEN count END), 0) AS failed "
            "FROM delivery_days"
        )
        if row is None or row["first"] is None:
            return None
        return DeliveryArchive(
            first_day=row["first"], last_day=row["last"], sent=row["sent"], failed=row["failed"]
        )

    async def daily_counts(self) -> dict[tuple[str, str, str], int]:
        """Every rolled-up count by (UTC day, kind, status), for operators and tests."""
        rows = await self._db.fetchall("SELECT day, kind, status, count FROM delivery_days ORDER BY 1, 2, 3")
        return {(row["day"], row["kind"], row["status"]): row["count"] for row in rows}


async def _value(tx: Transaction, sql: str) -> int:
    row = await tx.fetchone(sql)
    assert row is not None
    return row[0]
