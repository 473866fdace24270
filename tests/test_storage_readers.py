"""Readers never wait for writers: reads have their own connections; an unchanged chat writes nothing."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from datetime import date

import pytest

from bot.drafts import make_draft
from bot.publishing import publish
from storage import Store
from storage.database import Database, StorageUnavailable
from tests.conversation import Reader

HANG = 60  # seconds; only bounds a hang, the old code answered after its 10 s busy timeout with an error


async def add_article(app, title: str = "Committed statement", url: str = "https://news.example/a/1"):
    store = app.bot_data.store
    result = await publish(
        store,
        make_draft(
            title=title, body="Body text. " * 20, published=date(2024, 5, 1), source="import", url=url
        ),
    )
    return result.article


def hold_write_lock(path) -> sqlite3.Connection:
    """Another process in the middle of a write (`newsbot import` storing a page), not committed."""
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute(
        "INSERT INTO articles (title, body, published_at, source) "
        "VALUES ('Uncommitted statement', 'b', '2030-01-01T00:00:00+00:00', 'import')"
    )
    return other


def chat_writes(statements: list[str]) -> list[str]:
    return [s for s in statements if s.lstrip().upper().startswith(("INSERT", "UPDATE")) and "chats" in s]


async def test_a_reader_is_answered_while_another_process_holds_the_write_lock(app, english_reader, settings):
    await english_reader.says("/start")
    await add_article(app)
    other = hold_write_lock(settings.db_path)
    try:
        answer = await asyncio.wait_for(english_reader.says("/latest"), HANG)
        listing = await asyncio.wait_for(english_reader.says("/latest 5"), HANG)
        assert other.in_transaction, "the other writer still holds its lock: we did not wait it out"
    finally:
        other.rollback()
        other.close()
    assert answer.plain.startswith("Committed statement")
    assert "Uncommitted" not in listing.plain, "readers see committed data only"


async def test_reads_do_not_wait_for_this_process_writer(tmp_path):
    store = await Store.open(tmp_path / "news.db")
    try:
        await store.chats.touch(1, "private", "en")
        order: list[str] = []
        async with store.db.transaction() as tx:  # a long bulk write (an enqueue) holds the writer
            await tx.execute("UPDATE chats SET subscribed = 1")
            chat = await asyncio.wait_for(store.chats.get(1), HANG)  # one connection: a deadlock
            order.append("read while the writer is busy")
            assert chat is not None and not chat.subscribed, "the reader sees the last committed state"
        order.append("write committed")
        assert (await store.chats.get(1)).subscribed, "and a read after the commit sees it"
        assert order == ["read while the writer is busy", "write committed"]
    finally:
        await store.close()


async def test_a_known_chat_whose_data_did_not_change_issues_no_write(app, telegram, english_reader):
    await english_reader.says("/start")
    statements: list[str] = []
    await app.bot_data.store.db.set_write_trace(statements.append)
    await english_reader.says("/latest")
    await english_reader.says("/help")
    assert chat_writes(statements) == []
    # Telegram reports a new language for the same reader: that is worth a write, once.
    switched = Reader(app, telegram, english_reader.chat_id, language_code="tr", first_name="John")
    await switched.says("/help")
    await switched.says("/help")
    await app.bot_data.store.db.set_write_trace(None)
    assert len(chat_writes(statements)) == 1
    assert (await app.bot_data.store.chats.get(english_reader.chat_id)).language_code == "tr"


async def test_a_failing_prelude_write_still_gets_the_reader_an_answer(app, telegram, settings, caplog):
    await add_article(app)
    await app.bot_data.store.db.execute("PRAGMA busy_timeout = 50")  # give up on the lock at once
    newcomer = Reader(app, telegram, 4242, language_code="tr", first_name="Zeynep")
    other = hold_write_lock(settings.db_path)
    try:
        with caplog.at_level(logging.WARNING):
            answer = await asyncio.wait_for(newcomer.says("/latest"), HANG)
    finally:
        other.rollback()
        other.close()
    assert answer.plain.startswith("Committed statement")
    assert "1 Mayıs 2024" in answer.plain, "the reader's Telegram language still applies"
    failures = [r for r in caplog.records if "could not record chat 4242" in r.getMessage()]
    assert len(failures) == 1 and failures[0].exc_info is None, "one line, no traceback"
    assert await app.bot_data.store.chats.get(4242) is None
    await newcomer.says("/help")  # the lock is gone: the chat is recorded with the next update
    assert await app.bot_data.store.chats.get(4242) is not None


async def test_the_read_path_refuses_writes(tmp_path):
    store = await Store.open(tmp_path / "news.db")
    try:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            await store.db.fetchone("INSERT INTO chats (chat_id) VALUES (1) RETURNING *")
        row = await store.db.write_fetchone("INSERT INTO chats (chat_id) VALUES (1) RETURNING chat_id")
        assert tuple(row) == (1,)
        assert await store.db.fetchval("SELECT count(*) FROM chats") == 1
    finally:
        await store.close()


async def test_a_memory_database_keeps_one_connection():
    database = await Database.open(":memory:")
    try:
        await database.execute("CREATE TABLE t (x)")
        await database.execute("INSERT INTO t VALUES (1)")
        assert await database.fetchval("SELECT count(*) FROM t") == 1, "reads see the same private database"
    finally:
        await database.close()


async def test_close_closes_every_connection(tmp_path):
    path = tmp_path / "news.db"
    store = await Store.open(path)
    await store.chats.touch(1, "private", "en")
    assert await store.chats.get(1) is not None
    await store.close()
    assert not (tmp_path / "news.db-wal").exists(), (
        "the last connection to close checkpoints and removes the WAL"
    )


async def test_a_write_that_waits_too_long_names_the_problem(tmp_path):
    store = await Store.open(tmp_path / "news.db")
    await store.db.execute("PRAGMA busy_timeout = 50")
    other = hold_write_lock(tmp_path / "news.db")
    try:
        with pytest.raises(StorageUnavailable, match="locked"):
            await store.chats.touch(1, "private", "en")
        assert await store.articles.count() == 0, "reads still work, with committed data"
    finally:
        other.rollback()
        other.close()
        await store.close()


async def test_outbox_listeners_run_once_the_rows_are_committed(tmp_path):
    store = await Store.open(tmp_path / "news.db")
    seen: list[asyncio.Task] = []
    store.outbox.add_listener(lambda: seen.append(asyncio.create_task(store.outbox.filling())))
    try:
        async with store.db.transaction() as tx:
            broadcast_id = await store.outbox.enqueue_audience(tx, "article", "1", "subscribers")
            await tx.execute("SELECT 1")  # a chance for an early listener's read to run before the commit
        assert len(seen) == 1
        assert await asyncio.wait_for(seen[0], HANG) == [broadcast_id], "a woken reader finds the rows"
        with pytest.raises(RuntimeError):
            async with store.db.transaction() as tx:
                await store.outbox.enqueue_audience(tx, "article", "2", "subscribers")
                raise RuntimeError("rolled back")
        assert len(seen) == 1, "nothing to wake anyone for after a rollback"
    finally:
        await store.close()
