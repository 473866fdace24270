"""PgDatabase on a real PostgreSQL server: migrations, the schema beside SQLite's, reads, writes, failures.

Every test here that takes `pg_url` gets a new empty schema on the server tests/postgres.py provides.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import asyncpg
import pytest

from storage.database import Database, DatabaseUnusable, StorageUnavailable
from storage.database import available_migrations as sqlite_migrations
from storage.fulltext import fold_for_index, query_tokens
from storage.postgres import PgDatabase
from storage.postgres.database import available_migrations as pg_migrations
from storage.postgres.fulltext import MATCH_SQL, tsquery
from tests.postgres import with_database

# Migrations from 1001 are PostgreSQL's own (storage/postgres/migrations/__init__.py).
PG_ONLY_FROM = 1000


# --- migrations --------------------------------------------------------------------------------------


async def test_migrations_apply_to_an_empty_database_once(pg_url: str) -> None:
    db = await PgDatabase.open(pg_url)
    try:
        first = await db.fetchall("SELECT version, name, applied_at FROM schema_migrations ORDER BY version")
    finally:
        await db.close()
    assert [row["version"] for row in first] == [version for version, _, _ in pg_migrations()]

    again = await PgDatabase.open(pg_url)  # idempotent: nothing is applied twice
    try:
        second = await again.fetchall(
            "SELECT version, name, applied_at FROM schema_migrations ORDER BY version"
        )
        assert await again.applied_migrations() == [version for version, _, _ in pg_migrations()]
    finally:
        await again.close()
    assert [tuple(row) for row in second] == [tuple(row) for row in first]


async def test_two_instances_starting_together_migrate_once(pg_url: str) -> None:
    first, second = await asyncio.gather(PgDatabase.open(pg_url), PgDatabase.open(pg_url))
    try:
        assert await first.applied_migrations() == await second.applied_migrations()
        assert await first.fetchval("SELECT count(*) FROM schema_migrations") == len(pg_migrations())
    finally:
        await asyncio.gather(first.close(), second.close())


def test_every_sqlite_migration_has_its_postgresql_form() -> None:
    """The same numbers and names: a new SQLite migration needs its PostgreSQL file beside it."""
    sqlite = [(version, name) for version, name, _ in sqlite_migrations()]
    postgres = [(version, name) for version, name, _ in pg_migrations() if version < PG_ONLY_FROM]
    assert postgres == sqlite


async def test_a_database_from_a_newer_newsbot_is_refused(pg_url: str) -> None:
    db = await PgDatabase.open(pg_url)
    await db.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", (9999, "future"))
    await db.close()
    with pytest.raises(DatabaseUnusable, match="written by a newer newsbot: migration 9999 unknown"):
        await PgDatabase.open(pg_url)


# --- the schema beside SQLite's --------------------------------------------------------------------------

# What PostgreSQL does its own way, and why.
PG_ONLY_TABLES = {"leases", "instances"}  # one SQLite file has one instance: nothing to lease or share
SQLITE_ONLY_TRIGGERS = {
    "articles_fts_delete"
}  # PostgreSQL: articles_fts.rowid REFERENCES ... ON DELETE CASCADE
PG_ONLY_INDEXES = {"articles_fts_document"}  # the GIN index that FTS5's virtual table is on SQLite
PG_ONLY_FOREIGN_KEYS = {("articles_fts", "rowid", "articles", "CASCADE")}  # the trigger above
TYPE_FAMILIES = {
    "INTEGER": {"bigint", "integer"},
    "TEXT": {"text"},
    "REAL": {"double precision"},
    "": {"text"},
}
ON_DELETE = {"c": "CASCADE", "n": "SET NULL", "a": "NO ACTION", "r": "RESTRICT", "d": "SET DEFAULT"}


async def _sqlite_schema(path: Path) -> dict[str, object]:
    db = await Database.open(path)
    try:
        names = [
            row[0]
            for row in await db.fetchall(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
                "AND name NOT LIKE 'articles_fts_%' ORDER BY name"  # FTS5's shadow tables
            )
        ]
        columns, keys, uniques, indexes, foreign = {}, {}, set(), {}, set()
        for table in names:
            info = await db.fetchall(f"PRAGMA table_info({table})")
            columns[table] = [
                (
                    row["name"],
                    row["type"].upper(),
                    bool(row["notnull"] or row["pk"]),
                    row["dflt_value"] is not None,
                )
                for row in info
            ]
            keys[table] = [row["name"] for row in sorted(info, key=lambda row: row["pk"]) if row["pk"]]
            for index in await db.fetchall(f"PRAGMA index_list({table})"):
                cols = [row["name"] for row in await db.fetchall(f"PRAGMA index_info({index['name']})")]
                if index["origin"] == "u":
                    uniques.add((table, tuple(cols)))
                elif index["origin"] == "c":
                    indexes[index["name"]] = (table, cols, bool(index["unique"]), bool(index["partial"]))
            for key in await db.fetchall(f"PRAGMA foreign_key_list({table})"):
                foreign.add((table, key["from"], key["table"], key["on_delete"]))
        triggers = {
            row[0] for row in await db.fetchall("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        }
    finally:
        await db.close()
    return {
        "tables": names,
        "columns": columns,
        "keys": keys,
        "uniques": uniques,
        "indexes": indexes,
        "foreign": foreign,
        "triggers": triggers,
    }


async def _pg_schema(db: PgDatabase) -> dict[str, object]:
    names = [
        row[0]
        for row in await db.fetchall(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
            "ORDER BY table_name"
        )
    ]
    columns: dict[str, list] = {}
    for row in await db.fetchall(
        "SELECT table_name, column_name, data_type, is_nullable, column_default, is_generated "
        "FROM information_schema.columns WHERE table_schema = current_schema() "
        "ORDER BY table_name, ordinal_position"
    ):
        columns.setdefault(row["table_name"], []).append(
            (
                row["column_name"],
                row["data_type"],
                row["is_nullable"] == "NO",
                row["column_default"] is not None,
            )
        )
    keys, uniques = {}, set()
    for row in await db.fetchall(
        "SELECT t.relname AS tbl, c.contype::text AS contype, "
        "array(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(attnum, ord) "
        " JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum ORDER BY k.ord) AS cols "
        "FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid "
        "WHERE c.contype IN ('p', 'u') AND t.relnamespace = current_schema()::regnamespace"
    ):
        if row["contype"] == "p":
            keys[row["tbl"]] = list(row["cols"])
        else:
            uniques.add((row["tbl"], tuple(row["cols"])))
    indexes = {
        row["name"]: (row["tbl"], list(row["cols"]), row["indisunique"], row["partial"])
        for row in await db.fetchall(
            "SELECT ic.relname AS name, t.relname AS tbl, i.indisunique, i.indpred IS NOT NULL AS partial, "
            "array(SELECT pg_get_indexdef(i.indexrelid, k, true) "
            "      FROM generate_series(1, i.indnatts) k) AS cols "
            "FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid "
            "WHERE t.relnamespace = current_schema()::regnamespace "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)"
        )
    }
    foreign = {
        (row["tbl"], row["col"], row["ref"], ON_DELETE[row["confdeltype"]])
        for row in await db.fetchall(
            "SELECT t.relname AS tbl, a.attname AS col, r.relname AS ref, c.confdeltype::text AS confdeltype "
            "FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid "
            "JOIN pg_class r ON r.oid = c.confrelid "
            "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
            "WHERE c.contype = 'f' AND t.relnamespace = current_schema()::regnamespace"
        )
    }
    triggers = {
        row[0]
        for row in await db.fetchall(
            "SELECT tgname FROM pg_trigger g JOIN pg_class t ON t.oid = g.tgrelid "
            "WHERE NOT g.tgisinternal AND t.relnamespace = current_schema()::regnamespace"
        )
    }
    return {
        "tables": names,
        "columns": columns,
        "keys": keys,
        "uniques": uniques,
        "indexes": indexes,
        "foreign": foreign,
        "triggers": triggers,
    }


async def test_the_schema_is_sqlites(pg_url: str, tmp_path: Path) -> None:
    """Tables, columns (order, type family, NOT NULL, default), keys, indexes, foreign keys and triggers."""
    sqlite = await _sqlite_schema(tmp_path / "newsbot.db")
    db = await PgDatabase.open(pg_url)
    try:
        pg = await _pg_schema(db)
    finally:
        await db.close()

    assert sorted(set(pg["tables"]) - PG_ONLY_TABLES) == sqlite["tables"]
    for table in sqlite["tables"]:
        pg_columns = pg["columns"][table]
        if table == "articles_fts":  # FTS5's (title, body) and its rowid; the generated tsvector
            assert [c[0] for c in pg_columns] == [
                "rowid",
                *[c[0] for c in sqlite["columns"][table]],
                "document",
            ]
            continue
        assert [c[0] for c in pg_columns] == [c[0] for c in sqlite["columns"][table]], table
        for (name, kind, not_null, default), (_, pg_kind, pg_not_null, pg_default) in zip(
            sqlite["columns"][table], pg_columns, strict=True
        ):
            assert pg_kind in TYPE_FAMILIES[kind], (table, name, kind, pg_kind)
            assert (pg_not_null, pg_default) == (not_null, default), (table, name)
        if table != "articles_fts":
            assert pg["keys"].get(table, []) == sqlite["keys"][table], table
    assert pg["uniques"] == sqlite["uniques"]
    assert {name: value for name, value in pg["indexes"].items() if name not in PG_ONLY_INDEXES} == sqlite[
        "indexes"
    ]
    assert pg["foreign"] - PG_ONLY_FOREIGN_KEYS == sqlite["foreign"]
    assert pg["triggers"] == sqlite["triggers"] - SQLITE_ONLY_TRIGGERS


# --- reads and writes ------------------------------------------------------------------------------------


@pytest.fixture
async def pg(pg_url: str):
    db = await PgDatabase.open(pg_url)
    try:
        yield db
    finally:
        await db.close()


async def test_reads_and_writes_with_sqlites_placeholders(pg: PgDatabase) -> None:
    assert await pg.execute("INSERT INTO chats (chat_id, language_code) VALUES (?, ?)", (1001, "tr")) == 1
    await pg.execute(
        "INSERT INTO chats (chat_id, language_code, title) VALUES (:id, :lang, :lang)",
        {"id": 1002, "lang": "en"},
    )
    await pg.executemany("INSERT INTO chats (chat_id) VALUES (?)", [(2001,), (2002,), (2003,)])
    await pg.executemany("INSERT INTO chats (chat_id, title) VALUES (:id, :t)", [{"id": 3001, "t": "x"}])
    assert await pg.execute("UPDATE chats SET subscribed = 1 WHERE chat_id >= ?", (2000,)) == 4

    row = await pg.fetchone(
        "SELECT chat_id, language_code, title, created_at FROM chats WHERE chat_id = ?", (1002,)
    )
    assert (row[0], row["language_code"], row["title"]) == (1002, "en", "en")
    assert len(row["created_at"]) == 20 and row["created_at"].endswith("Z")  # SQLite's "YYYY-MM-DDTHH:MM:SSZ"
    assert await pg.fetchval("SELECT count(*) FROM chats WHERE subscribed = 1 AND reachable = 1") == 4
    assert [
        r["chat_id"] for r in await pg.fetchall("SELECT chat_id FROM chats ORDER BY chat_id LIMIT $1", (2,))
    ] == [
        1001,
        1002,
    ]
    updated = await pg.write_fetchone(
        "UPDATE chats SET language = ? WHERE chat_id = ? RETURNING chat_id, language", ("en", 1001)
    )
    assert tuple(updated) == (1001, "en")
    assert (
        await pg.write_fetchone("UPDATE chats SET language = 'x' WHERE chat_id = -1 RETURNING chat_id")
        is None
    )
    # The trigger of 0017 counted the four chats that became active subscribers.
    assert await pg.fetchval("SELECT sum(count) FROM chat_event_hours WHERE kind = 'joined'") == 4


async def test_insert_hands_back_the_new_id(pg: PgDatabase) -> None:
    first = await pg.insert(
        "INSERT INTO articles (title, body, url_key, published_at, source) VALUES (?, ?, ?, ?, ?)",
        ("Başlık", "Metin", "https://a.example/1", "2024-05-01T08:00:00Z", "import"),
    )
    second = await pg.insert(
        "INSERT INTO articles (title, body, published_at, source) VALUES (?, ?, ?, ?)",
        ("İkinci", "Metin", "2024-05-01T09:00:00Z", "import"),
    )
    assert (first, second) == (1, 2)
    duplicate = await pg.insert(
        "INSERT INTO articles (title, body, url_key, published_at, source) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (url_key) DO NOTHING",
        ("Again", "Metin", "https://a.example/1", "2024-05-01T10:00:00Z", "feed"),
    )
    assert duplicate is None
    # Section 1 was inserted with its id by 0012: the next one gets 2, as SQLite gives max(id) + 1.
    assert (
        await pg.insert("INSERT INTO sections (key, label_tr, label_en) VALUES (?, ?, ?)", ("eko", "E", "E"))
        == 2
    )


async def test_a_transaction_commits_together_or_not_at_all(pg: PgDatabase) -> None:
    committed: list[str] = []
    async with pg.transaction() as tx:
        broadcast = await tx.insert("INSERT INTO broadcasts (kind, ref) VALUES (?, ?)", ("article", "1"))
        await tx.executemany(
            "INSERT INTO deliveries (broadcast_id, chat_id) VALUES (?, ?)",
            [(broadcast, c) for c in range(1, 6)],
        )
        assert await tx.fetchval("SELECT count(*) FROM deliveries") == 5  # its own rows, before the commit
        assert (await tx.fetchone("SELECT kind FROM broadcasts WHERE id = ?", (broadcast,)))[
            "kind"
        ] == "article"
        assert len(await tx.fetchall("SELECT * FROM deliveries WHERE status = 'pending'")) == 5
        tx.after_commit(lambda: committed.append("first"))
        assert committed == []
    assert committed == ["first"]
    assert await pg.fetchval("SELECT count(*) FROM deliveries") == 5

    with pytest.raises(RuntimeError, match="changed my mind"):
        async with pg.transaction() as tx:
            await tx.execute("DELETE FROM deliveries")
            tx.after_commit(lambda: committed.append("second"))
            raise RuntimeError("changed my mind")
    assert committed == ["first"]  # a rolled-back transaction calls nothing back
    assert await pg.fetchval("SELECT count(*) FROM deliveries") == 5

    # Foreign keys as on SQLite: deleting the broadcast deletes its deliveries.
    assert await pg.execute("DELETE FROM broadcasts WHERE id = ?", (broadcast,)) == 1
    assert await pg.fetchval("SELECT count(*) FROM deliveries") == 0


async def test_the_read_path_refuses_writes(pg: PgDatabase) -> None:
    """As SQLite's query_only readers do: a write sent down the read path is a bug, and it fails."""
    with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
        await pg.fetchval("INSERT INTO chats (chat_id) VALUES (1) RETURNING chat_id")
    assert await pg.fetchval("SELECT count(*) FROM chats") == 0


async def test_named_locks_serialise_transactions(pg: PgDatabase) -> None:
    """`tx.lock(name)`: a read-modify-write that SQLite's single writer made safe, made safe here."""
    await pg.execute("INSERT INTO send_hours (hour, sent) VALUES (0, 0)")

    async def add_one() -> None:
        async with pg.transaction() as tx:
            await tx.lock("send_hours")
            sent = await tx.fetchval("SELECT sent FROM send_hours WHERE hour = 0")
            await asyncio.sleep(0.01)  # let the others reach their read
            await tx.execute("UPDATE send_hours SET sent = ? WHERE hour = 0", (sent + 1,))

    await asyncio.gather(*(add_one() for _ in range(4)))
    assert await pg.fetchval("SELECT sent FROM send_hours WHERE hour = 0") == 4


# --- full-text search ------------------------------------------------------------------------------------


async def _article(pg: PgDatabase, title: str, body: str, published_at: str) -> int:
    async with pg.transaction() as tx:
        article_id = await tx.insert(
            "INSERT INTO articles (title, body, published_at, source) VALUES (?, ?, ?, 'import')",
            (title, body, published_at),
        )
        await tx.execute(
            "INSERT INTO articles_fts (rowid, title, body) VALUES (?, ?, ?)",  # the statement SQLite runs
            (article_id, fold_for_index(title), fold_for_index(body)),
        )
    return article_id


async def _search(pg: PgDatabase, words: str, limit: int = 10) -> list[int]:
    rows = await pg.fetchall(MATCH_SQL, (tsquery(query_tokens(words)), limit))
    return [row["id"] for row in rows]


async def test_search_folds_turkish_and_matches_every_word(pg: PgDatabase) -> None:
    in_body = await _article(pg, "Yerel haberler", "Çankırı'da deprem oldu.", "2024-05-02T08:00:00Z")
    in_title = await _article(pg, "ÇANKIRI'DA DEPREM", "Ayrıntılar geliyor.", "2024-05-01T08:00:00Z")
    other = await _article(
        pg, "Istanbul trafiği", "Köprüde yoğunluk var; A planı devrede.", "2024-05-03T08:00:00Z"
    )

    assert await _search(pg, "cankiri") == [in_title, in_body]  # newest first (by id), as on SQLite
    assert await _search(pg, "cankiri", limit=1) == [in_title]
    assert await _search(pg, "ÇANKIRI deprem") == [in_title, in_body]
    assert await _search(pg, "çank") == [in_title, in_body]  # a word of 2 letters or more is a prefix
    assert await _search(pg, "istanbul köprü") == [other]  # I → ı → i, ö → o
    assert await _search(pg, "cankiri istanbul") == []  # every word required
    assert await _search(pg, "a") == [other]  # one letter matches only itself, not Ayrıntılar
    # Nothing a reader types is tsquery syntax.
    assert await _search(pg, "deprem & | ! ( ) : * ' \\") == [in_title, in_body]
    strange = tsquery(["a'b\\c", "x:*|y", "(z)"])
    assert (
        await pg.fetchval(
            "SELECT count(*) FROM articles_fts WHERE document @@ to_tsquery('simple', $1)", (strange,)
        )
        == 0
    )

    await pg.execute("DELETE FROM articles WHERE id = ?", (in_body,))  # the index row goes with the article
    assert await _search(pg, "cankiri") == [in_title]
    assert await pg.fetchval("SELECT count(*) FROM articles_fts") == 2


# --- failures ------------------------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_no_server_is_one_line_without_the_password() -> None:
    url = f"postgresql://newsbot:s3cret-pw@127.0.0.1:{_closed_port()}/newsbot"
    with pytest.raises(DatabaseUnusable) as caught:
        await PgDatabase.open(url, connect_timeout=5)
    message = str(caught.value)
    assert "cannot connect" in message and "127.0.0.1" in message
    assert "s3cret-pw" not in message and "\n" not in message


async def test_not_a_postgresql_url_is_refused() -> None:
    with pytest.raises(DatabaseUnusable, match="not a postgresql:// URL"):
        await PgDatabase.open("mysql://localhost/newsbot")


async def test_a_missing_database_is_named(pg_url: str) -> None:
    missing = with_database(pg_url, "newsbot_no_such_database")
    with pytest.raises(DatabaseUnusable, match=r"newsbot_no_such_database.*does not exist"):
        await PgDatabase.open(missing)


async def test_a_dropped_connection_fails_the_statement_then_heals(pg: PgDatabase, pg_url: str) -> None:
    """The server ends our session mid-statement (restart, failover): StorageUnavailable, then work again."""
    sleeper = asyncio.create_task(pg.execute("SELECT pg_sleep(60)"))
    admin = await asyncpg.connect(pg_url)
    try:
        async with asyncio.timeout(30):
            while not await admin.fetchval(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE query = 'SELECT pg_sleep(60)' AND state = 'active'"
            ):
                await asyncio.sleep(0.02)
    finally:
        await admin.close()
    with pytest.raises(StorageUnavailable, match="database"):
        await sleeper
    # The pool connects again: nothing needs a restart.
    assert await pg.execute("INSERT INTO chats (chat_id) VALUES (?)", (1,)) == 1
    assert await pg.fetchval("SELECT count(*) FROM chats") == 1


async def test_a_bad_statement_is_a_bug_not_an_outage(pg: PgDatabase) -> None:
    """Only what passes becomes StorageUnavailable; a wrong statement keeps asyncpg's own error."""
    with pytest.raises(asyncpg.InterfaceError, match="expects 1 argument") as caught:
        await pg.write_fetchone("UPDATE chats SET title = $1 RETURNING chat_id")
    assert not isinstance(caught.value, StorageUnavailable)
    with pytest.raises(asyncpg.UndefinedTableError):
        await pg.execute("DELETE FROM no_such_table")
    with pytest.raises(asyncpg.UniqueViolationError):
        await pg.executemany("INSERT INTO chats (chat_id) VALUES (?)", [(1,), (1,)])
    assert await pg.fetchval("SELECT count(*) FROM chats") == 0  # the batch rolled back whole


async def test_a_closed_pool_is_unavailable_not_a_traceback(pg_url: str) -> None:
    db = await PgDatabase.open(pg_url)
    db.terminate()  # as a process losing its connections would
    with pytest.raises(StorageUnavailable):
        await db.execute("INSERT INTO chats (chat_id) VALUES (1)")
    with pytest.raises(StorageUnavailable):
        await db.fetchval("SELECT 1")


# --- the planner's view of the delivery queue --------------------------------------------------------


async def test_a_large_broadcast_renews_the_queues_statistics(pg_url: str) -> None:
    """Claims and pages of a just-queued broadcast are planned on its real size, not on old statistics."""
    from storage import Store
    from storage.outbox import ANALYZE_AFTER

    store = await Store.open(pg_url)
    try:
        await store.db.execute(
            "INSERT INTO chats (chat_id, chat_type, language_code, subscribed) "
            "SELECT g, 'private', 'tr', 1 FROM generate_series(1, $1::int) AS g",
            (ANALYZE_AFTER - 1,),
        )

        async def queue(ref: str) -> int:
            async with store.db.transaction() as tx:
                broadcast = await store.outbox.enqueue_audience(tx, "weather", ref, "subscribers")
            while not await store.outbox.fill(broadcast):
                pass
            return await store.db.fetchval(
                "SELECT count(*) FROM deliveries WHERE broadcast_id = ?", (broadcast,)
            )

        async def analyzed() -> bool:
            return await store.db.fetchval(
                "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables "
                "WHERE schemaname = current_schema() AND relname = 'deliveries'"
            )

        assert await queue("plate:small") == ANALYZE_AFTER - 1
        assert not await analyzed()  # a small broadcast costs no ANALYZE
        await store.db.execute("INSERT INTO chats (chat_id, chat_type, subscribed) VALUES (-5, 'group', 1)")
        assert await queue("plate:large") == ANALYZE_AFTER
        assert await analyzed()
    finally:
        await store.close()


async def test_a_large_weather_push_renews_the_queues_statistics(pg_url: str) -> None:
    """The morning push queues its readers in one statement per province: it renews them too."""
    from datetime import UTC, date, datetime

    from storage import Store
    from storage.models import Forecast
    from storage.outbox import ANALYZE_AFTER

    store = await Store.open(pg_url)
    try:
        today = date(2026, 3, 10)
        forecast = Forecast(34, today, 20.0, 10.0, 3, 10, datetime(2026, 3, 10, tzinfo=UTC))
        await store.weather.save_forecasts([forecast], keep_from=today)
        await store.db.execute(
            "INSERT INTO chats (chat_id, chat_type, province, weather_time) "
            "SELECT g, 'private', 34, '08:00' FROM generate_series(1, $1::int) AS g",
            (ANALYZE_AFTER,),
        )

        async def analyzed() -> bool:
            return await store.db.fetchval(
                "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables "
                "WHERE schemaname = current_schema() AND relname = 'deliveries'"
            )

        assert not await analyzed()
        assert await store.weather.enqueue_due(datetime(2026, 3, 10, 8, 5)) == {34: ANALYZE_AFTER}
        assert await analyzed()
    finally:
        await store.close()
