"""Shared fixtures: a fake Bot API, settings on a temporary database, and the real Application."""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings
from telegram.ext import Application

from bot.app import build_application
from bot.settings import Settings
from bot.sources.addresses import FetchAllow
from tests.conversation import Reader
from tests.fake_telegram import FakeBotAPI
from tests.postgres import (  # noqa: F401 (fixtures, a hook)
    pg_schema_url,
    pg_schemas,
    pg_server,
    pg_url,
    pytest_terminal_summary,
)

hypothesis_settings.register_profile("newsbot", deadline=None)  # a busy 2-core CI machine is not a bug
hypothesis_settings.load_profile("newsbot")

TOKEN = "123456:TEST-token_for_newsbot"
ADMIN_ID = 900
NO_WEATHER_SERVICE = "http://127.0.0.1:9/v1/forecast"  # refused at once; weather tests start a fake one
# NEWSBOT_FETCH_ALLOW=127.0.0.1: the local news sites the tests fetch from are trusted, nothing else private.
LOCAL_SITES = FetchAllow.parse("127.0.0.1")


BACKENDS = ("sqlite", "postgresql")
ALL_BACKENDS = "NEWSBOT_TEST_ALL_BACKENDS"  # =1: every test that uses the database runs on both (slow)


def pytest_configure(config: pytest.Config) -> None:
    """The markers that choose which database backends a test runs on."""
    config.addinivalue_line(
        "markers", "backends: run on SQLite and on PostgreSQL (the `backend` fixture, tests/postgres.py)"
    )
    config.addinivalue_line("markers", "sqlite_only: in a `backends` module, a test about SQLite itself")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked `backends` (usually a whole module) that use the database run once per backend.

    NEWSBOT_TEST_ALL_BACKENDS=1 does it for every test (those marked `sqlite_only` excepted): to try a
    module on PostgreSQL before marking it.
    """
    definition = metafunc.definition
    chosen = definition.get_closest_marker("backends") is not None or os.environ.get(ALL_BACKENDS) == "1"
    if "backend" in metafunc.fixturenames and chosen and definition.get_closest_marker("sqlite_only") is None:
        metafunc.parametrize("backend", BACKENDS, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend of this test: "sqlite" unless the test is marked `backends`."""
    return getattr(request, "param", "sqlite")


@pytest.fixture
def database(backend: str, tmp_path, request: pytest.FixtureRequest) -> Path | str:
    """What Store.open opens in this test: a fresh SQLite file, or a fresh PostgreSQL schema's URL."""
    if backend == "postgresql":
        return request.getfixturevalue("pg_schema_url")
    return tmp_path / "newsbot.db"


@pytest.fixture
def databases(backend: str, tmp_path, request: pytest.FixtureRequest) -> Callable[[str], Path | str]:
    """A maker of more fresh databases on this test's backend, for tests that run several bots."""
    if backend == "postgresql":
        schemas = request.getfixturevalue("pg_schemas")
        return lambda name: schemas()
    return lambda name: tmp_path / f"{name}.db"


@pytest.fixture
async def telegram() -> AsyncIterator[FakeBotAPI]:
    """A strict local Bot API."""
    async with FakeBotAPI(token=TOKEN, bot_username="newsbot_test_bot") as api:
        api.limits.per_chat_per_second = 1000  # conversations reply fast; delivery tests restore the limit
        yield api


@pytest.fixture
def settings(tmp_path, telegram: FakeBotAPI, database: Path | str) -> Settings:
    """Settings pointing at the fake Bot API and a fresh database (file, or PostgreSQL schema)."""
    return Settings(
        token=TOKEN,
        db_path=tmp_path / "newsbot.db",
        database_url=database if isinstance(database, str) else None,
        bot_api_url=telegram.base_url,
        admin_ids=frozenset({ADMIN_ID}),
        private_chat_interval=0.001,
        weather_api_url=NO_WEATHER_SERVICE,
        fetch_allow=LOCAL_SITES,
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Application]:
    """The production Application, started as run_polling would, minus the polling."""
    async with running(settings) as application:
        yield application


class running:
    """Start and stop an Application exactly like PTB's run_* helpers do."""

    def __init__(self, settings: Settings, **overrides: object) -> None:
        self.settings = replace(settings, **overrides) if overrides else settings

    async def __aenter__(self) -> Application:
        self.application = build_application(self.settings)
        await self.application.initialize()
        if self.application.post_init:
            await self.application.post_init(self.application)
        await self.application.start()
        return self.application

    async def __aexit__(self, *exc_info: object) -> None:
        application = self.application
        if application.running:
            await _bounded("Application.stop", application.stop())
        if application.post_stop:
            await _bounded("post_stop", application.post_stop(application))
        await _bounded("Application.shutdown", application.shutdown())
        if application.post_shutdown:
            await _bounded("post_shutdown", application.post_shutdown(application))


STOP_HANG_SECONDS = 120  # far beyond any real stop: only a hang gets here


async def _bounded(step: str, awaitable: Any) -> None:
    """A stop step that hangs fails its test with every task's stack, instead of hanging the whole suite."""
    task = asyncio.ensure_future(awaitable)
    done, _ = await asyncio.wait({task}, timeout=STOP_HANG_SECONDS)
    if task in done:
        task.result()
        return
    stacks = io.StringIO()
    for other in asyncio.all_tasks():
        other.print_stack(limit=8, file=stacks)
    task.cancel()
    raise AssertionError(f"{step} did not finish in {STOP_HANG_SECONDS} s; tasks:\n{stacks.getvalue()}")


@pytest.fixture
def reader(app: Application, telegram: FakeBotAPI) -> Reader:
    """Ayşe, a Turkish-speaking reader."""
    return Reader(app, telegram, 1001, language_code="tr", first_name="Ayşe")


@pytest.fixture
def english_reader(app: Application, telegram: FakeBotAPI) -> Reader:
    """John, whose Telegram is in English."""
    return Reader(app, telegram, 1002, language_code="en", first_name="John")


@pytest.fixture
def admin(app: Application, telegram: FakeBotAPI) -> Reader:
    """The operator listed in NEWSBOT_ADMIN_IDS."""
    return Reader(app, telegram, ADMIN_ID, language_code="en", first_name="Operator")
