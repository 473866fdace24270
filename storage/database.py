"""SQLite through aiosqlite: one writer connection, a small pool of readers, migrations, clear errors.

Design (WAL lets readers and one writer work at the same time, across processes too):

- **One writer connection** behind one asyncio lock runs every write: `execute`, `insert`, `executemany`,
  `write_fetchone` (INSERT/UPDATE ... RETURNING) and `transaction()`, whose reads stay on the writer so
  they see the transaction's own changes. Writes wait for each other and, up to the busy timeout, for
  another process's write transaction (`newsbot import`).
- **Reader connections** (a pool of `READERS`, with `PRAGMA query_only`) run `fetchone`, `fetchall` and
  `fetchval`. They never wait for the writer's lock, for a long enqueue, or for another process holding the
  write lock: each statement reads the last committed state. query_only makes a write sent down the read
  path fail instead of silently taking the writer's place. `Transaction.after_commit` calls back once the
  rows are committed, so a listener woken by a write (the delivery engine) finds them on a reader.
- **Bounded reads** (`bounded_reads`) run statements a reader can shape (search) under a budget of SQLite
  VM steps and CPU time of the connection's thread; past it SQLite stops the statement (`TooMuchWork`).
- A `:memory:` database is private to its connection, so it keeps one connection for everything.
- Failures get names: `DatabaseUnusable` when `open` cannot use the file (not SQLite, damaged, written by a
  newer newsbot, a directory), `StorageUnavailable` when a write cannot happen now (disk full, locked by
  another process past the busy timeout, read-only, I/O error). Both are `StorageError`s with one-line
  messages; callers keep serving reads and say so instead of crashing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import aiosqlite

from storage.dialect import SQLITE, Dialect
from storage.identity import text_key

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000
READERS = 2
Params = Sequence[Any] | dict[str, Any]

# Primary result codes (sqlite3 error's sqlite_errorcode & 0xFF) of writes that may work again later.
_UNAVAILABLE = {
    5: "locked by another process",  # SQLITE_BUSY
    6: "locked",  # SQLITE_LOCKED
    8: "read-only",  # SQLITE_READONLY
    10: "disk I/O error",  # SQLITE_IOERR
    13: "disk full",  # SQLITE_FULL
}
# Why `open` cannot use a file, by primary result code.
_UNUSABLE = {
    26: "not an SQLite database",  # SQLITE_NOTADB
    11: "the database is damaged (truncated or corrupt); restore it from a backup",  # SQLITE_CORRUPT
    14: "cannot open it (missing directory or no permission)",  # SQLITE_CANTOPEN
    8: "read-only: newsbot needs write access to the file and its directory",  # SQLITE_READONLY
    23: "permission denied",  # SQLITE_AUTH
    13: "disk full",  # SQLITE_FULL
    5: "locked by another process for longer than the busy timeout",  # SQLITE_BUSY
    10: "disk I/O error",  # SQLITE_IOERR
}


class Row(Protocol):
    """A result row of either backend (sqlite3.Row, asyncpg.Record): by position or by column name."""

    def __getitem__(self, key: int | str) -> Any: ...


class StorageError(Exception):
    """Something about the database an operator or reader should hear in one line, not a traceback."""


class DatabaseUnusable(StorageError):
    """`Database.open` cannot use this file; the message names the file and what is wrong."""


class StorageUnavailable(StorageError, sqlite3.OperationalError):
    """A write the database cannot take now (disk full, locked, read-only); reads may still work."""


class TooMuchWork(StorageError):
    """Bounded reads ran out of steps or CPU time and were stopped, so no query holds a connection long."""


def _code(error: sqlite3.Error) -> int | None:
    code = getattr(error, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF


@contextmanager
def _writes() -> Iterator[None]:
    """Name the write failures that pass (disk full, locked), keeping sqlite3.OperationalError as a base."""
    try:
        yield
    except StorageError:
        raise
    except sqlite3.OperationalError as error:
        reason = _UNAVAILABLE.get(_code(error) or 0)
        if reason is None:
            raise
        unavailable = StorageUnavailable(f"database {reason}: {error}")
        unavailable.sqlite_errorcode = getattr(error, "sqlite_errorcode", None)
        unavailable.sqlite_errorname = getattr(error, "sqlite_errorname", None)
        raise unavailable from error


class Database:
    """One writer (serialised by a lock) and a pool of readers that never wait for it; see the module doc."""

    dialect: Dialect = SQLITE  # what this backend's SQL says differently (storage/dialect.py)

    def __init__(self, connection: aiosqlite.Connection, path: Path) -> None:
        self._connection = connection
        self._lock = asyncio.Lock()
        self._all_readers: list[aiosqlite.Connection] = []
        self._clocks: dict[aiosqlite.Connection, Callable[[], float]] = {}
        self._readers: asyncio.Queue[aiosqlite.Connection] | None = None
        self.path = path

    @classmethod
    async def open(cls, path: Path | str, *, readers: int = READERS) -> Database:
        """Open, check, configure and migrate, so callers never see an old, newer or broken schema."""
        path = Path(path)
        memory = str(path) == ":memory:"
        if not memory:
            _check_path(path)
        database = cls(await _connect(path), path)
        try:
            with _unusable(path):
                await database._configure()
                await database._migrate()
                database._clocks[database._connection] = await _thread_clock(database._connection)
            for _ in range(0 if memory else readers):  # a :memory: database exists on its one connection
                reader = await _connect(path, read_only=True)
                database._all_readers.append(reader)
                database._clocks[reader] = await _thread_clock(reader)
        except BaseException:
            await database.close()
            raise
        if database._all_readers:
            database._readers = asyncio.Queue()
            for reader in database._all_readers:
                database._readers.put_nowait(reader)
        return database

    async def close(self) -> None:
        """Close every connection; WAL content is checkpointed by SQLite when the last one closes."""
        for reader in self._all_readers:
            await reader.close()
        self._all_readers.clear()
        self._clocks.clear()
        self._readers = None
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
        known = {version for version, _, _ in available_migrations()}
        async with self.transaction() as tx:
            await tx.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                " applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')))"
            )
            applied = {row[0] for row in await tx.fetchall("SELECT version FROM schema_migrations")}
            unknown = sorted(applied - known)
            if unknown:  # never half-use a schema this code does not know
                raise DatabaseUnusable(
                    f"{self.path}: written by a newer newsbot: migration {unknown[0]:04d} unknown; "
                    "upgrade newsbot"
                )
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
            with _writes():
                tx = Transaction(self._connection)
                try:
                    # Inside the try: a task cancelled while BEGIN waits for another process's lock is gone
                    # before SQLite begins; the rollback queued behind it closes that orphan transaction.
                    await self._connection.execute("BEGIN IMMEDIATE")
                    yield tx
                except BaseException:
                    await self._connection.rollback()
                    raise
                else:
                    await self._connection.commit()
        for callback in tx.committed:  # readers on other connections see the rows from now on
            callback()

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement in its own transaction; returns the affected row count."""
        async with self._lock:
            with _writes():
                cursor = await self._connection.execute(sql, params)
                count = cursor.rowcount
                await cursor.close()
                return count

    async def insert(self, sql: str, params: Params = ()) -> int | None:
        """Run one INSERT and hand back the new row id."""
        async with self._lock:
            with _writes():
                cursor = await self._connection.execute(sql, params)
                row_id = cursor.lastrowid
                await cursor.close()
                return row_id

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        """Batch writes atomically."""
        async with self.transaction() as tx:
            await tx.executemany(sql, rows)

    async def write_fetchone(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        """A write that returns a row (INSERT/UPDATE ... RETURNING): on the writer, in its own transaction.

        One trip to the writer's thread, not three (execute, fetch, close): the write lock is held across
        them, and each trip waits its turn on a busy event loop (a new reader's first update writes here).
        SQLite computes every RETURNING row at the first step, so fetching them all costs nothing more.
        """
        async with self._lock:
            with _writes():
                rows = await self._connection.execute_fetchall(sql, params)
                return next(iter(rows), None)

    @asynccontextmanager
    async def _reader(self) -> AsyncIterator[aiosqlite.Connection]:
        """A reader connection from the pool; the writer (under its lock) for a :memory: database."""
        if self._readers is None:
            async with self._lock:
                yield self._connection
            return
        readers = self._readers
        connection = await readers.get()
        try:
            yield connection
        finally:
            readers.put_nowait(connection)

    async def fetchone(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        """One row or None, read without waiting for writers."""
        async with self._reader() as connection:
            return await _fetchone(connection, sql, params)

    async def fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """All rows, read without waiting for writers; callers keep result sets small (page with LIMIT)."""
        async with self._reader() as connection:
            return list(await connection.execute_fetchall(sql, params))

    async def fetchval(self, sql: str, params: Params = ()) -> Any:
        """The first column of the first row, for counts and lookups."""
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    @asynccontextmanager
    async def bounded_reads(self, *, steps: int, seconds: float) -> AsyncIterator[BoundedReads]:
        """One reader for several statements that together may run `steps` VM steps and `seconds` of CPU.

        A statement that would go past either is stopped by SQLite (a progress handler counts the steps;
        `sqlite3_interrupt` ends the time, also inside FTS5's own work, where no VM steps are counted) and
        `TooMuchWork` is raised, so a query a reader shapes (search) cannot hold a connection for long.
        Time is the connection thread's CPU time, not the wall clock: on a busy machine a query waiting
        for a core has done no work yet, and is not cut short for it.
        """
        async with self._reader() as connection:
            reads = BoundedReads(connection, self._clocks[connection], steps=steps, seconds=seconds)
            await connection.set_progress_handler(reads.progress, reads.granularity)
            try:
                yield reads
            finally:
                reads.armed = False  # at once: even if the reset below is cancelled, nothing is stopped
                await asyncio.shield(connection.set_progress_handler(None, 0))

    async def set_write_trace(self, callback: Any) -> None:
        """See every statement the writer connection runs (None stops it): tests count writes with it."""
        await self._connection.set_trace_callback(callback)


async def _fetchone(connection: aiosqlite.Connection, sql: str, params: Params) -> sqlite3.Row | None:
    cursor = await connection.execute(sql, params)
    try:
        return await cursor.fetchone()
    finally:
        await cursor.close()


async def _connect(path: Path, *, read_only: bool = False) -> aiosqlite.Connection:
    with _unusable(path):
        connection = await aiosqlite.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            connection.row_factory = sqlite3.Row
            # Python the SQL needs: migration 0009 keys stored articles exactly as new ones are keyed.
            await connection.create_function("newsbot_text_key", 2, text_key, deterministic=True)
            if read_only:
                for pragma in (
                    f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}",
                    "PRAGMA query_only = ON",
                    "PRAGMA temp_store = MEMORY",
                ):
                    await connection.execute(pragma)
        except BaseException:
            await connection.close()
            raise
    return connection


async def _thread_clock(connection: aiosqlite.Connection) -> Callable[[], float]:
    """The CPU time used by the connection's own thread, readable from the event loop."""
    await connection.create_function("newsbot_thread", 0, threading.get_ident)
    ident = (await connection.execute_fetchall("SELECT newsbot_thread()"))[0][0]
    try:
        clock = time.pthread_getcpuclockid(ident)
        time.clock_gettime(clock)
    except (AttributeError, OSError):  # no per-thread CPU clocks here: wall time (it counts waiting too)
        return time.monotonic
    return lambda: time.clock_gettime(clock)


def _check_path(path: Path) -> None:
    """Refuse what SQLite would only describe as "unable to open": directories, unusable parents."""
    if path.is_dir():
        raise DatabaseUnusable(f"{path}: is a directory, not a database file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DatabaseUnusable(f"{path}: cannot create its directory: {error.strerror or error}") from None
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        raise DatabaseUnusable(f"{path}: newsbot needs permission to read and write it")


@contextmanager
def _unusable(path: Path) -> Iterator[None]:
    """Turn SQLite's complaint about the file into one line that names the file."""
    try:
        yield
    except DatabaseUnusable:
        raise
    except sqlite3.Error as error:  # StorageUnavailable included: at open, a lock or full disk is fatal
        reason = _UNUSABLE.get(_code(error) or 0, str(error))
        raise DatabaseUnusable(f"{path}: {reason} ({error})") from error


async def backup_database(source: Path, target: Path, *, overwrite: bool = False) -> int:
    """Copy a live database into one self-contained file, consistently; returns the copy's size in bytes."""
    if not source.is_file():
        raise DatabaseUnusable(f"{source}: no such database file")
    if target.is_dir():
        raise StorageError(f"{target}: is a directory; give the backup's file name")
    if target.exists() and not overwrite:
        raise StorageError(f"{target}: already exists; use --force to overwrite it")
    if target.resolve() == source.resolve():
        raise StorageError(f"{target}: is the database itself")
    if not target.parent.is_dir():
        raise StorageError(f"{target.parent}: no such directory")
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    connection = await _connect(source, read_only=True)
    try:
        with _unusable(source):
            await connection.execute_fetchall("SELECT count(*) FROM sqlite_master")
        try:
            copy = sqlite3.connect(partial, isolation_level=None, check_same_thread=False)
            try:
                # The online backup API in one step: one read snapshot, so concurrent writers cannot tear
                # it (WAL lets them go on meanwhile).
                await connection.backup(copy, pages=-1)
                copy.execute("PRAGMA journal_mode = DELETE")  # standalone: no -wal beside it to be lost
            finally:
                copy.close()
            os.replace(partial, target)
        except (sqlite3.Error, OSError) as error:
            raise StorageError(f"{target}: cannot write the backup: {error}") from error
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        await connection.close()
    return target.stat().st_size


class BoundedReads:
    """Reads on one connection that share a budget of VM steps and CPU time; see `Database.bounded_reads`."""

    GRANULARITY = 1000  # VM steps between two calls of the progress handler
    POLL = 0.001  # the shortest wait between two looks at the connection thread's CPU time

    def __init__(
        self, connection: aiosqlite.Connection, clock: Callable[[], float], *, steps: int, seconds: float
    ) -> None:
        self._connection = connection
        self._clock = clock
        self._loop = asyncio.get_running_loop()
        self.max_steps = max(steps, 0)
        self.granularity = max(1, min(self.GRANULARITY, self.max_steps))
        self.steps = 0
        self._end = clock() + seconds  # on the connection thread's CPU clock
        self._running = False
        self._poll_handle: asyncio.TimerHandle | None = None
        self._interrupts: set[asyncio.Task[None]] = set()
        self.armed = True

    def progress(self, *_: Any) -> int:
        """SQLite's progress handler (in the connection's thread): non-zero stops the statement."""
        if not self.armed:
            return 0
        self.steps += self.granularity
        return int(self.steps >= self.max_steps)

    async def fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """All rows, unless the budget runs out first."""
        now = self._clock()
        if now >= self._end or self.steps >= self.max_steps:
            raise TooMuchWork(f"out of budget before the statement ({self.steps} steps)")
        self._running = True
        self._poll_at(self._end - now)
        try:
            return list(await self._connection.execute_fetchall(sql, params))
        except sqlite3.OperationalError as error:
            if _code(error) != 9 and "interrupted" not in str(error):  # SQLITE_INTERRUPT
                raise
            raise TooMuchWork(f"stopped after {self.steps} steps") from error
        finally:
            self._running = False
            if self._poll_handle is not None:
                self._poll_handle.cancel()

    def _poll_at(self, left: float) -> None:
        # The thread cannot use more CPU time than wall time passes: look again when it could be spent.
        self._poll_handle = self._loop.call_later(max(left, self.POLL), self._poll)

    def _poll(self) -> None:
        """While a statement runs: stop it once the thread's CPU time is spent, else look again later."""
        self._poll_handle = None
        if not self._running:
            return
        left = self._end - self._clock()
        if left > 0:
            self._poll_at(left)
            return
        task = asyncio.ensure_future(self._interrupt())
        self._interrupts.add(task)
        task.add_done_callback(self._interrupts.discard)

    async def _interrupt(self) -> None:
        if self._running:  # checked here, in the loop: the statement may have ended since
            await self._connection.interrupt()


class Transaction:
    """Statements inside `Database.transaction()`; the lock is already held."""

    dialect: Dialect = SQLITE

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._connection = connection
        self.committed: list[Callable[[], None]] = []

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call `callback` once this transaction has committed (never if it rolls back)."""
        self.committed.append(callback)

    async def lock(self, name: str) -> None:
        """Nothing to take: SQLite runs one write transaction at a time, so each holds every named lock.

        PostgreSQL's transactions run side by side; there `PgTransaction.lock` serialises those that take
        the same name, which is what SQLite gives every transaction.
        """

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
