"""PostgreSQL through asyncpg, with the public surface of storage/database.py's Database.

Store.open picks it for a postgresql:// URL (NEWSBOT_DATABASE_URL); every storage module runs on it, its
statements built from `dialect` (storage/dialect.py) where SQLite and PostgreSQL say things differently.
What is the same:

- `open` checks, migrates (storage/postgres/migrations, the numbers and names of storage/migrations) and
  refuses a schema it does not know, with the same `DatabaseUnusable`; a write that cannot happen now
  raises the same `StorageUnavailable`, so callers need no second set of except clauses.
- `transaction()` gives `execute`, `insert`, `executemany`, `fetchone`, `fetchall`, `fetchval` and
  `after_commit`; outside one, `execute`, `insert`, `executemany` and `write_fetchone` write and
  `fetchone`, `fetchall`, `fetchval` read. Statements may use SQLite's `?` or `:name` placeholders
  (storage/postgres/sql.py turns them into `$n`) or asyncpg's `$n`; rows are asyncpg Records, which index
  by position and by name like sqlite3.Row.

What differs, by design:

- **Concurrency.** SQLite runs one write transaction at a time; PostgreSQL runs them side by side, in
  READ COMMITTED, also across instances. A read-modify-write must lock what it reads (`SELECT ... FOR
  UPDATE`, or `Transaction.lock(name)` for a named critical section across instances); a conflict that
  PostgreSQL resolves by aborting one side (deadlock, serialization failure) is a `StorageUnavailable`.
- **Two pools.** Writes go to the writer pool; reads to a reader pool whose sessions are read-only
  (`default_transaction_read_only`), so a write sent down the read path fails as it does on SQLite's
  query_only readers, and the readers could later point at a replica.
- **Lost connections.** A server restart or a dropped connection fails the statements in flight with
  `StorageUnavailable` (reads too: there is no local file to fall back on); the pools connect again on the
  next call, so nothing needs a restart when the server is back.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from importlib import resources
from typing import Any

import asyncpg

from storage.database import DatabaseUnusable, StorageError, StorageUnavailable, TooMuchWork
from storage.dialect import POSTGRES, Dialect
from storage.postgres.sql import Params, arguments, redact_url, status_count, translate

log = logging.getLogger(__name__)
_RETURNING = re.compile(r"\bRETURNING\b", re.IGNORECASE)
_CLOSED = re.compile(r"\b(connection|pool) (is|was) (closed|closing)")

WRITERS = 4  # connections of the writer pool (per instance; PostgreSQL's default max_connections is 100)
READERS = 4
CONNECT_TIMEOUT = 10.0  # seconds to reach the server, as SQLite's busy timeout bounds a wait
LOCK_TIMEOUT = "10s"  # a statement waiting longer for a row or table lock fails (StorageUnavailable)
IDLE_IN_TRANSACTION = "60s"  # a session stuck in a transaction (a hung instance) is ended, its locks freed
MIN_SERVER_VERSION = 120000  # generated columns (articles_fts.document)
MIGRATION_LOCK = 0x6E657773  # pg_advisory_xact_lock key (with the schema's): instances migrate one at a time
MIGRATION_WAIT = "300s"  # how long an instance waits for another's migrations before giving up
_SERVER_SETTINGS = {
    "application_name": "newsbot",
    "timezone": "UTC",
    "lock_timeout": LOCK_TIMEOUT,
    "idle_in_transaction_session_timeout": IDLE_IN_TRANSACTION,
}

# Failures that pass (the server is back, the disk has room, the other transaction is done).
_UNAVAILABLE: tuple[tuple[type[BaseException], str], ...] = (
    (asyncpg.DiskFullError, "disk full"),
    (asyncpg.TooManyConnectionsError, "too many connections"),
    (asyncpg.InsufficientResourcesError, "out of resources"),
    (asyncpg.ReadOnlySQLTransactionError, "read-only"),
    (asyncpg.LockNotAvailableError, "locked"),
    (asyncpg.DeadlockDetectedError, "deadlock with another transaction; try again"),
    (asyncpg.SerializationError, "conflict with another transaction; try again"),
    (asyncpg.QueryCanceledError, "statement cancelled (timeout)"),
    (asyncpg.OperatorInterventionError, "server shutting down or restarting"),
    (asyncpg.PostgresConnectionError, "connection lost"),
    (OSError, "cannot reach the server"),
    (TimeoutError, "the server did not answer in time"),
)


@contextmanager
def _failures(*, reading: bool = False) -> Iterator[None]:
    """Name what passes as StorageUnavailable; programming errors (bad SQL, a constraint) stay as they are."""
    try:
        yield
    except StorageError:
        raise
    except asyncpg.ReadOnlySQLTransactionError:
        if reading:  # a write sent down the read path: a bug, not an outage
            raise
        raise StorageUnavailable("database read-only: the server refuses writes") from None
    except asyncpg.InterfaceError as error:
        # Also what asyncpg says of a wrong argument count: only a closed connection or pool is an outage.
        if _CLOSED.search(str(error)):
            raise StorageUnavailable(f"database connection lost: {_describe(error)}") from error
        raise
    except (asyncpg.PostgresError, OSError, TimeoutError) as error:
        for kind, reason in _UNAVAILABLE:
            if isinstance(error, kind):
                raise StorageUnavailable(f"database {reason}: {_describe(error)}") from error
        raise


def _describe(error: BaseException) -> str:
    return str(error) or type(error).__name__


class PgDatabase:
    """A writer pool and a read-only reader pool on one PostgreSQL database; see the module doc."""

    dialect: Dialect = POSTGRES  # what this backend's SQL says differently (storage/dialect.py)

    def __init__(self, writers: asyncpg.Pool, readers: asyncpg.Pool, url: str) -> None:
        self._writers = writers
        self._readers = readers
        self.url = redact_url(url)  # for messages: never the password
        self.path = self.url  # what messages name the database by, as Database.path names the file

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        writers: int = WRITERS,
        readers: int = READERS,
        connect_timeout: float = CONNECT_TIMEOUT,
    ) -> PgDatabase:
        """Connect, check and migrate, so callers never see an old, newer or unreachable schema."""
        shown = redact_url(url)
        if not url.startswith(("postgresql://", "postgres://")):
            raise DatabaseUnusable(f"{shown}: not a postgresql:// URL")
        writer_pool = await _pool(url, shown, writers, connect_timeout, read_only=False)
        try:
            reader_pool = await _pool(url, shown, readers, connect_timeout, read_only=True)
        except BaseException:
            writer_pool.terminate()
            raise
        database = cls(writer_pool, reader_pool, url)
        try:
            await database._check_server()
            await database._migrate()
        except BaseException:
            database.terminate()
            raise
        return database

    async def close(self) -> None:
        """Close both pools, waiting for statements in flight (each bounded by the pools' timeouts)."""
        await asyncio.gather(self._writers.close(), self._readers.close())

    def terminate(self) -> None:
        """Drop every connection at once, as a killed process would: for tests of dying instances."""
        self._writers.terminate()
        self._readers.terminate()

    async def _check_server(self) -> None:
        with _opening(self.url):
            version = await self._writers.fetchval("SELECT current_setting('server_version_num')::int")
        if version < MIN_SERVER_VERSION:
            raise DatabaseUnusable(
                f"{self.url}: PostgreSQL {version // 10000} is too old; newsbot needs 12 or newer"
            )

    async def _migrate(self) -> None:
        known = {version: name for version, name, _ in available_migrations()}
        with _opening(self.url):
            async with self._writers.acquire() as connection, connection.transaction():
                # Two instances starting at once: the second waits here (as long as a migration may take),
                # then finds everything applied. Keyed by schema: bots in other schemas migrate meanwhile.
                await connection.execute(f"SET LOCAL lock_timeout = '{MIGRATION_WAIT}'")
                await connection.execute(
                    "SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))", MIGRATION_LOCK
                )
                await connection.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    " version integer PRIMARY KEY, name text NOT NULL,"
                    " applied_at text NOT NULL DEFAULT"
                    " to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))"
                )
                applied = {row[0] for row in await connection.fetch("SELECT version FROM schema_migrations")}
                unknown = sorted(applied - known.keys())
                if unknown:  # never half-use a schema this code does not know
                    raise DatabaseUnusable(
                        f"{self.url}: written by a newer newsbot: migration {unknown[0]:04d} unknown; "
                        "upgrade newsbot"
                    )
                for version, name, script in available_migrations():
                    if version in applied:
                        continue
                    await connection.execute(script)  # no arguments: the simple protocol, many statements
                    await connection.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", version, name
                    )
                    log.info("applied PostgreSQL migration %04d %s", version, name)

    async def applied_migrations(self) -> list[int]:
        """Let operators and tests see which schema versions this database has."""
        rows = await self.fetchall("SELECT version FROM schema_migrations ORDER BY version")
        return [row[0] for row in rows]

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PgTransaction]:
        """Several statements that commit or roll back together, on one writer connection."""
        with _failures():
            async with self._writers.acquire() as connection:
                tx = PgTransaction(connection)
                async with connection.transaction():
                    yield tx
        for callback in tx.committed:  # every connection sees the rows from now on
            callback()

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement in its own transaction; returns the affected row count."""
        statement, args = arguments(sql, params)
        with _failures():
            return status_count(await self._writers.execute(statement, *args))

    async def insert(self, sql: str, params: Params = ()) -> int | None:
        """Run one INSERT and hand back the new row's id (None when nothing was inserted)."""
        statement, args = arguments(_returning_id(sql), params)
        with _failures():
            return await self._writers.fetchval(statement, *args)

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        """Batch writes atomically."""
        async with self.transaction() as tx:
            await tx.executemany(sql, rows)

    async def write_fetchone(self, sql: str, params: Params = ()) -> asyncpg.Record | None:
        """A write that returns a row (INSERT/UPDATE ... RETURNING), on the writer pool."""
        statement, args = arguments(sql, params)
        with _failures():
            return await self._writers.fetchrow(statement, *args)

    async def fetchone(self, sql: str, params: Params = ()) -> asyncpg.Record | None:
        """One row or None, from a read-only connection."""
        statement, args = arguments(sql, params)
        with _failures(reading=True):
            return await self._readers.fetchrow(statement, *args)

    async def fetchall(self, sql: str, params: Params = ()) -> list[asyncpg.Record]:
        """All rows, from a read-only connection; callers keep result sets small (page with LIMIT)."""
        statement, args = arguments(sql, params)
        with _failures(reading=True):
            return await self._readers.fetch(statement, *args)

    async def fetchval(self, sql: str, params: Params = ()) -> Any:
        """The first column of the first row, for counts and lookups."""
        statement, args = arguments(sql, params)
        with _failures(reading=True):
            return await self._readers.fetchval(statement, *args)

    @asynccontextmanager
    async def bounded_reads(self, *, steps: int, seconds: float) -> AsyncIterator[PgBoundedReads]:
        """One read-only connection for several statements that together may run `seconds` on the server.

        PostgreSQL counts no VM steps, so `steps` is not used; time is the server's statement_timeout,
        wall-clock time on the server (a busy server's waiting counts too, unlike SQLite's CPU clock), at
        least BOUNDED_MIN_SECONDS so a loaded machine does not stop ordinary searches. A statement past it
        is cancelled by the server and `TooMuchWork` raised, as on SQLite.
        """
        del steps
        with _failures(reading=True):
            async with self._readers.acquire() as connection, connection.transaction(readonly=True):
                milliseconds = max(1, round(max(seconds, BOUNDED_MIN_SECONDS) * 1000))
                await connection.execute(f"SET LOCAL statement_timeout = {milliseconds}")
                yield PgBoundedReads(connection, spent=seconds <= 0)


BOUNDED_MIN_SECONDS = 0.5  # the least time a bounded read gets on PostgreSQL (wall clock; see bounded_reads)


class PgBoundedReads:
    """Reads on one connection under one statement_timeout; see `PgDatabase.bounded_reads`."""

    def __init__(self, connection: asyncpg.Connection, *, spent: bool = False) -> None:
        self._connection = connection
        self._spent = spent  # given no time at all: no statement starts, as on SQLite

    async def fetchall(self, sql: str, params: Params = ()) -> list[asyncpg.Record]:
        """All rows, unless the server's time limit stops the statement first."""
        if self._spent:
            raise TooMuchWork("out of budget before the statement (no time given)")
        statement, args = arguments(sql, params)
        try:
            return await self._connection.fetch(statement, *args)
        except asyncpg.QueryCanceledError as error:
            raise TooMuchWork(f"stopped by statement_timeout: {error}") from error


class PgTransaction:
    """Statements inside `PgDatabase.transaction()`, all on its one connection."""

    dialect: Dialect = POSTGRES

    def __init__(self, connection: asyncpg.Connection, *, spent: bool = False) -> None:
        self._connection = connection
        self._spent = spent  # given no time at all: no statement starts, as on SQLite
        self.committed: list[Callable[[], None]] = []

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call `callback` once this transaction has committed (never if it rolls back)."""
        self.committed.append(callback)

    async def lock(self, name: str) -> None:
        """Hold the named lock until this transaction ends: one such section at a time, across instances."""
        await self._connection.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", name)

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns the affected row count."""
        statement, args = arguments(sql, params)
        return status_count(await self._connection.execute(statement, *args))

    async def insert(self, sql: str, params: Params = ()) -> int | None:
        """Run one INSERT and hand back the new row's id (None when nothing was inserted)."""
        statement, args = arguments(_returning_id(sql), params)
        return await self._connection.fetchval(statement, *args)

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        """Batch writes inside the transaction (asyncpg pipelines them)."""
        statement = translate(sql)[0]
        await self._connection.executemany(statement, [arguments(sql, row)[1] for row in rows])

    async def fetchone(self, sql: str, params: Params = ()) -> asyncpg.Record | None:
        """One row or None."""
        statement, args = arguments(sql, params)
        return await self._connection.fetchrow(statement, *args)

    async def fetchall(self, sql: str, params: Params = ()) -> list[asyncpg.Record]:
        """All rows."""
        statement, args = arguments(sql, params)
        return await self._connection.fetch(statement, *args)

    async def fetchval(self, sql: str, params: Params = ()) -> Any:
        """The first column of the first row."""
        statement, args = arguments(sql, params)
        return await self._connection.fetchval(statement, *args)


def _returning_id(sql: str) -> str:
    """SQLite's lastrowid as PostgreSQL says it: the INSERT returns its id (tables with an `id` column)."""
    if _RETURNING.search(sql):
        return sql
    return f"{sql.rstrip().rstrip(';')} RETURNING id"


async def _pool(url: str, shown: str, size: int, timeout: float, *, read_only: bool) -> asyncpg.Pool:
    settings = dict(_SERVER_SETTINGS)
    if read_only:
        settings["default_transaction_read_only"] = "on"
    with _opening(shown):
        return await asyncpg.create_pool(
            url, min_size=1, max_size=size, timeout=timeout, server_settings=settings
        )


@contextmanager
def _opening(shown: str) -> Iterator[None]:
    """At open, anything the server or the network says is fatal: one line naming the database."""
    try:
        yield
    except DatabaseUnusable:
        raise
    except (asyncpg.InvalidCatalogNameError, asyncpg.InvalidAuthorizationSpecificationError) as error:
        raise DatabaseUnusable(f"{shown}: {_describe(error)}") from error
    except asyncpg.InvalidPasswordError as error:
        raise DatabaseUnusable(f"{shown}: authentication failed ({_describe(error)})") from error
    except (OSError, TimeoutError) as error:
        raise DatabaseUnusable(f"{shown}: cannot connect: {_describe(error)}") from error
    except (asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        raise DatabaseUnusable(f"{shown}: {_describe(error)}") from error


def available_migrations() -> list[tuple[int, str, str]]:
    """Numbered `NNNN_name.sql` files shipped in storage/postgres/migrations, in order."""
    found = []
    for entry in resources.files("storage.postgres.migrations").iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            found.append((int(name[:4]), name[5:-4], entry.read_text(encoding="utf-8")))
    return sorted(found)
