"""A real PostgreSQL server for the tests that need one, and a fresh database for each of those tests.

The server: NEWSBOT_TEST_DATABASE_URL if set (a superuser's URL; .ci/run starts a throw-away cluster and
sets it), else a throw-away cluster this test run starts itself with scripts/pg-cluster.sh and stops at
the end. If neither works, the tests that use `pg_url` are skipped with the reason, repeated in the summary
at the end of the run; with NEWSBOT_REQUIRE_POSTGRES=1 (CI) they fail instead.
Each test gets its own empty schema (the URL sets search_path; dropped afterwards), so tests never see each
other's rows.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
import pytest

from storage.postgres.sql import arguments, redact_url

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "pg-cluster.sh"
START_TIMEOUT = 300  # seconds: initdb and a first start on a loaded 2-core machine (bounds a hang only)

_unavailable: list[str] = []  # why the PostgreSQL tests did not run, for the end of the run


def required() -> bool:
    """CI asks for the PostgreSQL half to run: a missing server is a failure there, not a skip."""
    return os.environ.get("NEWSBOT_REQUIRE_POSTGRES") == "1"


def _give_up(reason: str) -> None:
    message = f"PostgreSQL tests not run: {reason}"
    if required():
        pytest.fail(f"{message} (NEWSBOT_REQUIRE_POSTGRES=1)", pytrace=False)
    if not _unavailable:
        _unavailable.append(message)
    pytest.skip(message)


def _reachable(url: str) -> str | None:
    """None if the server answers; else why not. In a thread: the test's event loop is not ours to use."""

    async def ask() -> None:
        connection = await asyncpg.connect(url, timeout=30)
        await connection.close()

    with ThreadPoolExecutor(1) as pool:
        try:
            pool.submit(asyncio.run, ask()).result()
        except Exception as error:  # anything: the reason is all we report
            return f"{redact_url(url)} does not answer: {error}"
    return None


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A superuser URL of a running server, for the whole test run."""
    url = os.environ.get("NEWSBOT_TEST_DATABASE_URL")
    if url:
        reason = _reachable(url)
        if reason:
            _give_up(f"NEWSBOT_TEST_DATABASE_URL: {reason}")
        yield url
        return
    try:
        started = subprocess.run(
            [str(SCRIPT), "start", "--watch", str(os.getpid())],
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        _give_up(f"scripts/pg-cluster.sh could not run: {error}")
    if started.returncode != 0:
        lines = [line for line in started.stderr.splitlines() if line.strip()]
        _give_up(
            "no local server could be started ("
            + (lines[-1] if lines else f"exit status {started.returncode}")
            + "); install PostgreSQL (Debian: apt-get install postgresql) or set NEWSBOT_TEST_DATABASE_URL"
        )
    values = dict(line.split("=", 1) for line in started.stdout.splitlines() if "=" in line)
    try:
        yield values["NEWSBOT_TEST_DATABASE_URL"]
    finally:
        subprocess.run([str(SCRIPT), "stop", values["PG_CLUSTER_DIR"]], capture_output=True, timeout=120)


def with_database(url: str, name: str) -> str:
    """The same server URL, naming another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def with_schema(url: str, schema: str) -> str:
    """The same URL with `search_path` set to `schema` (asyncpg hands unknown URL parameters on)."""
    parts = urlsplit(url)
    query = [(key, value) for key, value in parse_qsl(parts.query) if key != "search_path"]
    return urlunsplit(parts._replace(query=urlencode([*query, ("search_path", schema)])))


@pytest.fixture
async def pg_url(pg_server: str) -> AsyncIterator[str]:
    """The URL of a new, empty schema on the test server (its search_path), dropped after the test.

    A schema rather than a database per test: CREATE DATABASE costs 1-2 s on a busy 2-core machine, a
    schema milliseconds, and newsbot's SQL names no schema, so it cannot tell the difference.
    """
    schema = f"newsbot_test_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(pg_server, timeout=30)
    try:
        await admin.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await admin.close()
    try:
        yield with_schema(pg_server, schema)
    finally:
        admin = await asyncpg.connect(pg_server, timeout=30)
        try:
            await admin.execute("SET lock_timeout = '60s'")  # a test that left a session open: fail, not hang
            await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await admin.close()


def _run(coroutine: Any) -> Any:
    """Run a coroutine on its own loop in a thread: for sync fixtures, whatever loop the test uses."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def _create_schema(server: str, schema: str) -> None:
    admin = await asyncpg.connect(server, timeout=30)
    try:
        await admin.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await admin.close()


async def _drop_schemas(server: str, schemas: list[str]) -> None:
    admin = await asyncpg.connect(server, timeout=30)
    try:
        await admin.execute("SET lock_timeout = '60s'")  # a test that left a session open: fail, not hang
        for schema in schemas:
            await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await admin.close()


@pytest.fixture
def pg_schemas(pg_server: str) -> Iterator[Callable[[], str]]:
    """A maker of new empty schemas' URLs (plain fixture, any loop), all dropped after the test."""
    made: list[str] = []

    def make() -> str:
        schema = f"newsbot_test_{uuid.uuid4().hex[:16]}"
        _run(_create_schema(pg_server, schema))
        made.append(schema)
        return with_schema(pg_server, schema)

    try:
        yield make
    finally:
        if made:
            _run(_drop_schemas(pg_server, made))


@pytest.fixture
def pg_schema_url(pg_schemas: Callable[[], str]) -> str:
    """`pg_url` as a plain fixture, for fixtures that are not coroutines (conftest's `database`)."""
    return pg_schemas()


async def read_rows(database: Path | str, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Rows read straight from a test's database (SQLite file or PostgreSQL URL), past the bot's pools."""
    if isinstance(database, str):
        connection = await asyncpg.connect(database, timeout=30)
        try:
            statement, args = arguments(sql, params)
            return [tuple(row) for row in await connection.fetch(statement, *args)]
        finally:
            await connection.close()
    with closing(sqlite3.connect(database)) as connection:
        return connection.execute(sql, tuple(params)).fetchall()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say at the end of the run, not only in a skip reason, that the PostgreSQL half did not run."""
    for message in _unavailable:
        terminalreporter.write_line(f"{message}; those tests were skipped", yellow=True, bold=True)
