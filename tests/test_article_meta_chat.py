"""Operators give /post and /feeds a language, a section and a breaking mark in Telegram."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from storage.sections import GENERAL
from tests.conftest import ADMIN_ID
from tests.conversation import Reader
from tests.fake_telegram import make_user, photo_update
from tests.news_site import Item, NewsSite, article_page
from tests.test_photos import make_png

PARAGRAPHS = ["A statement long enough to be an article body, with a second clause for good measure here."]


@pytest.fixture
async def site() -> AsyncIterator[NewsSite]:
    async with NewsSite() as site:
        yield site


def item(site: NewsSite, n: int, lang: str | None = None) -> Item:
    page = article_page(f"Haber {n}", PARAGRAPHS, datetime(2024, 5, n).date(), lang=lang)
    link = site.page(f"/news/{n}", page)
    return Item(f"Haber {n}", link=link, guid=f"n{n}", published=datetime(2024, 5, n, tzinfo=UTC))


async def test_post_takes_a_language_a_section_and_a_breaking_mark(
    admin: Reader, reader: Reader, english_reader: Reader, app, telegram
):
    store = app.bot_data.store
    await reader.says("/subscribe")
    await english_reader.says("/subscribe")
    plain = (await admin.says("/post Valilikten açıklama\nOkullar yarın tatil.")).plain
    assert "Published as #1: Valilikten açıklama" in plain and "Language tr · section Genel/General" in plain
    assert "breaking" not in plain

    plain = (await admin.says("/post! Deprem\nSakin olun.")).plain
    assert "Published as #2: Deprem" in plain and "⚡ breaking news" in plain

    plain = (
        await admin.says('/post --breaking lang=en section="Spor/Sports" Derby tonight\nKick-off at 20:00.')
    ).plain
    assert (
        "Published as #3: Derby tonight" in plain
        and "Language en · section Spor/Sports · ⚡ breaking" in plain
    )

    plain = (await admin.says("/post lang=en-GB section=sports\nWeekly round-up\nAll the results.")).plain
    assert "Published as #4: Weekly round-up" in plain and "section Spor/Sports" in plain

    articles = [await store.articles.get(n) for n in (1, 2, 3, 4)]
    sports = articles[2].section_id
    assert sports != GENERAL
    assert [(a.title, a.language, a.section_id, a.breaking) for a in articles] == [
        ("Valilikten açıklama", None, GENERAL, False),
        ("Deprem", None, GENERAL, True),
        ("Derby tonight", "en", sports, True),
        ("Weekly round-up", "en", sports, False),
    ]
    assert [s.label_en for s in await store.sections.in_use()] == ["General", "Sports"]
    # Routing reads what /post stored: each reader gets the statements in their own language.
    *_, first, second = await telegram.wait_for_messages(3, chat_id=reader.chat_id)
    assert (first.plain.splitlines()[0], second.plain.splitlines()[0]) == ("Valilikten açıklama", "Deprem")
    *_, third, fourth = await telegram.wait_for_messages(3, chat_id=english_reader.chat_id)
    assert (third.plain.splitlines()[0], fourth.plain.splitlines()[0]) == ("Derby tonight", "Weekly round-up")


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("/post lang=xx-<script> Başlık\nMetin", "Unknown language: xx-<script>"),
        ("/post lng=en Başlık\nMetin", "Unknown option: lng=en"),
        ('/post section="' + "Ekonomi" * 500 + '" Başlık\nMetin', "Not a section: EkonomiEkonomiEkonomi"),
        ("/post section=a/b/c Başlık\nMetin", "Not a section: a/b/c"),
    ],
)
async def test_a_hostile_or_mistyped_post_option_gets_a_short_answer_and_publishes_nothing(
    admin: Reader, app, telegram, text, answer
):
    sent = await admin.says(text)
    assert sent.plain.startswith(answer) and len(sent.plain) < 400
    assert await app.bot_data.store.articles.count() == 0
    assert await app.bot_data.store.sections.all() == [await app.bot_data.store.sections.get(GENERAL)]


async def test_feeds_add_takes_options_shows_them_and_changes_them(admin: Reader, app, site):
    store = app.bot_data.store
    url = site.feed("/rss", [item(site, 1, lang="tr")], language="tr")
    plain = (await admin.says(f'/feeds add {url} language=en section="Ekonomi/Economy" breaking')).plain
    assert "stored 1 article without sending them" in plain
    assert "Language en · section Ekonomi/Economy · ⚡ breaking news" in plain
    [article] = await store.articles.latest(1)
    economy = article.section_id
    assert (article.language, article.breaking) == ("en", True) and economy != GENERAL

    other = site.feed("/other", [item(site, 2, lang="en-US")])
    assert (
        "Language detected · section Genel/General\n"
        in (await admin.says(f"/feeds add {other}")).plain + "\n"
    )
    listing = (await admin.says("/feeds")).plain
    assert "Language en · section Ekonomi/Economy · ⚡ breaking news" in listing
    assert "Language detected · section Genel/General" in listing

    plain = (await admin.says(f"/feeds add {url} language=auto breaking=off")).plain
    assert plain.startswith(f"Updated {url}") and "Language detected · section Ekonomi/Economy" in plain
    assert "breaking" not in plain
    assert "Nothing to change" in (await admin.says(f"/feeds add {url} breaking=no")).plain
    assert "already in the list" in (await admin.says(f"/feeds add {url}")).plain
    [status, _other] = await store.feeds.statuses()
    assert (status.feed.language, status.feed.section_id, status.feed.breaking) == (None, economy, False)
    assert [(a.title, a.language) for a in await store.articles.latest(5)] == [
        ("Haber 2", "en"),
        ("Haber 1", "en"),
    ]


@pytest.mark.parametrize(
    ("options", "answer"),
    [
        ("language=xx-<script>", "Unknown language: xx-<script>"),
        ("section=" + "x" * 3000, "Not a section: xxxxxxxx"),
        ("breaking=maybe", "Unknown option: breaking=maybe"),
        ("tomorrow", "Unknown option: tomorrow"),
    ],
)
async def test_hostile_feed_options_are_refused_before_anything_is_fetched(
    admin: Reader, app, site, options, answer
):
    url = site.feed("/rss", [item(site, 1)])
    sent = await admin.says(f"/feeds add {url} {options}")
    assert sent.plain.startswith(answer) and len(sent.plain) < 300
    assert await app.bot_data.store.feeds.statuses() == [] and site.requests == []


async def test_a_list_of_feeds_with_the_longest_everything_fits_telegrams_limits(
    admin: Reader, app, telegram
):
    store = app.bot_data.store
    section, _ = await store.sections.ensure("Ş" * 40, "W" * 40)
    for n in range(20):
        url = f"https://feeds.example/{n}/" + "x" * 300
        feed, _ = await store.feeds.add(url, url, language="en", section_id=section.id, breaking=True)
        await store.feeds.record_success(feed.id, now=1.7e9, title="T" * 300, etag=None, last_modified=None)
        await store.feeds.record_failure(feed.id, now=1.7e9, error="E" * 400, next_fetch_at=2e9)
    answers = await admin.send("/feeds")
    assert len(answers) == 3 and not telegram.violations
    assert sum(answer.plain.count("⚡ breaking news") for answer in answers) == 20


async def test_a_breaking_statement_with_a_photo_keeps_its_options(app, telegram):
    admin = make_user(ADMIN_ID, first_name="Operator", language_code="en")
    sizes = telegram.user_photo(make_png(), ADMIN_ID)
    caption = '/post! section="Gündem/Agenda" Fotoğraflı açıklama\nValilik bugün bir açıklama yaptı.'
    [answer] = await Reader(app, telegram, ADMIN_ID, language_code="en").deliver(
        photo_update(admin, caption, sizes)
    )
    assert "Published as #1" in answer.plain and "Gündem/Agenda · ⚡ breaking news" in answer.plain
    article = await app.bot_data.store.articles.get(1)
    assert (article.title, article.breaking, article.photo_file_id) == (
        "Fotoğraflı açıklama",
        True,
        sizes[-1]["file_id"],
    )
