"""One aiosqlite connection per process, with migrations and a single funnel for all SQL."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

from storage.identity import text_key

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000
Params = Sequence[Any] | dict[str, Any]


class Database:
    """Serialises this process's work on one connection; WAL lets other processes read and write too."""

    def __init__(self, connection: aiosqlite.Connection, path: Path) -> None:
        self._connection = connection
        self._lock = asyncio.Lock()
        self.path = path

    @classmethod
    async def open(cls, path: Path | str) -> Database:
        """Open, configure and migrate, so callers never see an old schema."""
        path = Path(path)
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        connection = await aiosqlite.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        connection.row_factory = sqlite3.Row
        database = cls(connection, path)
        try:
            # Python the SQL needs: migration 0009 keys stored articles exactly as new ones are keyed.
            await connection.create_function("newsbot_text_key", 2, text_key, deterministic=True)
            await database._configure()
            await database._migrate()
        except BaseException:
            await connection.close()
            raise
        return database

    async def close(self) -> None:
        """Close the connection; WAL content is checkpointed by SQLite."""
        async with self._lock:
            await self._connection.close()

    async def _configure(self) -> None:
        for pragma in (
            # First, as only a file without tables takes it; storage/retention.py converts older files.
            "PRAGMA auto_vacuum = INCREMENTAL",
            f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}",
            "PRAGMA journal_mode = WAL",
            "PRAGMA synchronous = NORMAL",
            "PRAGMA foreign_keys = ON",
            "PRAGMA temp_store = MEMORY",
        ):
            await self._connection.execute(pragma)

    async def _migrate(self) -> None:
        async with self.transaction() as tx:
            await tx.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                " applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')))"
            )
            applied = {row[0] for row in await tx.fetchall("SELECT version FROM schema_migrations")}
            for version, name, script in available_migrations():
                if version in applied:
                    continue
                for statement in split_statements(script):
                    await tx.execute(statement)
                await tx.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (?, ?)", (version, name)
                )
                log.info("applied migration %04d %s", version, name)

    async def applied_migrations(self) -> list[int]:
        """Let operators and tests see which schema versions this database has."""
        rows = await self.fetchall("SELECT version FROM schema_migrations ORDER BY version")
        return [row[0] for row in rows]

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """Hold the write lock across several statements so they commit or roll back together."""
        async with self._lock:
            await self._connection.execute("BEGIN IMMEDIATE")
            try:
                yield Transaction(self._connection)
            except BaseException:
                await self._connection.rollback()
                raise
            else:
                await self._connection.commit()

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement in its own transaction; returns the affected row count."""
        async with self._lock:
            cursor = await self._connection.execute(sql, params)
            count = cursor.rowcount
            await cursor.close()
            return count

    async def insert(self, sql: str, params: Params = ()) -> int | None:
        """Run one INSERT and hand back the new row id."""
        async with self._lock:
            cursor = await self._connection.execute(sql, params)
            row_id = cursor.lastrowid
            await cursor.close()
            return row_id

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        """Batch writes atomically."""
        async with self.transaction() as tx:
            await tx.executemany(sql, rows)

    async def fetchone(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        """One row or None."""
        async with self._lock:
            cursor = await self._connection.execute(sql, params)
            row = await cursor.fetchone()
            await cursor.close()
            return row

    async def fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """All rows; callers keep result sets small (page with LIMIT)."""
        async with self._lock:
            cursor = await self._connection.execute(sql, params)
            rows = await cursor.fetchall()
            await cursor.close()
            return list(rows)

    async def fetchval(self, sql: str, params: Params = ()) -> Any:
        """The first column of the first row, for counts and lookups."""
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]


class Transaction:
    """Statements inside `Database.transaction()`; the lock is already held."""

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._connection = connection

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns the affected row count."""
        cursor = await self._connection.execute(sql, params)
        count = cursor.rowcount
        await cursor.close()
        return count

    async def insert(self, sql: str, params: Params = ()) -> int | None:
        """Run one INSERT and hand back the new row id."""
        cursor = await self._connection.execute(sql, params)
        row_id = cursor.lastrowid
        await cursor.close()
        return row_id

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        """Batch writes inside the transaction."""
        await self._connection.executemany(sql, rows)

    async def fetchone(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        """One row or None."""
        cursor = await self._connection.execute(sql, params)
        row = await cursor.fetchone()
        await cursor.close()
        return row

    async def fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """All rows."""
        cursor = await self._connection.execute(sql, params)
        rows = await cursor.fetchall()
        await cursor.close()
        return list(rows)


def available_migrations() -> list[tuple[int, str, str]]:
    """Numbered `NNNN_name.sql` files shipped in storage/migrations, in order."""
    found = []
    for entry in resources.files("storage.migrations").iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            found.append((int(name[:4]), name[5:-4], entry.read_text(encoding="utf-8")))
    return sorted(found)


def split_statements(script: str) -> list[str]:
    """Split a migration into statements (triggers included) so it runs inside our own transaction."""
    statements, buffer = [], ""
    for line in script.splitlines(keepends=True):
        if not buffer and (not line.strip() or line.lstrip().startswith("--")):
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        raise ValueError(f"incomplete SQL statement in migration: {buffer[:80]!r}")
    return statements
