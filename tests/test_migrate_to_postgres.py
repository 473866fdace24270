"""`newsbot migrate-to-postgres URL` as an operator runs it: a real SQLite file, a real PostgreSQL server."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

import asyncpg
import pytest

from storage.database import Database
from storage.postgres import PgDatabase
from storage.postgres.copy import copy_to_postgres
from tests.test_cli import clean_env, newsbot

DELIVERIES = 2_600  # more than one batch of the tests' 1,000 (and of the CLI's 5,000 with the other tables)


async def filled_database(path: Path) -> dict[str, int]:
    """A SQLite database with rows in every table an operator's bot fills; returns the row counts."""
    database = await Database.open(path)
    await database.close()
    db = sqlite3.connect(path)
    statements = [
        "INSERT INTO sections (id, key, label_tr, label_en) VALUES (2, 'spor', 'Spor', 'Sports')",
        "INSERT INTO feeds (id, url, url_key, title, next_fetch_at, last_fetch_at, section_id)"
        " VALUES (7, 'https://example.com/rss', 'example.com/rss', 'Örnek', 1.5, 1700000000.25, 2)",
        "INSERT INTO articles (id, title, body, url, url_key, published_at, source, feed_id, section_id,"
        " language) VALUES (41, 'Şanlıurfa''da yağmur', 'Gökyüzü kapalı; ılık bir gün.', 'https://e/1',"
        " 'e/1', '2026-11-29T10:00:00Z', 'feed', 7, 2, 'tr')",
        "INSERT INTO articles (id, title, body, published_at, source) VALUES (57, 'Second', 'Body',"
        " '2026-11-29T11:00:00Z', 'telegram')",
        "INSERT INTO articles_fts (rowid, title, body) VALUES (41, 'sanliurfada yagmur', 'gokyuzu kapali')",
        "INSERT INTO articles_fts (rowid, title, body) VALUES (57, 'second', 'body')",
        "INSERT INTO broadcasts (id, kind, ref, audience, filled_to, total) VALUES (3, 'article', '41',"
        " 'all', 99999, 2600)",
        "INSERT INTO broadcasts (id, kind, ref) VALUES (5, 'digest', 'd:1')",
        "INSERT INTO digests (broadcast_id, article_ids, more) VALUES (5, '41,57', 1)",
        "INSERT INTO follows (chat_id, folded, phrase) VALUES (1001, 'yagmur', 'yağmur')",
        "INSERT INTO article_matches (article_id, folded) VALUES (41, 'yagmur')",
        "INSERT INTO weather_forecasts (plate, day, temp_max, temp_min, weather_code, fetched_at)"
        " VALUES (34, '2026-11-29', 14.5, 8.25, 61, '2026-11-29T05:00:00Z')",
        "INSERT INTO weather_current (plate, observed_at, temperature, weather_code, fetched_at)"
        " VALUES (34, '2026-11-29T09:00', 11.5, 3, '2026-11-29T09:05:00Z')",
        "INSERT INTO weather_alerts (plate, day, kind, value) VALUES (34, '2026-11-29', 'gusts', 72.0)",
        "INSERT INTO weather_map_files (version, plate, day, file_id) VALUES ('v1', 0, '2026-11-29', 'AgAD')",
        "INSERT INTO invite_codes (user_id, code) VALUES (1001, 'Ab3dEf9h')",
        "INSERT INTO referrals (friend_id, referrer_id, article_id) VALUES (1002, 1001, 41)",
        "INSERT INTO delivery_days (day, kind, status, count) VALUES ('2026-11-01', 'article', 'sent', 120)",
        "INSERT INTO send_hours (hour, sent, flood) VALUES (1764406800, 900, 1)",
        "INSERT INTO article_opens (article_id, chat_id, via_share, opened_at) VALUES (41, 1002, 1, 1.5)",
        "INSERT INTO post_drafts (token, kind, chat_id, article_id, text, created_at, expires_at)"
        " VALUES ('t0k3n', 'edit', 1001, 41, '/edit 41\nNew headline', 1.5, 1801.5)",
    ]
    for statement in statements:
        db.execute(statement)
    # Readers (the insert trigger counts the subscribed ones into chat_event_hours) and a big delivery queue.
    db.executemany(
        "INSERT INTO chats (chat_id, language_code, subscribed, province, languages) VALUES (?, ?, 1, ?, ?)",
        [(1000 + i, "tr" if i % 2 else "en", 34 if i % 3 == 0 else None, "tr,en") for i in range(DELIVERIES)],
    )
    db.executemany(
        "INSERT INTO deliveries (broadcast_id, chat_id, status, finished_at) VALUES (3, ?, ?, ?)",
        [
            (1000 + i, "sent" if i < 1300 else "pending", 1764410000.5 if i < 1300 else None)
            for i in range(DELIVERIES)
        ],
    )
    db.commit()
    tables = [
        name
        for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if not name.startswith(("sqlite_", "articles_fts_")) and name != "schema_migrations"
    ]
    counts = {name: db.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for name in tables}
    db.close()
    return counts


async def pg_counts(url: str, tables: list[str]) -> dict[str, int]:
    connection = await asyncpg.connect(url)
    try:
        return {name: await connection.fetchval(f'SELECT count(*) FROM "{name}"') for name in tables}
    finally:
        await connection.close()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_migrate(url: str, source: Path, cwd: Path):
    return newsbot("migrate-to-postgres", url, env=clean_env(NEWSBOT_DB=str(source)), cwd=cwd)


async def test_every_table_is_copied_and_the_counts_are_checked(pg_url: str, tmp_path: Path) -> None:
    source = tmp_path / "newsbot.db"
    counts = await filled_database(source)
    result = run_migrate(pg_url, source, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "the row count of every table matches" in result.stdout
    assert f"deliveries: {DELIVERIES} rows" in result.stdout
    assert await pg_counts(pg_url, list(counts)) == counts
    empty = sorted(name for name, count in counts.items() if count == 0)
    assert empty == [], f"the fixture leaves {empty} empty: fill them so their copy is tested"

    db = await PgDatabase.open(pg_url)
    try:
        article = await db.fetchone("SELECT title, feed_id, section_id, language FROM articles WHERE id = 41")
        assert tuple(article) == ("Şanlıurfa'da yağmur", 7, 2, "tr")
        assert await db.fetchval("SELECT last_fetch_at FROM feeds WHERE id = 7") == 1700000000.25
        # The search document is built from the copied folded text.
        assert (
            await db.fetchval(
                "SELECT rowid FROM articles_fts WHERE document @@ to_tsquery('simple', 'yagmur:*')"
            )
            == 41
        )
        # Counted once: the insert trigger was off while the chats were copied.
        assert await db.fetchval("SELECT sum(count) FROM chat_event_hours") == DELIVERIES
        # New rows continue after the copied ids.
        new_article = await db.insert(
            "INSERT INTO articles (title, body, published_at, source) VALUES ('n', 'b', 'x', 'telegram')"
        )
        assert new_article == 58
        assert await db.insert("INSERT INTO sections (key, label_tr, label_en) VALUES ('k', 'K', 'K')") == 3
        assert await db.insert("INSERT INTO broadcasts (kind, ref) VALUES ('article', '58')") == 6
        pending = await db.fetchval("SELECT count(*) FROM deliveries WHERE status = 'pending'")
        assert pending == DELIVERIES - 1300
    finally:
        await db.close()


async def test_batches_and_a_second_copy_is_refused(pg_url: str, tmp_path: Path) -> None:
    source = tmp_path / "newsbot.db"
    counts = await filled_database(source)
    lines: list[str] = []
    tables = await copy_to_postgres(source, pg_url, batch=1_000, progress=lines.append)
    assert {table.name: table.target_rows for table in tables} == counts
    assert all(table.source_rows == table.target_rows for table in tables)

    # Analyzed after the copy (not left to autovacuum): the planner knows the copied tables' sizes at once.
    connection = await asyncpg.connect(pg_url)
    try:
        unanalyzed = await connection.fetch(
            "SELECT relname FROM pg_stat_user_tables WHERE schemaname = current_schema()"
            " AND last_analyze IS NULL AND relname = ANY($1::text[])",
            list(counts),
        )
    finally:
        await connection.close()
    assert [row["relname"] for row in unanalyzed] == []

    again = run_migrate(pg_url, source, tmp_path)
    assert again.returncode == 1
    assert again.stderr.count("\n") == 1 and "is not empty" in again.stderr
    assert await pg_counts(pg_url, list(counts)) == counts  # nothing written twice


async def test_a_value_postgresql_refuses_rolls_everything_back(pg_url: str, tmp_path: Path) -> None:
    source = tmp_path / "newsbot.db"
    counts = await filled_database(source)
    db = sqlite3.connect(source)
    db.execute("UPDATE articles SET body = 'a' || char(0) || 'b' WHERE id = 57")  # PostgreSQL text: no NUL
    db.commit()
    db.close()
    result = run_migrate(pg_url, source, tmp_path)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "nothing was written" in result.stderr
    assert "Traceback" not in result.stderr
    assert set((await pg_counts(pg_url, list(counts))).values()) <= {0, 1}  # empty (the seeded section)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (f"postgresql://newsbot:s3cret-pw@127.0.0.1:{_closed_port()}/newsbot", "cannot connect"),
        ("mysql://newsbot:s3cret-pw@localhost/newsbot", "not a postgresql:// URL"),
        ("postgresql://newsbot:s3cret-pw@localhost:99999999/newsbot", "newsbot"),
    ],
)
async def test_a_server_it_cannot_use_is_one_line_without_the_password(tmp_path: Path, url: str, says: str):
    source = tmp_path / "newsbot.db"
    await filled_database(source)
    result = run_migrate(url, source, tmp_path)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and says in result.stderr, result.stderr
    assert "s3cret-pw" not in result.stderr + result.stdout and "Traceback" not in result.stderr


async def test_a_missing_database_on_the_server_is_named(pg_server: str, tmp_path: Path) -> None:
    from tests.postgres import with_database

    source = tmp_path / "newsbot.db"
    await filled_database(source)
    result = run_migrate(with_database(pg_server, "newsbot_nowhere"), source, tmp_path)
    assert result.returncode == 1 and "newsbot_nowhere" in result.stderr and "Traceback" not in result.stderr


def test_a_missing_sqlite_file_is_named(tmp_path: Path) -> None:
    result = run_migrate("postgresql://u:s3cret-pw@127.0.0.1:1/x", tmp_path / "absent.db", tmp_path)
    assert result.returncode == 1
    assert "absent.db: no such database file" in result.stderr and not (tmp_path / "absent.db").exists()
