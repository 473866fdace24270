"""`newsbot migrate-to-postgres`: copy a SQLite database into an empty PostgreSQL database, and check it.

How, and why that way:

- **Both schemas current first.** The SQLite file is opened (and so migrated) by Database.open and the
  PostgreSQL database by PgDatabase.open, so both are at this newsbot's schema; a file or server it cannot
  use is refused with the same one-line DatabaseUnusable as at start.
- **Empty only.** A target with any row (other than what its migrations seed: the "general" section) is
  refused with one line: merging two databases' ids is not something a copy can do safely.
- **Every table that holds data, generically.** The tables are SQLite's own (not its internal ones, nor the
  FTS5 index's shadow tables); each must exist in PostgreSQL with the same columns, or the copy stops before
  writing anything. The search index (`articles_fts`) is copied as its folded text; PostgreSQL builds the
  search document from it. Tables go in foreign-key order, each value converted to its PostgreSQL column's
  type (SQLite stores what it is given).
- **One transaction, in batches.** Rows are read from one SQLite read transaction (a consistent snapshot)
  and written with COPY in batches of `BATCH` rows, all in one PostgreSQL transaction: a failure (network,
  full disk, a bad value) leaves the target as empty as it was, and the command can simply run again.
  User triggers (the chat event counters) are off during the copy, so copied counters are not counted twice.
- **Then the sequences and the counts.** Identity sequences restart after the highest copied id; the rows of
  every table are counted on both sides before the commit, and a difference rolls everything back.
- **Then statistics.** The copied tables are analyzed after the commit, so the planner knows their sizes
  from the first statement on, not only once autovacuum gets to them (a minute or more later): without,
  the first broadcast after a copy of 100,000 readers queued 1.6 times slower (bench/broadcast.py).
"""

from __future__ import annotations

import datetime
import decimal
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from storage.database import Database, DatabaseUnusable, StorageError
from storage.postgres.database import PgDatabase, _failures, _opening
from storage.postgres.sql import redact_url

BATCH = 5_000  # rows per COPY: ~1 MB of deliveries, a few ms each on the development VM
SKIPPED = frozenset({"schema_migrations", "leases", "instances"})  # each side's own bookkeeping
SEEDED = {"sections": 1}  # rows a fresh PostgreSQL schema has from its migrations (the "general" section)


_PASSING = (asyncpg.PostgresConnectionError, asyncpg.DiskFullError, asyncpg.OperatorInterventionError)


class CopyRefused(StorageError):
    """The target is not empty, or the two schemas differ: nothing was written."""


@dataclass(frozen=True)
class TableCopy:
    """One table's rows on both sides after the copy."""

    name: str
    source_rows: int
    target_rows: int


@dataclass(frozen=True)
class _Column:
    name: str
    convert: Callable[[Any], Any]


async def copy_to_postgres(
    sqlite_path: Path, url: str, *, batch: int = BATCH, progress: Callable[[str], None] | None = None
) -> list[TableCopy]:
    """Copy every table of the SQLite database at `sqlite_path` into the empty PostgreSQL one at `url`."""
    shown = redact_url(url)
    if not sqlite_path.is_file():
        raise DatabaseUnusable(f"{sqlite_path}: no such database file")
    database = await Database.open(sqlite_path)  # migrated to this newsbot's schema, or refused
    await database.close()
    try:
        target = await PgDatabase.open(url, writers=1, readers=1)
    except ValueError as error:  # asyncpg's URL parser: a bad port, an unknown parameter
        raise DatabaseUnusable(f"{shown}: {error}") from None
    await target.close()
    source = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
    try:
        source.execute("BEGIN")  # one snapshot for every table, even if the bot still writes
        with _opening(shown):
            connection = await asyncpg.connect(url, timeout=30, server_settings={"timezone": "UTC"})
        try:
            with _failures():
                try:
                    async with connection.transaction():
                        copied = await _copy(
                            source, connection, shown, batch, progress or (lambda line: None)
                        )
                except asyncpg.PostgresError as error:  # a value or key PostgreSQL refuses: rolled back
                    if isinstance(error, _PASSING):
                        raise
                    raise StorageError(f"{shown}: the copy failed, nothing was written: {error}") from None
                await connection.execute("ANALYZE " + ", ".join(f'"{table.name}"' for table in copied))
                return copied
        finally:
            await connection.close()
    finally:
        source.close()


async def _copy(
    source: sqlite3.Connection,
    target: asyncpg.Connection,
    shown: str,
    batch: int,
    progress: Callable[[str], None],
) -> list[TableCopy]:
    columns = await _target_columns(target)
    tables = _source_tables(source)
    missing = [name for name in tables if name not in columns]
    if missing:
        raise CopyRefused(f"{shown}: no table {missing[0]} in the PostgreSQL schema; nothing copied")
    for name in columns:
        present = await target.fetchval(f'SELECT count(*) FROM "{name}"')
        if present > SEEDED.get(name, 0):
            raise CopyRefused(
                f"{shown} is not empty ({name} has {present} rows); migrate-to-postgres copies into an "
                "empty database only"
            )
    plans = {name: _plan(source, name, columns[name], shown) for name in tables}
    order = _in_key_order(list(tables), await _references(target))
    triggered = await _tables_with_triggers(target)
    for name in triggered:
        await target.execute(f'ALTER TABLE "{name}" DISABLE TRIGGER USER')
    for name in SEEDED:
        if name in tables:
            await target.execute(f'DELETE FROM "{name}"')  # the copy brings the source's own rows
    results = []
    for name in order:
        copied = 0
        for rows in _batches(source, name, plans[name], batch):
            await target.copy_records_to_table(name, records=rows, columns=[c.name for c in plans[name]])
            copied += len(rows)
        progress(f"{name}: {copied} rows")
    for name in triggered:
        await target.execute(f'ALTER TABLE "{name}" ENABLE TRIGGER USER')
    await _restart_sequences(target)
    for name in order:
        expected = source.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
        found = await target.fetchval(f'SELECT count(*) FROM "{name}"')
        if found != expected:  # raised inside the transaction: everything rolls back
            raise StorageError(f"{shown}: {name} has {found} rows after the copy, expected {expected}")
        results.append(TableCopy(name, expected, found))
    return results


def _source_tables(source: sqlite3.Connection) -> dict[str, bool]:
    """SQLite's tables that hold data -> whether it is an FTS5 table (its rowid is a column to copy)."""
    rows = source.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY name").fetchall()
    virtual = [name for name, sql in rows if (sql or "").upper().startswith("CREATE VIRTUAL TABLE")]
    tables = {}
    for name, _ in rows:
        if name.startswith("sqlite_") or name in SKIPPED:
            continue
        if any(name.startswith(f"{parent}_") for parent in virtual):
            continue  # an FTS5 shadow table: its contents come with the parent's text
        tables[name] = name in virtual
    return tables


async def _target_columns(target: asyncpg.Connection) -> dict[str, dict[str, str]]:
    """PostgreSQL's tables in this schema -> their writable columns and types, in column order."""
    rows = await target.fetch(
        """
        SELECT c.relname AS table_name, a.attname AS column_name, t.typname AS type_name
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_type t ON t.oid = a.atttypid
        WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'
          AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
        ORDER BY c.relname, a.attnum
        """
    )
    tables: dict[str, dict[str, str]] = {}
    for row in rows:
        if row["table_name"] not in SKIPPED:
            tables.setdefault(row["table_name"], {})[row["column_name"]] = row["type_name"]
    return tables


def _plan(source: sqlite3.Connection, name: str, target: dict[str, str], shown: str) -> list[_Column]:
    """The columns to copy and how to convert each value; refuse columns one side lacks."""
    have = [row[1] for row in source.execute(f'PRAGMA table_info("{name}")')]
    if "rowid" in target and "rowid" not in have:
        have.insert(0, "rowid")  # an FTS5 table: the article id is its rowid
    extra = [column for column in have if column not in target]
    if extra:
        raise CopyRefused(f"{shown}: {name}.{extra[0]} is not in the PostgreSQL schema; nothing copied")
    lacking = [column for column in target if column not in have]
    if lacking:
        raise CopyRefused(f"{shown}: {name}.{lacking[0]} is not in the SQLite database; nothing copied")
    return [_Column(column, _converter(target[column])) for column in target]


def _batches(
    source: sqlite3.Connection, name: str, columns: list[_Column], size: int
) -> Iterator[list[tuple[Any, ...]]]:
    listed = ", ".join(f'"{column.name}"' for column in columns)
    cursor = source.execute(f'SELECT {listed} FROM "{name}"')
    while rows := cursor.fetchmany(size):
        yield [tuple(_value(c.convert, value) for c, value in zip(columns, row, strict=True)) for row in rows]


def _value(convert: Callable[[Any], Any], value: Any) -> Any:
    return None if value is None else convert(value)


def _converter(type_name: str) -> Callable[[Any], Any]:
    """SQLite keeps whatever it was given; COPY wants the column's own Python type."""
    if type_name in ("int2", "int4", "int8"):
        return lambda value: int(value)
    if type_name in ("float4", "float8"):
        return float
    if type_name == "numeric":
        return lambda value: decimal.Decimal(str(value))
    if type_name == "bool":
        return lambda value: bool(int(value)) if not isinstance(value, str) else value.lower() in ("1", "t")
    if type_name == "bytea":
        return lambda value: value if isinstance(value, bytes) else str(value).encode()
    if type_name in ("timestamptz", "timestamp"):
        return lambda value: datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return lambda value: value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


async def _references(target: asyncpg.Connection) -> dict[str, set[str]]:
    rows = await target.fetch(
        """
        SELECT c.relname AS child, p.relname AS parent
        FROM pg_constraint k
        JOIN pg_class c ON c.oid = k.conrelid
        JOIN pg_class p ON p.oid = k.confrelid
        WHERE k.contype = 'f' AND c.relnamespace = current_schema()::regnamespace
        """
    )
    parents: dict[str, set[str]] = {}
    for row in rows:
        if row["child"] != row["parent"]:
            parents.setdefault(row["child"], set()).add(row["parent"])
    return parents


def _in_key_order(tables: list[str], parents: dict[str, set[str]]) -> list[str]:
    """Parents before the tables that refer to them (foreign keys are checked row by row)."""
    order: list[str] = []
    placed: set[str] = set()
    remaining = sorted(tables)
    while remaining:
        ready = [name for name in remaining if not (parents.get(name, set()) & set(remaining)) - {name}]
        if not ready:  # a cycle: PostgreSQL will say which key, and the copy rolls back
            ready = remaining[:1]
        for name in ready:
            order.append(name)
            placed.add(name)
        remaining = [name for name in remaining if name not in placed]
    return order


async def _tables_with_triggers(target: asyncpg.Connection) -> list[str]:
    rows = await target.fetch(
        """
        SELECT DISTINCT c.relname AS name
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace
        ORDER BY 1
        """
    )
    return [row["name"] for row in rows]


async def _restart_sequences(target: asyncpg.Connection) -> None:
    """Identity columns continue after the highest copied id, so new rows never collide with copied ones."""
    rows = await target.fetch(
        """
        SELECT c.relname AS table_name, a.attname AS column_name,
               pg_get_serial_sequence(quote_ident(c.relname), a.attname) AS sequence
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'
          AND a.attnum > 0 AND NOT a.attisdropped AND a.attidentity <> ''
        """
    )
    for row in rows:
        if row["sequence"] is None:
            continue
        highest = await target.fetchval(f'SELECT max("{row["column_name"]}") FROM "{row["table_name"]}"')
        if highest is None:
            await target.execute("SELECT setval($1::regclass, 1, false)", row["sequence"])
        else:
            await target.execute("SELECT setval($1::regclass, $2, true)", row["sequence"], highest)
