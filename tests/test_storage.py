"""The store on real SQLite files and a real PostgreSQL: migrations, WAL, deduplication, subscriptions."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest

from storage import Store
from storage.database import available_migrations
from storage.models import ArticleDraft
from storage.postgres.database import available_migrations as pg_migrations

pytestmark = pytest.mark.backends  # every test with `store` or `database` runs on both backends


def draft(title: str = "Headline", **keys: str) -> ArticleDraft:
    return ArticleDraft(
        title=title, body="Body.", published_at=datetime(2023, 7, 31, tzinfo=UTC), source="import", **keys
    )


@pytest.fixture
async def store(database):
    store = await Store.open(database)
    yield store
    await store.close()


async def test_migrations_are_recorded_and_applied_once(database, backend):
    first = await Store.open(database)
    versions = await first.db.applied_migrations()
    await first.close()
    second = await Store.open(database)
    shipped = available_migrations() if backend == "sqlite" else pg_migrations()
    assert await second.db.applied_migrations() == versions == [v for v, _, _ in shipped]
    await second.close()


@pytest.mark.sqlite_only
async def test_database_uses_wal_and_a_busy_timeout(store):
    assert (await store.db.fetchval("PRAGMA journal_mode")).lower() == "wal"
    assert await store.db.fetchval("PRAGMA busy_timeout") >= 5000


@pytest.mark.sqlite_only
async def test_another_process_can_write_while_the_bot_holds_the_database(store, database):
    other = sqlite3.connect(database, timeout=5)
    other.execute("INSERT INTO chats (chat_id) VALUES (42)")
    other.commit()
    other.close()
    assert (await store.chats.get(42)) is not None


async def test_the_same_article_is_stored_once_by_guid_link_or_hash(store):
    async with store.db.transaction() as tx:
        first, created = await store.articles.add(
            tx, draft(guid="g1", url_key="https://a/1", content_hash="h1")
        )
        assert created
        for keys in ({"guid": "g1"}, {"url_key": "https://a/1"}, {"content_hash": "h1"}):
            again, created = await store.articles.add(tx, draft("Other", **keys))
            assert (again.id, created) == (first.id, False)
    assert await store.articles.count() == 1


async def test_subscription_is_idempotent_and_says_what_changed(store):
    await store.chats.touch(7, "private", "tr")
    assert (await store.chats.subscribe(7)).changed
    assert not (await store.chats.subscribe(7)).changed
    assert (await store.chats.get(7)).subscribed
    assert (await store.chats.unsubscribe(7)).changed
    assert not (await store.chats.unsubscribe(7)).changed
    assert not (await store.chats.get(7)).subscribed


async def test_latest_orders_by_publication_time(store):
    async with store.db.transaction() as tx:
        for day in (3, 1, 2):
            await store.articles.add(
                tx,
                ArticleDraft(
                    title=f"day {day}",
                    body="b",
                    published_at=datetime(2024, 1, day, tzinfo=UTC),
                    source="import",
                ),
            )
    assert [a.title for a in await store.articles.latest(3)] == ["day 3", "day 2", "day 1"]


async def queue_audiences(store) -> None:
    """What the engine's filler does for new broadcasts."""
    for broadcast_id in await store.outbox.filling():
        while not await store.outbox.fill(broadcast_id):
            pass


async def test_a_new_article_is_queued_once_for_every_active_subscriber(store):
    for chat_id, subscribe in ((1, True), (2, True), (3, False)):
        await store.chats.touch(chat_id, "private", "tr")
        if subscribe:
            await store.chats.subscribe(chat_id)
    await store.chats.mark_reachable(2, False)
    async with store.db.transaction() as tx:
        article, _ = await store.articles.add(tx, draft(guid="g"))
        await store.announce_article(tx, article.id)
        await store.announce_article(tx, article.id)
    assert await store.db.fetchall("SELECT chat_id FROM deliveries") == [], "queued in chunks, after commit"
    (broadcast_id,) = await store.outbox.filling()
    assert await store.outbox.fill(broadcast_id)
    assert await store.outbox.fill(broadcast_id), "filling twice adds nobody"
    rows = await store.db.fetchall("SELECT chat_id, status FROM deliveries")
    assert [tuple(row) for row in rows] == [(1, "pending")]
    assert (await store.outbox.progress(broadcast_id)).total == 1


async def test_unsubscribing_drops_the_articles_still_queued_for_the_chat(store):
    await store.chats.touch(1, "private", "tr")
    await store.chats.subscribe(1)
    async with store.db.transaction() as tx:
        article, _ = await store.articles.add(tx, draft(guid="queued"))
        await store.announce_article(tx, article.id)
    await queue_audiences(store)
    await store.chats.unsubscribe(1)
    row = await store.db.fetchone("SELECT status, error FROM deliveries WHERE chat_id = 1")
    assert tuple(row) == ("failed", "unsubscribed")
    assert await store.outbox.pending_count() == 0


async def test_the_bot_runs_on_the_backend_it_was_given(app, settings, backend):
    """NEWSBOT_DATABASE_URL set: the Application's store is on PostgreSQL, and no SQLite file appears."""
    assert app.bot_data.store.db.dialect.name == backend
    assert settings.db_path.exists() == (backend == "sqlite")
