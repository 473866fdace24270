"""Full-text search: Turkish folding, ranking, hostile queries and the backfill of older articles."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.drafts import make_draft
from bot.publishing import publish
from bot.sources.links import fold_text
from storage import Store
from storage.articles import SearchLimits, SearchTooCostly
from storage.database import TooMuchWork, available_migrations, split_statements
from storage.fulltext import MAX_QUERY_TOKENS, fold_for_index, match_expression, query_tokens
from storage.identity import text_key
from tests.conversation import Reader
from tests.test_sharing import inline

pytestmark = pytest.mark.backends  # on SQLite (FTS5) and PostgreSQL (tsvector): the same answers

ARTICLES = [
    (
        "Çankırı'da kar yağışı yolları kapattı",
        "Çankırı ve ilçelerinde kar kalınlığı 40 santimetreyi buldu.",
        1,
    ),
    ("İstanbul'da toplu taşıma ücretsiz", "Bayram boyunca İstanbul'da otobüsler ücretsiz olacak.", 2),
    ("İSTANBUL BOĞAZI GEMİ TRAFİĞİNE KAPANDI", "Sis nedeniyle boğazda gemi geçişleri durduruldu.", 3),
    ("Diaspora organizations issued a statement", "The statement reads: we are surprised by Istanbul.", 4),
    ("Ankara'da yeni köprü", "Köprü gelecek bahar açılacak; Çankırı yolu rahatlayacak.", 5),
]


async def seeded(path) -> Store:
    store = await Store.open(path)
    for title, body, day in ARTICLES:
        draft = make_draft(
            title=title, body=body, published=datetime(2024, 1, day, tzinfo=UTC), source="import"
        )
        await publish(store, draft)
    return store


@pytest.fixture
async def store(database) -> AsyncIterator[Store]:
    store = await seeded(database)
    yield store
    await store.close()


async def found(store: Store, query: str, limit: int = 10) -> list[str]:
    return [a.title for a in await store.articles.search(query, limit=limit)]


async def test_turkish_letters_fold_both_ways(store):
    assert await found(store, "cankiri") == [
        "Çankırı'da kar yağışı yolları kapattı",
        "Ankara'da yeni köprü",
    ], "a headline match ranks above a body match"
    istanbul = await found(store, "ISTANBUL")
    assert (
        "İstanbul'da toplu taşıma ücretsiz" in istanbul
        and "İSTANBUL BOĞAZI GEMİ TRAFİĞİNE KAPANDI" in istanbul
    )
    assert set(await found(store, "istanbul")) == set(istanbul) == set(await found(store, "İSTANBUL"))
    assert await found(store, "BOĞAZ gemi") == ["İSTANBUL BOĞAZI GEMİ TRAFİĞİNE KAPANDI"]
    assert await found(store, "bogazi") == await found(store, "Boğazı")


async def test_words_are_prefixes_and_all_must_match(store):
    assert await found(store, "statem") == ["Diaspora organizations issued a statement"]
    assert await found(store, "köprü bahar") == ["Ankara'da yeni köprü"]
    assert await found(store, "köprü kar") == []


async def test_newest_first_among_equals_and_paging(database):
    store = await Store.open(database)
    for day in (1, 3, 2):
        draft = make_draft(
            title=f"Gündem {day}", body="Aynı metin.", published=datetime(2024, 1, day), source="x"
        )
        await publish(store, draft)
    assert await found(store, "gundem") == ["Gündem 3", "Gündem 2", "Gündem 1"]
    page = await store.articles.search("gundem", limit=2, offset=2)
    assert [a.title for a in page] == ["Gündem 1"] and await store.articles.count_matches("gundem") == 3
    await store.close()


HOSTILE = [
    "",
    "   ",
    '"',
    '"unterminated',
    "a OR b",
    "NOT istanbul",
    "istanbul AND",
    "*",
    "ist*",
    "NEAR(istanbul gemi, 2)",
    "title:istanbul",
    "'; DROP TABLE articles; --",
    "^istanbul",
    "x" * 4000,
    "istanbul " * 800,
    "🔥🔥🔥",
    "(",
    ")",
    "-istanbul",
    "\x00",
]


@pytest.mark.parametrize("query", HOSTILE)
async def test_hostile_queries_never_reach_fts5_as_syntax(store, query):
    results = await store.articles.search(query, limit=5)
    assert await store.articles.count_matches(query) >= len(results)
    assert await store.articles.count() == len(ARTICLES)


async def test_operators_are_words_not_syntax(store):
    assert await found(store, "NOT istanbul") == [], "NOT is a word the articles do not contain"
    assert len(await found(store, "'; DROP TABLE articles; --")) == 0


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=st.text(max_size=60))
async def test_any_text_gets_results_only_when_every_word_matches(store, query):
    results = await store.articles.search(query, limit=10)
    words = list(dict.fromkeys(fold_text(query).split()))[:MAX_QUERY_TOKENS]
    for article in results:
        indexed = fold_text(article.title + " " + article.body).split()
        assert all(any(w.startswith(word) if len(word) > 1 else w == word for w in indexed) for word in words)
    if not words:
        assert results == []


@pytest.mark.sqlite_only
async def test_articles_from_before_the_search_migration_are_indexed_at_start(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as old:
        old.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
            " applied_at TEXT NOT NULL DEFAULT '')"
        )
        for version, name, script in available_migrations():
            if version < 3:
                for statement in split_statements(script):
                    old.execute(statement)
                old.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", (version, name))
        old.execute(
            "INSERT INTO articles (title, body, published_at, source) "
            "VALUES ('Iğdır''da sel', 'Eski haber.', '2020-01-01T00:00:00+00:00', 'import')"
        )
    store = await Store.open(path)
    assert await found(store, "igdir") == ["Iğdır'da sel"]
    assert await store.articles.index_missing() == 0, "indexed once"
    await store.close()


async def test_search_in_the_chat_answers_in_the_readers_language(
    app, reader: Reader, english_reader: Reader
):
    store = app.bot_data.store
    for title, body, day in ARTICLES:
        draft = make_draft(
            title=title, body=body, published=datetime(2024, 1, day, tzinfo=UTC), source="import"
        )
        await publish(store, draft)
    answer = (await reader.says("/search cankiri")).plain
    assert "2 haber" in answer and "Çankırı'da kar yağışı" in answer and "1 Ocak 2024" in answer
    assert "/article 1" in answer
    english = (await english_reader.says("/search ISTANBUL")).plain
    assert "3 articles" in english and "İstanbul'da toplu taşıma" in english
    assert "No articles match" in (await english_reader.says("/search zzzz")).plain
    for odd in ("/search", "/search 🔥", '/search "', "/search NEAR(", "/search " + "ş" * 4000):
        assert (await reader.says(odd)).plain
    assert "birkaç kelimeyle" in (await reader.says("/search 🔥")).plain


async def test_one_letter_words_match_whole_words_only(database):
    store = await Store.open(database)
    for title, body in (("İstanbul'da kar", "Okullar tatil."), ("O gün", "Vapur a rıhtımdan kalktı.")):
        await publish(store, make_draft(title=title, body=body, published=datetime(2024, 1, 1), source="x"))
    assert match_expression(["i", "is", "o"]) == '"i" "is"* "o"'
    assert await found(store, "i") == [], "no article has the word i; as a prefix it would match both"
    assert await found(store, "İs") == ["İstanbul'da kar"], "two letters are a prefix"
    assert await found(store, "o") == ["O gün"] and await found(store, "a") == ["O gün"]
    assert await found(store, "o k") == [], "k is no word of either article"
    await store.close()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=256))
@example(text="a b c d e f g h i j k l")
@example(text='" OR * NEAR( ) ^ - : AND NOT "" ' * 8)
@example(text="ᦰ ᦰa aᦰ \u200b \x00 İı ǅ ß ﬁ ½ ²")
async def test_any_inline_query_is_a_bounded_valid_fts5_query(store, text):
    tokens = query_tokens(text)
    assert len(tokens) <= MAX_QUERY_TOKENS == 8
    expression = match_expression(tokens)
    prefixes = [phrase for phrase in expression.split(" ") if phrase.endswith("*")]
    assert all(len(phrase) >= len('"ab"*') for phrase in prefixes), "prefixes have 2 characters or more"
    assert len(expression.split(" ")) == len(tokens) if tokens else expression == ""
    if tokens:  # FTS5 (or PostgreSQL's tsquery) itself accepts it: no syntax error, whatever the reader typed
        dialect = store.db.dialect
        await store.db.fetchall(dialect.search_sql, dialect.search_args(tokens, 10))
    page = await store.articles.find(text, limit=20)
    assert page.total >= len(page.articles)


async def test_a_search_over_its_budget_gets_a_short_answer_never_a_traceback(app, reader: Reader, backend):
    store = app.bot_data.store
    for title, body, day in ARTICLES:
        draft = make_draft(title=title, body=body, published=datetime(2024, 1, day, tzinfo=UTC), source="x")
        await publish(store, draft)
    assert "2 haber" in (await reader.says("/search cankiri")).plain
    # Stopped by SQLite at its first step; PostgreSQL counts no steps: no time at all stops it there.
    store.articles.limits = SearchLimits(steps=1) if backend == "sqlite" else SearchLimits(seconds=0)
    with pytest.raises(SearchTooCostly):
        await store.articles.search("cankiri", limit=5)
    answer = (await reader.says("/search cankiri")).plain
    assert "araması çok uzun sürer" in answer and "Daha az ya da daha uzun kelimelerle" in answer
    assert (await inline(reader, "cankiri")).results == []
    store.articles.limits = SearchLimits(seconds=0)  # no time at all: not even started
    assert "araması çok uzun sürer" in (await reader.says("/search istanbul")).plain
    store.articles.limits = SearchLimits()
    assert "2 haber" in (await reader.says("/search cankiri")).plain, "the reader connections work as before"
    assert len((await inline(reader, "istanbul")).results) == 3


async def test_broad_searches_rank_the_newest_matches_and_say_so(app, reader: Reader, english_reader):
    store = app.bot_data.store
    for title, body, day in ARTICLES:
        draft = make_draft(title=title, body=body, published=datetime(2024, 1, day, tzinfo=UTC), source="x")
        await publish(store, draft)
    store.articles.limits = SearchLimits(considered=2)  # 3 articles match "istanbul": only the newest 2
    page = await store.articles.find("istanbul", limit=5)
    assert [a.title for a in page.articles] == [
        "İSTANBUL BOĞAZI GEMİ TRAFİĞİNE KAPANDI",  # headline match first
        "Diaspora organizations issued a statement",
    ]
    assert page.total == 2 and page.more
    assert await store.articles.search("istanbul", limit=5, offset=2) == [], "no pages past them"
    assert await store.articles.count_matches("istanbul") == 2
    page = await store.articles.find("cankiri", limit=1)
    assert page.total == 2 and not page.more and len(page.articles) == 1
    answer = (await reader.says("/search istanbul")).plain
    assert "“istanbul” için 2+ haber · en yeni 2 haberin en iyi 2 tanesi" in answer, answer
    answer = (await english_reader.says("/search istanbul")).plain
    assert "2+ articles for “istanbul” · the best 2 of the newest 2" in answer, answer


async def test_a_stopped_search_leaves_its_reader_as_it_was(store, backend):
    with pytest.raises(TooMuchWork):
        if backend == "sqlite":  # stopped after its first VM steps
            async with store.db.bounded_reads(steps=1, seconds=10) as reads:
                await reads.fetchall("SELECT count(*) FROM articles_fts WHERE articles_fts MATCH 'istanbul*'")
        else:  # stopped by the server's statement_timeout (at least BOUNDED_MIN_SECONDS)
            async with store.db.bounded_reads(steps=1, seconds=0.01) as reads:
                await reads.fetchall("SELECT pg_sleep(60)")
    for _ in range(4):  # every reader in the pool, several times: no progress handler stops them now
        assert await store.db.fetchval("SELECT count(*) FROM articles a, articles b, articles c") == 125
    async with store.db.bounded_reads(steps=1_000_000, seconds=10) as reads:
        assert (await reads.fetchall("SELECT count(*) FROM articles"))[0][0] == len(ARTICLES)


@pytest.mark.sqlite_only
async def test_the_prefix_index_is_added_to_an_older_database(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as old:
        old.create_function("newsbot_text_key", 2, text_key, deterministic=True)
        old.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
            " applied_at TEXT NOT NULL DEFAULT '')"
        )
        for version, name, script in available_migrations():
            if version < 10:
                for statement in split_statements(script):
                    old.execute(statement)
                old.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", (version, name))
        for title, body, day in ARTICLES:
            row = old.execute(
                "INSERT INTO articles (title, body, published_at, source) VALUES (?, ?, ?, 'import')",
                (title, body, f"2024-01-0{day}T00:00:00+00:00"),
            )
            old.execute(
                "INSERT INTO articles_fts (rowid, title, body) VALUES (?, ?, ?)",
                (row.lastrowid, fold_for_index(title), fold_for_index(body)),
            )
    store = await Store.open(path)
    schema = await store.db.fetchval("SELECT sql FROM sqlite_master WHERE name = 'articles_fts'")
    assert "prefix = '2 3'" in schema
    leftovers = "SELECT count(*) FROM sqlite_master WHERE name LIKE 'articles_fts_old%'"
    assert await store.db.fetchval(leftovers) == 0
    await store.db.execute("INSERT INTO articles_fts (articles_fts) VALUES ('integrity-check')")
    assert await found(store, "cankiri") == [
        "Çankırı'da kar yağışı yolları kapattı",
        "Ankara'da yeni köprü",
    ], "the folded text came along, ranking as before"
    assert len(await found(store, "is")) == 3, "2-letter prefixes from the index"
    await store.db.execute("DELETE FROM articles WHERE title LIKE 'Ankara%'")
    assert await found(store, "cankiri") == ["Çankırı'da kar yağışı yolları kapattı"], "the trigger works"
    assert await store.db.fetchval("SELECT count(*) FROM articles_fts") == len(ARTICLES) - 1
    draft = make_draft(title="Kars'ta kar", body="Yeni.", published=datetime(2024, 2, 1), source="x")
    await publish(store, draft)
    assert await found(store, "kars") == ["Kars'ta kar"], "new articles are indexed as before"
    await store.close()
