"""Sections and article metadata in storage; databases from before migration 0012 keep working."""

from __future__ import annotations

from datetime import UTC, datetime

import storage.database as storage_database
from bot.drafts import make_draft
from bot.publishing import publish
from storage import Store
from storage.models import Section
from storage.sections import GENERAL

GENERAL_SECTION = Section(GENERAL, "general", "Genel", "General")


async def test_a_section_is_created_once_whatever_label_or_spelling_names_it(tmp_path):
    store = await Store.open(tmp_path / "news.db")
    try:
        economy, created = await store.sections.ensure("Ekonomi", "Economy")
        assert created and (economy.label_tr, economy.label_en) == ("Ekonomi", "Economy")
        for tr, en in (
            ("EKONOMİ", "EKONOMİ"),
            ("ekonomi", "ekonomi"),
            ("Economy", "Economy"),
            ("Ekonomı", "x"),
        ):
            same, created = await store.sections.ensure(tr, en)
            assert (same, created) == (economy, False), (tr, en)
        sports, created = await store.sections.ensure("Spor", "Spor")
        assert created and sports.id != economy.id
        assert (await store.sections.ensure("Genel", "Genel"))[0] == GENERAL_SECTION
        assert (await store.sections.ensure("general", "general"))[0] == GENERAL_SECTION

        renamed, changed = await store.sections.ensure("Spor", "Sports", rename=True)
        assert changed and (renamed.id, renamed.label_tr, renamed.label_en) == (sports.id, "Spor", "Sports")
        assert (await store.sections.ensure("Sports", "Sports"))[0] == renamed
        assert (await store.sections.ensure("Spor", "Sports", rename=True))[1] is False, "nothing to rename"
        assert [s.id for s in await store.sections.all()] == [GENERAL, economy.id, sports.id]
        assert (
            renamed.label("tr") == "Spor"
            and renamed.label("en") == "Sports"
            and renamed.label("de") == "Sports"
        )
    finally:
        await store.close()


async def test_readers_see_the_sections_that_have_a_feed_or_an_article(tmp_path):
    store = await Store.open(tmp_path / "news.db")
    try:
        assert await store.sections.in_use() == []
        economy, _ = await store.sections.ensure("Ekonomi", "Economy")
        sports, _ = await store.sections.ensure("Spor", "Sports")
        await store.sections.ensure("Boş", "Empty")
        assert await store.sections.in_use() == []

        feed, _ = await store.feeds.add(
            "https://x.example/rss", "https://x.example/rss", section_id=economy.id
        )
        assert await store.sections.in_use() == [economy]
        draft = make_draft(
            title="Derbi", body="Bu akşam.", published=datetime(2024, 5, 1, tzinfo=UTC), source="telegram",
            language="tr", section_id=sports.id, breaking=True,
        )  # fmt: skip
        article = (await publish(store, draft)).article
        assert (article.language, article.section_id, article.breaking) == ("tr", sports.id, True)
        assert await store.articles.get(article.id) == article
        general = make_draft(title="Duyuru", body="Metin.", published=None, source="telegram")
        await publish(store, general)
        assert await store.sections.in_use() == [GENERAL_SECTION, economy, sports]

        await store.feeds.remove(feed.url)
        assert await store.sections.in_use() == [GENERAL_SECTION, sports], "no feed, no article: gone"
    finally:
        await store.close()


async def test_a_database_from_before_migration_0012_keeps_its_articles_and_feeds(tmp_path, monkeypatch):
    path = tmp_path / "news.db"
    everything = storage_database.available_migrations
    monkeypatch.setattr(
        storage_database, "available_migrations", lambda: [m for m in everything() if m[0] < 12]
    )
    old = await Store.open(path)
    await old.db.execute(
        "INSERT INTO feeds (url, url_key, title, primed) VALUES (?, ?, 'Gündem', 1)",
        ("https://x.example/rss", "https://x.example/rss"),
    )
    for n, source in ((1, "feed"), (2, "telegram"), (3, "import")):
        await old.db.execute(
            "INSERT INTO articles (title, body, guid, published_at, source, feed_id) "
            "VALUES (?, 'Metin.', ?, '2024-03-12T05:00:00+00:00', ?, ?)",
            (f"Haber {n}", f"g{n}", source, 1 if source == "feed" else None),
        )
    await old.close()
    monkeypatch.undo()

    store = await Store.open(path)
    try:
        assert {12, 13} <= set(await store.db.applied_migrations())
        articles = await store.articles.latest(10)
        assert [(a.title, a.language, a.section_id, a.breaking) for a in articles] == [
            ("Haber 3", None, GENERAL, False),
            ("Haber 2", None, GENERAL, False),
            ("Haber 1", None, GENERAL, False),
        ], "language NULL is the default language; everything is General and not breaking"
        [status] = await store.feeds.statuses()
        feed = status.feed
        assert (feed.title, feed.primed, feed.language, feed.section_id, feed.breaking) == (
            "Gündem", True, None, GENERAL, False,
        )  # fmt: skip
        assert status.section == GENERAL_SECTION and status.article_count == 1
        assert await store.sections.in_use() == [GENERAL_SECTION]
        new = await publish(store, make_draft(title="Yeni", body="Metin.", published=None, source="telegram"))
        assert new.created and new.article.id == 4
    finally:
        await store.close()
