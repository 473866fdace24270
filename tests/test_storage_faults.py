"""Bad database files, a newer schema and a full disk: one clear line for operators, answers for readers."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import threading
from datetime import date
from pathlib import Path

import pytest

from bot.drafts import make_draft
from bot.publishing import publish
from storage import Store
from storage.database import Database, DatabaseUnusable, StorageError, available_migrations, backup_database
from tests.test_cli import FIXTURES, clean_env, newsbot

HANG = 60


def make_database(path: Path, articles: int = 3) -> None:
    """A real newsbot database with a few articles, written by the current code."""

    async def build() -> None:
        store = await Store.open(path)
        for n in range(articles):
            draft = make_draft(
                title=f"Statement {n}",
                body="Body. " * 50,
                published=date(2024, 1, 1 + n % 28),
                source="import",
            )
            await publish(store, draft)
        await store.close()

    asyncio.run(build())


def text_file(path: Path) -> Path:
    path.write_text("these are my notes, not a database\n" * 50, encoding="utf-8")
    return path


def random_bytes(path: Path) -> Path:
    path.write_bytes(os.urandom(16384))
    return path


def truncated(path: Path) -> Path:
    make_database(path, articles=40)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def directory(path: Path) -> Path:
    path.mkdir()
    return path


def under_a_file(path: Path) -> Path:
    text_file(path)
    return path / "newsbot.db"


BAD_FILES = {
    "text file": (text_file, "not an SQLite database"),
    "random bytes": (random_bytes, "not an SQLite database"),
    "truncated database": (truncated, "damaged"),
    "directory": (directory, "is a directory"),
    "path under a file": (under_a_file, "cannot create its directory"),
}


@pytest.mark.parametrize("kind", BAD_FILES)
async def test_open_names_the_file_and_what_is_wrong(tmp_path, kind):
    make, reason = BAD_FILES[kind]
    path = await asyncio.to_thread(make, tmp_path / "newsbot.db")
    with pytest.raises(DatabaseUnusable, match=reason) as raised:
        await Database.open(path)
    message = str(raised.value)
    assert message.startswith(str(path)) and "\n" not in message


async def test_a_database_from_a_newer_newsbot_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "newsbot.db"
    with sqlite3.connect(path) as connection:  # written by a newer newsbot: schema version 99
        connection.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at TEXT)"
        )
        connection.executemany(
            "INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [(1, "foundation"), (99, "future")]
        )
    connection.close()
    with pytest.raises(
        DatabaseUnusable, match="written by a newer newsbot: migration 0099 unknown; upgrade newsbot"
    ):
        await Database.open(path)
    with sqlite3.connect(path) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    connection.close()
    assert tables == {"schema_migrations"}, "never half-used: no migration ran"
    assert 99 not in {version for version, _, _ in available_migrations()}


@pytest.mark.parametrize("kind", BAD_FILES)
def test_feed_list_gives_one_line_and_exit_2(tmp_path, kind):
    make, reason = BAD_FILES[kind]
    path = make(tmp_path / "newsbot.db")
    result = newsbot("feed", "list", env=clean_env(NEWSBOT_DB=str(path)), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert str(path) in result.stderr and reason in result.stderr


def test_import_run_and_backup_refuse_a_corrupt_database_in_one_line(tmp_path):
    path = random_bytes(tmp_path / "newsbot.db")
    env = clean_env(
        NEWSBOT_DB=str(path),
        TELEGRAM_BOT_TOKEN="123456:TEST-token",
        NEWSBOT_BOT_API_URL="http://127.0.0.1:9/bot",
    )
    for args in (
        ("import", str(FIXTURES / "article_semantic.html")),
        ("run",),
        ("backup", str(tmp_path / "copy.db")),
    ):
        result = newsbot(*args, env=env, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, (args, result.stderr)
        assert f"{path}: not an SQLite database" in result.stderr
    assert not (tmp_path / "copy.db").exists()


def test_run_refuses_a_database_from_a_newer_newsbot(tmp_path):
    path = tmp_path / "newsbot.db"
    make_database(path, articles=0)
    with sqlite3.connect(path) as connection:
        connection.execute("INSERT INTO schema_migrations (version, name) VALUES (9999, 'future')")
    connection.close()
    env = clean_env(
        NEWSBOT_DB=str(path),
        TELEGRAM_BOT_TOKEN="123456:TEST-token",
        NEWSBOT_BOT_API_URL="http://127.0.0.1:9/bot",
    )
    result = newsbot("run", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"newsbot: {path}: written by a newer newsbot: migration 9999 unknown; upgrade newsbot"
    )


# ------------------------------------------------------------------ a full disk


async def fill_the_disk(app, chat_id: int) -> None:
    """Let the database grow no further, the way a full disk stops SQLite: writes that need a page fail.

    PRAGMA max_page_count cannot go below the current size, and small updates rewrite pages in place, so the
    chat gets a 1 MB title first: changing that row then needs about 250 new pages, which are refused.
    """
    db = app.bot_data.store.db
    await db.execute("UPDATE chats SET title = ? WHERE chat_id = ?", ("x" * 1_000_000, chat_id))
    pages = await db.fetchval("PRAGMA page_count")
    await db.execute(f"PRAGMA max_page_count = {pages}")


async def free_the_disk(app) -> None:
    await app.bot_data.store.db.execute("PRAGMA max_page_count = 1073741823")


async def test_with_a_full_disk_readers_are_answered_and_writes_get_an_apology(app, reader, caplog):
    store = app.bot_data.store
    result = await publish(
        store,
        make_draft(
            title="İzmir'de festival", body="Body. " * 40, published=date(2024, 5, 1), source="import"
        ),
    )
    await reader.says("/start")
    await fill_the_disk(app, reader.chat_id)

    with caplog.at_level(logging.WARNING):
        assert (await reader.says("/latest")).plain.startswith("İzmir'de festival")
        assert "/subscribe" in (await reader.says("/help")).plain
        assert (await reader.says(f"/article {result.article.id}")).plain.startswith("İzmir'de festival")
        assert "İzmir'de festival" in (await reader.says("/search izmir")).plain
        apology = await reader.says("/subscribe")
    assert apology.plain.startswith("Üzgünüm, bunu şu anda kaydedemiyorum"), "in the reader's language"
    assert not (await store.chats.get(reader.chat_id)).subscribed
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("handlers")]
    assert len(problems) == 1 and "disk full" in problems[0].getMessage()
    assert problems[0].exc_info is None, "one line, not a traceback"

    await free_the_disk(app)  # space is back: no restart needed
    assert "Abone oldunuz" in (await reader.says("/subscribe")).plain
    assert (await store.chats.get(reader.chat_id)).subscribed


# ------------------------------------------------------------------ backups


def count_articles(path: Path) -> tuple[int, str]:
    connection = sqlite3.connect(path)
    try:
        count = connection.execute("SELECT count(*) FROM articles").fetchone()[0]
        integrity = connection.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        connection.close()
    return count, integrity


def test_backup_copies_committed_data_while_another_connection_writes(tmp_path):
    path = tmp_path / "newsbot.db"
    make_database(path, articles=5)
    env = clean_env(NEWSBOT_DB=str(path))
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # a write in progress (the bot, an import) that is not committed
    writer.execute(
        "INSERT INTO articles (title, body, published_at, source) "
        "VALUES ('Uncommitted', 'b', '2030-01-01T00:00:00+00:00', 'import')"
    )
    try:
        result = newsbot("backup", str(tmp_path / "copy.db"), env=env, cwd=tmp_path)
    finally:
        writer.rollback()
        writer.close()
    assert result.returncode == 0, result.stderr
    size = (tmp_path / "copy.db").stat().st_size
    assert result.stdout.strip().count("\n") == 0 and "copy.db" in result.stdout
    assert f"({size / 1000:.1f} kB)" in result.stdout
    assert count_articles(tmp_path / "copy.db") == (5, "ok")
    assert not list(tmp_path.glob("copy.db-*")), "one self-contained file, no -wal beside it"

    again = newsbot("backup", str(tmp_path / "copy.db"), env=env, cwd=tmp_path)
    assert again.returncode == 2 and "already exists; use --force" in again.stderr
    assert again.stderr.count("\n") == 1
    forced = newsbot("backup", "--force", str(tmp_path / "copy.db"), env=env, cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr


async def test_backup_is_consistent_while_articles_keep_arriving(tmp_path):
    path = tmp_path / "newsbot.db"
    await asyncio.to_thread(make_database, path, 5)
    stop = threading.Event()
    committed: list[int] = []

    def keep_writing() -> None:
        connection = sqlite3.connect(path, isolation_level=None, timeout=30)
        n = 0
        while not stop.is_set():
            n += 1
            connection.execute(
                "INSERT INTO articles (title, body, published_at, source) VALUES (?, ?, ?, 'import')",
                (f"Live {n}", "b" * 2000, "2024-02-01T00:00:00+00:00"),
            )
            committed.append(n)
        connection.close()

    thread = threading.Thread(target=keep_writing)
    thread.start()
    try:

        async def under_way() -> None:
            while len(committed) < 50:
                await asyncio.sleep(0.01)

        await asyncio.wait_for(under_way(), HANG)  # the writer is well under way
        before = 5 + len(committed)
        size = await asyncio.wait_for(backup_database(path, tmp_path / "copy.db"), HANG)
        after = 5 + len(committed)
    finally:
        stop.set()
        thread.join()
    count, integrity = count_articles(tmp_path / "copy.db")
    assert integrity == "ok" and before <= count <= after
    assert size == (tmp_path / "copy.db").stat().st_size
    with pytest.raises(StorageError, match="already exists"):
        await backup_database(path, tmp_path / "copy.db")
    with pytest.raises(DatabaseUnusable, match="no such database"):
        await backup_database(tmp_path / "missing.db", tmp_path / "other.db")


async def test_a_write_cancelled_while_it_waits_for_the_lock_leaves_no_transaction_open(tmp_path):
    # A task stopped while its BEGIN waits for another process's write lock (the delivery engine stopping
    # during `newsbot import`): SQLite still begins the transaction once the lock is free, after the task
    # is gone. That transaction must not stay open, or every later write fails with "cannot start a
    # transaction within a transaction".
    store = await Store.open(tmp_path / "news.db")
    other = sqlite3.connect(tmp_path / "news.db", timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        waiting = asyncio.create_task(store.chats.subscribe(1))  # one transaction: waits for the lock
        await asyncio.sleep(0.3)
        assert not waiting.done()
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        other.rollback()
        await store.chats.touch(1, "private", "tr")  # the writer is free and out of any transaction
        assert (await store.chats.subscribe(1)).subscribed
    finally:
        other.close()
        await store.close()
