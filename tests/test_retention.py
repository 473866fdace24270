"""Retention: old finished deliveries become daily counts and go; pending and recent ones stay; space returns.

Real SQLite files in tmp dirs; time is passed in (`now`), never waited for.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from telegram.ext import Application

from bot.maintenance import RETENTION_JOB, RUNNING, RetentionOptions, prune
from bot.render import Renderer
from bot.settings import Settings, SettingsError
from storage import Store
from storage import retention as retention_module
from storage.database import StorageError
from storage.models import DeliveryArchive, DeliveryOutcome, StatsOverview
from tests.conftest import ADMIN_ID
from tests.conversation import Reader
from tests.fake_telegram import FakeBotAPI

pytestmark = pytest.mark.backends  # on SQLite and on PostgreSQL

DAY = 24 * 3600.0
ENGINE = "engine-test"


@pytest.fixture
async def store(database) -> AsyncIterator[Store]:
    store = await Store.open(database)
    yield store
    await store.close()


async def no_rest(seconds: float) -> None:
    """The pass's pause between transactions, skipped: these tests count, they do not time."""


async def add_subscribers(store: Store, ids: list[int]) -> None:
    for chat_id in ids:
        await store.chats.touch(chat_id, "private", "tr")
        await store.chats.subscribe(chat_id)


async def queue(store: Store, kind: str, ref: str, ids: list[int]) -> int:
    """One broadcast to these chats, through the outbox as the bot queues them."""
    chats = ", ".join(str(chat_id) for chat_id in ids) or "NULL"  # IN (): SQLite only
    async with store.db.transaction() as tx:
        return await store.outbox.enqueue(
            tx, kind, ref, f"SELECT chat_id FROM chats WHERE chat_id IN ({chats})"
        )


async def finish(store: Store, broadcast_id: int, ids: list[int], status: str, at: float) -> None:
    """Claim and record outcomes as the delivery engine does, at an injected time."""
    claimed = await store.outbox.claim(ENGINE, [(broadcast_id, chat_id) for chat_id in ids], now=at - 1)
    assert len(claimed) == len(ids)
    error = None if status == "sent" else "Forbidden: bot was blocked by the user"
    outcomes = [DeliveryOutcome(broadcast_id, chat_id, status, error) for chat_id in ids]
    await store.outbox.record(ENGINE, outcomes, now=at)


async def statuses(store: Store) -> dict[tuple[int, int], str]:
    rows = await store.db.fetchall("SELECT broadcast_id, chat_id, status FROM deliveries")
    return {(row[0], row[1]): row[2] for row in rows}


def utc_day(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).date().isoformat()


# Settings


def test_retention_defaults_to_14_days_and_reads_the_variable():
    assert Settings.from_mapping({}).retention_days == 14
    assert Settings.from_mapping({"NEWSBOT_RETENTION_DAYS": " 30 "}).retention_days == 30


@pytest.mark.parametrize("value", ["0", "-3", "2.5", "two weeks", "1e3", "٣", "9" * 5000, "36501"])
def test_a_bad_retention_is_refused_with_one_line_naming_the_variable(value):
    with pytest.raises(SettingsError, match=r"^NEWSBOT_RETENTION_DAYS: ") as refused:
        Settings.from_mapping({"NEWSBOT_RETENTION_DAYS": value})
    assert "\n" not in str(refused.value) and len(str(refused.value)) < 200


# The pass


async def test_old_finished_deliveries_are_counted_per_day_then_deleted_and_the_rest_stay(store):
    now = time.time()
    await add_subscribers(store, list(range(1, 11)))
    old = await queue(store, "article", "1", list(range(1, 11)))
    await finish(store, old, list(range(1, 8)), "sent", now - 20 * DAY)
    await finish(store, old, [8, 9], "failed", now - 20 * DAY)  # chat 10: still pending
    recent = await queue(store, "article", "2", list(range(1, 11)))
    await finish(store, recent, list(range(1, 11)), "sent", now - 3 * DAY)
    weather = await queue(store, "weather", "34:2026-01-01", [1, 2, 3, 4, 5])
    await finish(store, weather, [1, 2, 3, 4], "sent", now - 15 * DAY)
    await finish(store, weather, [5], "failed", now - 16 * DAY)
    boundary = await queue(store, "article", "3", [1])
    await finish(store, boundary, [1], "sent", now - 14 * DAY)  # exactly at the cutoff: kept

    report = await prune(store, RetentionOptions(days=14, batch_rows=3), now, sleep=no_rest)

    left = await statuses(store)
    assert left == {
        (old, 10): "pending",
        **{(recent, chat_id): "sent" for chat_id in range(1, 11)},
        (boundary, 1): "sent",
    }
    expected = {
        (utc_day(now - 20 * DAY), "article", "sent"): 7,
        (utc_day(now - 20 * DAY), "article", "failed"): 2,
        (utc_day(now - 15 * DAY), "weather", "sent"): 4,
        (utc_day(now - 16 * DAY), "weather", "failed"): 1,
    }
    assert await store.retention.daily_counts() == expected
    assert report.rolled_up == report.deleted == sum(expected.values()) == 14
    assert report.complete

    again = await prune(store, RetentionOptions(days=14, batch_rows=3), now, sleep=no_rest)
    assert (again.rolled_up, again.deleted, again.broadcasts) == (0, 0, 0)
    assert await store.retention.daily_counts() == expected
    assert await statuses(store) == left


async def test_unfinished_deliveries_and_their_broadcasts_are_never_deleted_whatever_their_age(store):
    now = time.time()
    long_ago = now - 100 * DAY
    await add_subscribers(store, [1, 2])
    orphan = await queue(store, "article", "1", [])
    waiting = await queue(store, "article", "2", [1, 2])
    await finish(store, waiting, [1], "sent", long_ago)  # chat 2 still pending after 100 days
    claimed = await queue(store, "article", "3", [1])
    assert await store.outbox.claim(ENGINE, [(claimed, 1)], now=long_ago)  # being sent (status 'sending')
    async with store.db.transaction() as tx:  # its audience not queued yet: no deliveries so far
        filling = await store.outbox.enqueue_audience(tx, "article", "4", "subscribers")
    recent_orphan = await queue(store, "article", "5", [])
    newest_orphan = await queue(store, "article", "6", [])
    for broadcast_id in (orphan, waiting, claimed, filling, newest_orphan):
        await store.db.execute(
            "UPDATE broadcasts SET created_at = ? WHERE id = ?",
            (datetime.fromtimestamp(long_ago, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), broadcast_id),
        )

    report = await prune(store, RetentionOptions(days=14), now, sleep=no_rest)

    assert await statuses(store) == {(waiting, 2): "pending", (claimed, 1): "sending"}
    remaining = {row[0] for row in await store.db.fetchall("SELECT id FROM broadcasts")}
    # The old broadcast without deliveries goes; the newest stays so broadcast ids are never reused.
    assert remaining == {waiting, claimed, filling, recent_orphan, newest_orphan}
    assert (report.deleted, report.broadcasts) == (1, 1)


async def test_stats_figures_are_the_same_before_and_after_pruning(store):
    now = time.time()
    await add_subscribers(store, list(range(1, 11)))
    yesterday = await queue(store, "article", "1", list(range(1, 11)))
    await finish(store, yesterday, [1, 2, 3], "sent", now - 0.5 * DAY)
    await finish(store, yesterday, [4], "failed", now - 0.9 * DAY)
    older = await queue(store, "article", "2", list(range(1, 11)))
    await finish(store, older, [1, 2, 3, 4, 5], "sent", now - 1.5 * DAY)
    await finish(store, older, [6], "failed", now - 1.01 * DAY)
    before = await store.stats.overview(now=now)

    report = await prune(store, RetentionOptions(days=1), now, sleep=no_rest)

    after = await store.stats.overview(now=now)
    assert report.deleted == 6
    assert (after.pending, after.sent_24h, after.failed_24h) == (
        before.pending,
        before.sent_24h,
        before.failed_24h,
    )
    assert (before.pending, before.sent_24h, before.failed_24h) == (10, 3, 1)
    assert before.archived is None
    assert after.archived == DeliveryArchive(
        first_day=utc_day(now - 1.5 * DAY), last_day=utc_day(now - 1.01 * DAY), sent=5, failed=1
    )


async def test_every_write_transaction_is_bounded_and_the_pass_lets_others_in_between(store):
    now = time.time()
    await add_subscribers(store, list(range(1, 26)))
    old = await queue(store, "article", "1", list(range(1, 26)))
    await finish(store, old, list(range(1, 26)), "sent", now - 30 * DAY)
    seen: list[int] = []

    async def rest(seconds: float) -> None:
        # Between two transactions the database is free: this read would wait forever otherwise.
        seen.append(await store.db.fetchval("SELECT count(*) FROM deliveries"))

    report = await prune(store, RetentionOptions(days=14, batch_rows=4), now, sleep=rest)

    counts = [25, *seen]
    assert all(0 <= earlier - later <= 4 for earlier, later in pairwise(counts))
    assert seen[: math.ceil(25 / 4)] == [21, 17, 13, 9, 5, 1, 0]
    assert report.transactions == len(seen) and report.deleted == 25


async def test_a_pass_stopped_between_transactions_leaves_counts_that_match_and_the_next_finishes(store):
    now = time.time()
    await add_subscribers(store, list(range(1, 11)))
    old = await queue(store, "article", "1", list(range(1, 11)))
    await finish(store, old, list(range(1, 11)), "sent", now - 30 * DAY)
    checks = iter([True, True])

    stopped = await prune(
        store, RetentionOptions(batch_rows=3), now, keep_going=lambda: next(checks, False), sleep=no_rest
    )

    assert not stopped.complete and stopped.deleted == 6
    assert sum((await store.retention.daily_counts()).values()) == 6
    assert len(await statuses(store)) == 4
    finished = await prune(store, RetentionOptions(batch_rows=3), now, sleep=no_rest)
    assert finished.complete and finished.deleted == 4
    assert await store.retention.daily_counts() == {(utc_day(now - 30 * DAY), "article", "sent"): 10}


@pytest.mark.sqlite_only  # the file's pages; PostgreSQL's autovacuum reclaims space on the server
async def test_pruned_pages_go_back_to_the_file_system(store, tmp_path):
    now = time.time()
    assert await store.retention.auto_vacuum_mode() == "incremental"
    await store.db.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) "
        "INSERT INTO chats (chat_id, subscribed) SELECT i, 1 FROM n"
    )
    readers_only = await store.retention.pages()  # the schema and the chats, which stay
    async with store.db.transaction() as tx:
        old = await store.outbox.enqueue(tx, "article", "1", "SELECT chat_id FROM chats")
        await tx.execute(
            "UPDATE deliveries SET status = 'failed', error = 'Forbidden: bot was blocked by the user', "
            "finished_at = ? WHERE broadcast_id = ?",
            (now - 20 * DAY, old),
        )
    full = await store.retention.pages()
    sizes = [full.page_count]

    async def rest(seconds: float) -> None:
        sizes.append((await store.retention.pages()).page_count)

    report = await prune(store, RetentionOptions(vacuum_pages=50), now, sleep=rest)

    pruned = await store.retention.pages()
    assert report.deleted == 20000 and report.complete
    assert pruned.freelist_count == 0
    # Every page the deliveries took goes back (the roll-up row may need one); the chats' pages stay. ("Half
    # the file", as this said before, depended on how wide a chat row is.)
    assert full.page_count > readers_only.page_count + 400
    assert pruned.page_count <= readers_only.page_count + 1
    assert report.pages_freed == full.page_count - pruned.page_count
    # 50 free pages per transaction, plus a pointer-map page the file may lose with them.
    assert all(0 <= earlier - later <= 52 for earlier, later in pairwise(sizes))
    assert store.db.path.stat().st_size == pruned.page_count * pruned.page_size


async def test_an_older_small_database_converts_to_incremental_vacuum_once(tmp_path, caplog):
    path = tmp_path / "old.db"
    with closing(sqlite3.connect(path)) as old:  # made before this version: no auto-vacuum
        old.execute("CREATE TABLE leftover (x)")
        assert old.execute("PRAGMA auto_vacuum").fetchone()[0] == 0
    with caplog.at_level(logging.INFO, logger="storage.retention"):
        store = await Store.open(path)
        assert await store.retention.auto_vacuum_mode() == "incremental"
        await store.close()
        store = await Store.open(path)
        await store.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "storage.retention"]
    assert len(lines) == 1 and "converted" in lines[0] and "VACUUM" in lines[0]


async def test_an_older_large_database_is_left_as_it_is_with_one_line(tmp_path, caplog, monkeypatch):
    path = tmp_path / "old.db"
    with closing(sqlite3.connect(path)) as old:
        old.execute("CREATE TABLE leftover (x)")
    monkeypatch.setattr(retention_module, "CONVERT_AT_OPEN_MAX_BYTES", 0)
    with caplog.at_level(logging.INFO, logger="storage.retention"):
        store = await Store.open(path)
    try:
        assert await store.retention.auto_vacuum_mode() == "none"
        lines = [r.getMessage() for r in caplog.records if r.name == "storage.retention"]
        assert len(lines) == 1 and "auto_vacuum = INCREMENTAL; VACUUM;" in lines[0]
        # Pruning still works; the freed pages are reused instead of returned.
        now = time.time()
        await add_subscribers(store, [1])
        old = await queue(store, "article", "1", [1])
        await finish(store, old, [1], "sent", now - 20 * DAY)
        report = await prune(store, RetentionOptions(), now, sleep=no_rest)
        assert report.deleted == 1 and report.pages_freed == 0 and report.complete
    finally:
        await store.close()


# The bot


async def finished_deliveries(store: Store, ids: list[int], at: float) -> None:
    """Deliveries the bot made long ago, written directly so the running engine has nothing to send."""
    async with store.db.transaction() as tx:
        await tx.execute("INSERT INTO broadcasts (kind, ref) VALUES ('article', '77')")
        for chat_id in ids:
            await tx.execute(
                "INSERT INTO deliveries (broadcast_id, chat_id, status, attempts, finished_at) "
                "SELECT id, ?, 'sent', 1, ? FROM broadcasts WHERE ref = '77'",
                (chat_id, at),
            )


async def test_the_bot_prunes_daily_and_after_start_with_one_line_and_stats_show_the_history(
    app: Application, telegram: FakeBotAPI, caplog
):
    [job] = app.job_queue.get_jobs_by_name(RETENTION_JOB)
    assert job.trigger.interval == timedelta(days=1)  # a minute after start, then daily
    store = app.bot_data.store
    now = datetime.now(UTC)
    await finished_deliveries(store, [5001, 5002, 5003], at=now.timestamp())
    app.bot_data.clock = lambda: now + timedelta(days=15)

    with caplog.at_level(logging.INFO, logger="bot.maintenance"):
        await job.run(app)
        await job.run(app)  # the next day's pass finds nothing left

    lines = [r.getMessage() for r in caplog.records if r.name == "bot.maintenance"]
    assert len(lines) == 2
    assert "rolled up 3 deliveries" in lines[0] and "deleted 3 deliveries" in lines[0]
    assert "rolled up 0 deliveries" in lines[1]
    assert await store.db.fetchval("SELECT count(*) FROM deliveries") == 0
    admin = Reader(app, telegram, ADMIN_ID, language_code="en", first_name="Operator")
    report = (await admin.send("/stats"))[0].plain  # the figures, then the chart
    assert f"earlier, kept as daily counts since {now.date().isoformat()}: sent 3, failed 0" in report


@pytest.mark.sqlite_only  # PRAGMA query_only; PostgreSQL's outages: tests/test_postgres_storage.py
async def test_a_pass_the_database_refuses_is_one_logged_line(app: Application, caplog):
    store = app.bot_data.store
    await finished_deliveries(store, [5001], at=time.time() - 30 * DAY)
    await store.db.execute("PRAGMA query_only = ON")  # every write fails, like a full or read-only disk
    try:
        with caplog.at_level(logging.INFO, logger="bot.maintenance"):
            await app.job_queue.get_jobs_by_name(RETENTION_JOB)[0].run(app)
    finally:
        await store.db.execute("PRAGMA query_only = OFF")
    records = [r for r in caplog.records if r.name == "bot.maintenance"]
    assert len(records) == 1 and records[0].exc_info is None
    assert records[0].getMessage().startswith("retention pass stopped: ")
    assert RUNNING not in app.bot_data.extras
    assert await store.db.fetchval("SELECT count(*) FROM deliveries") == 1


async def damaged(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A storage layer that reports a damaged file, as it does for anything it cannot name more exactly."""

    async def refuse(*_: object) -> None:
        raise StorageError(f"{store.db.path}: the database is damaged (truncated or corrupt)")

    monkeypatch.setattr(store.retention, "prune_batch", refuse)


async def unexpected_schema(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite's own error (no such table) from a file changed behind the bot's back."""
    await store.db.execute("ALTER TABLE delivery_days RENAME TO delivery_days_moved")


@pytest.mark.parametrize("failure", [damaged, unexpected_schema])
async def test_a_storage_failure_in_the_job_is_one_logged_line_and_the_bot_goes_on(
    app: Application, telegram: FakeBotAPI, caplog, monkeypatch, failure
):
    store = app.bot_data.store
    await finished_deliveries(store, [5001], at=time.time() - 30 * DAY)
    await failure(store, monkeypatch)
    with caplog.at_level(logging.INFO):
        await app.job_queue.get_jobs_by_name(RETENTION_JOB)[0].run(app)
    mine = [r for r in caplog.records if r.name == "bot.maintenance"]
    assert len(mine) == 1 and mine[0].getMessage().startswith("retention pass stopped: "), mine
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR], "no traceback"
    assert RUNNING not in app.bot_data.extras, "the next pass may run"
    assert await store.db.fetchval("SELECT count(*) FROM deliveries") == 1
    reader = Reader(app, telegram, 5002, language_code="en")
    assert "/latest" in (await reader.says("/help")).plain, "the bot still answers"


@pytest.mark.parametrize(
    ("lang", "line"),
    [
        ("en", "earlier, kept as daily counts since 2026-01-02: sent 1200, failed 34"),
        (
            "tr",
            "daha öncekiler, 2026-01-02 tarihinden beri günlük sayılar olarak: gönderilen 1200, başarısız 34",
        ),
    ],
)
def test_stats_show_the_pruned_history_in_both_languages(lang, line):
    overview = StatsOverview(
        active=1,
        by_language=[],
        by_chat_type=[],
        by_province=[],
        articles=0,
        pending=0,
        sent_24h=0,
        failed_24h=0,
        archived=DeliveryArchive("2026-01-02", "2026-03-01", sent=1200, failed=34),
    )
    values = dict(rate=0, paid=False, limit=30, province_names={}, invited_subscribers=0, top_referrers=[])
    text = Renderer().message(lang, "stats", stats=overview, **values)
    assert line in text
    without = Renderer().message(
        lang, "stats", stats=StatsOverview(**{**overview.__dict__, "archived": None}), **values
    )
    assert line.split(",")[0] not in without
