"""Feed articles get their language (operator, feed, page, default), section and breaking mark at ingest."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.arguments import ArticleOptions
from bot.ingest import FeedPoller, IngestLimits, feed_key
from bot.news.languages import AUTO
from bot.news.sections import SectionLabel
from bot.sources.fetch import FetchTimeouts
from storage import Store
from storage.sections import GENERAL
from tests.conftest import LOCAL_SITES
from tests.news_site import Item, NewsSite, article_page

FAST = IngestLimits(
    feed_timeouts=FetchTimeouts(connect=30, read=30, total=30),
    page_timeouts=FetchTimeouts(connect=30, read=30, total=30),
    feed_deadline=60,  # only bounds a hang: the first extraction in a process imports a lot
)
DAY = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)
PARAGRAPHS = [
    "The provincial governor announced on Monday that the new bridge over the river will open next spring.",
    "Construction began two years ago and employs more than three hundred workers from nearby villages.",
]


@pytest.fixture
async def store(tmp_path) -> AsyncIterator[Store]:
    store = await Store.open(tmp_path / "news.db")
    yield store
    await store.close()


@pytest.fixture
async def site() -> AsyncIterator[NewsSite]:
    async with NewsSite() as site:
        yield site


@pytest.fixture
async def poller(store: Store) -> AsyncIterator[FeedPoller]:
    session = FeedPoller.open_session(FAST, LOCAL_SITES)
    yield FeedPoller(store, session, interval=2, limits=FAST)
    await session.close()


def story(site: NewsSite, n: int, *, lang: str | None = None, page: bool = True) -> Item:
    """Item n; its page (declaring `lang`) is served unless page=False (then the feed's summary is kept)."""
    path = f"/news/{n}"
    if page:
        site.page(path, article_page(f"Story number {n}", PARAGRAPHS, DAY.date(), lang=lang))
    return Item(
        f"Story number {n}",
        link=site.url(path),
        guid=f"s{n}",
        summary="Summary.",
        published=DAY + timedelta(hours=n),
    )


async def add(poller: FeedPoller, url: str, options: ArticleOptions | None = None):
    key = feed_key(url)
    assert key is not None
    return await poller.add_feed(url, key, options)


async def stored(store: Store) -> list[tuple[str, str | None, int, bool]]:
    articles = sorted(await store.articles.latest(50), key=lambda a: a.id)
    return [(a.title, a.language, a.section_id, a.breaking) for a in articles]


async def test_the_feeds_own_language_is_normalised(poller, store, site):
    await add(poller, site.feed("/rss", [story(site, 1, lang="tr")], language="en-US"))
    assert await stored(store) == [("Story number 1", "en", GENERAL, False)], (
        "the feed's <language> before the page's"
    )


async def test_the_pages_html_lang_when_the_feed_declares_none_or_junk(poller, store, site):
    await add(poller, site.feed("/a", [story(site, 1, lang="en-GB"), story(site, 2)]))
    await add(poller, site.feed("/b", [story(site, 3, lang="tr-TR")], language="xx-<script>"))
    await add(poller, site.feed("/c", [story(site, 4, lang="de-<script>"), story(site, 5, page=False)]))
    assert await stored(store) == [
        ("Story number 1", "en", GENERAL, False),
        ("Story number 2", None, GENERAL, False),  # nothing declared: NEWSBOT_DEFAULT_LANGUAGE
        ("Story number 3", "tr", GENERAL, False),  # the feed's junk is ignored
        ("Story number 4", None, GENERAL, False),  # and the page's
        ("Story number 5", None, GENERAL, False),  # the page failed: the feed's summary, no language
    ]


async def test_the_operators_language_section_and_breaking_mark_win(poller, store, site):
    options = ArticleOptions("tr", SectionLabel("Ekonomi", "Economy", both=True), True)
    added = await add(poller, site.feed("/rss", [story(site, 1, lang="en")], language="en"), options)
    assert added.created and added.outcome is not None and added.outcome.error is None
    economy = added.section
    assert economy is not None and (economy.label_tr, economy.label_en) == ("Ekonomi", "Economy")
    assert (added.feed.language, added.feed.section_id, added.feed.breaking) == ("tr", economy.id, True)
    assert await stored(store) == [("Story number 1", "tr", economy.id, True)]


async def test_options_given_again_change_a_listed_feed_for_its_next_items(poller, store, site):
    url = site.feed("/rss", [story(site, 1, lang="en")])
    first = await add(poller, url, ArticleOptions("tr", SectionLabel("Spor", "Spor", both=False), True))
    sports = first.section
    assert sports is not None

    again = await add(poller, url + "/", ArticleOptions(section=SectionLabel("Spor", "Sports", both=True)))
    assert not again.created and again.changed and again.outcome is None
    assert again.section is not None and (again.section.id, again.section.label_en) == (sports.id, "Sports")
    assert (again.feed.language, again.feed.breaking) == ("tr", True), "options not given stay"

    same = await add(poller, url, ArticleOptions(breaking=True))
    assert not same.changed

    cleared = await add(poller, url, ArticleOptions(language=AUTO, breaking=False))
    assert cleared.changed and (cleared.feed.language, cleared.feed.section_id, cleared.feed.breaking) == (
        None, sports.id, False,
    )  # fmt: skip
    site.feed("/rss", [story(site, 2, lang="en"), story(site, 1, lang="en")])
    await poller.run_cycle()
    assert await stored(store) == [
        ("Story number 1", "tr", sports.id, True),  # stored articles keep what they had
        ("Story number 2", "en", sports.id, False),
    ]
