"""Full-text search: Turkish folding, ranking, hostile queries and the backfill of older articles."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.drafts import make_draft
from bot.publishing import publish
from bot.sources.links import fold_text
from storage import Store
from storage.database import available_migrations, split_statements
from tests.conversation import Reader

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
async def store(tmp_path) -> AsyncIterator[Store]:
    store = await seeded(tmp_path / "news.db")
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


async def test_newest_first_among_equals_and_paging(tmp_path):
    store = await Store.open(tmp_path / "news.db")
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
    words = fold_text(query).split()
    for article in results:
        indexed = fold_text(article.title + " " + article.body).split()
        assert all(any(w.startswith(word) for w in indexed) for word in words[:12])
    if not words:
        assert results == []


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
