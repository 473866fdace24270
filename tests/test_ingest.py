"""The feed poller against a local news site: once, silently at first, and whatever the feeds do."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bot.clock import in_istanbul
from bot.ingest import FeedPoller, IngestLimits, feed_key
from bot.sources.fetch import FetchTimeouts
from storage import Store
from storage.models import Feed
from tests.conftest import LOCAL_SITES
from tests.news_site import Item, NewsSite, article_page

FIXTURES = Path(__file__).parent / "fixtures"
# Feeds that hang or trickle are cut off in seconds; nothing here should trip on a busy machine.
FAST = IngestLimits(
    feed_timeouts=FetchTimeouts(connect=30, read=1.5, total=3),
    page_timeouts=FetchTimeouts(connect=30, read=30, total=30),
    feed_max_bytes=2_000_000,
    feed_deadline=60,  # only bounds a hang: the first extraction in a process imports a lot
    backoff_cap=60,
)
DAY = datetime(2023, 7, 31, 9, 0, tzinfo=UTC)
PARAGRAPHS = [
    "The provincial governor announced on Monday that the new bridge over the river will open next spring.",
    "Construction began two years ago and employs more than three hundred workers from nearby villages.",
]


@pytest.fixture
async def store(tmp_path) -> AsyncIterator[Store]:
    store = await Store.open(tmp_path / "news.db")
    await store.chats.touch(1, "private", "tr")
    await store.chats.subscribe(1)
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


def story(site: NewsSite, n: int, *, guid: bool = True, **overrides: object) -> Item:
    """Item n with its page served by the site."""
    link = site.page(f"/news/{n}", article_page(f"Story number {n}", PARAGRAPHS, DAY.date()))
    fields = {
        "title": f"Story number {n}",
        "link": link,
        "guid": f"story-{n}" if guid else None,
        "summary": f"Summary of story {n}.",
        "published": DAY + timedelta(hours=n),
    }
    fields.update(overrides)
    return Item(**fields)


@given(st.one_of(st.text(), st.text().map(lambda rest: "http://" + rest), st.from_regex(r"https?://\S*")))
@example("http://[abc")
@example("https://[::1")
@example("http://example.com:99999/rss")
@example("http://example.com:0/rss")
@example("http://example.com:-1/rss")
@example("http://]x[/rss")
def test_feed_key_is_a_key_or_none_never_an_exception(text: str) -> None:
    key = feed_key(text)
    assert key is None or key.lower().startswith(("http://", "https://"))
    if key is not None:
        assert feed_key(key) == key, "a key is its own key"


@pytest.mark.parametrize(
    "url", ["http://[abc", "http://[abc]/rss", "http://example.com:99999/rss", "http://example.com:0/rss"]
)
def test_a_malformed_feed_url_has_no_key(url: str) -> None:
    assert feed_key(url) is None


async def add(poller: FeedPoller, url: str) -> Feed:
    key = feed_key(url)
    assert key is not None
    feed, created = await poller.store.feeds.add(url, key)
    assert created
    return feed


async def announced(store: Store) -> list[str]:
    rows = await store.db.fetchall(
        "SELECT a.title FROM broadcasts b JOIN articles a ON a.id = CAST(b.ref AS INTEGER) "
        "WHERE b.kind = 'article' ORDER BY b.id"
    )
    return [row[0] for row in rows]


async def titles(store: Store) -> list[str]:
    return [row[0] for row in await store.db.fetchall("SELECT title FROM articles ORDER BY id")]


async def test_first_fetch_is_silent_then_each_new_item_is_announced_once(poller, store, site):
    items = [story(site, n) for n in (3, 2, 1)]
    feed = await add(poller, site.feed("/rss", items))
    [outcome] = await poller.run_cycle()
    assert outcome.new_articles == 3 and not outcome.announced and outcome.error is None
    assert await titles(store) == ["Story number 1", "Story number 2", "Story number 3"], "oldest first"
    assert await announced(store) == [] and await store.outbox.pending_count() == 0

    site.feed("/rss", [story(site, 4), *items])
    await poller.run_cycle()
    await poller.run_cycle()
    assert await announced(store) == ["Story number 4"]
    assert await store.outbox.pending_count() == 1, "one delivery for the one subscriber"
    assert (await store.feeds.get(feed.id)).primed


async def test_the_full_text_comes_from_the_page_and_known_items_are_not_fetched_again(poller, store, site):
    site.feed("/rss", [story(site, 1)])
    await add(poller, site.url("/rss"))
    await poller.run_cycle()
    site.feed("/rss", [story(site, 2), story(site, 1)])
    await poller.run_cycle()
    assert len(site.seen("/news/1")) == 1 and len(site.seen("/news/2")) == 1
    article = (await store.articles.latest(1))[0]
    assert article.body == "\n\n".join(PARAGRAPHS), "the page's text, without its furniture"
    assert article.source == "feed" and article.url == site.url("/news/2")


async def test_conditional_get_gets_a_304_and_changes_nothing(poller, store, site):
    site.feed("/rss", [story(site, 1)])
    await add(poller, site.url("/rss"))
    await poller.run_cycle()
    [outcome] = await poller.run_cycle()
    first, second = site.seen("/rss")
    assert "If-None-Match" not in first.headers
    assert second.headers["If-None-Match"] == first_etag(site) and second.status == 304
    assert outcome.not_modified and outcome.error is None
    assert len(site.seen("/news/1")) == 1 and await store.articles.count() == 1


def first_etag(site: NewsSite) -> str:
    import hashlib

    return '"' + hashlib.sha1(site.resources["/rss"].body).hexdigest()[:16] + '"'


async def test_tracking_parameters_and_missing_guids_do_not_duplicate(poller, store, site):
    item = story(site, 1, guid=False)
    tracked = Item(item.title + " (campaign)", link=item.link + "?utm_source=rss&fbclid=x", guid="cmp-1")
    await add(poller, site.feed("/a", [item]))
    await add(poller, site.feed("/b", [tracked]))
    no_link = Item("Statement without a link", summary="The text of a statement that has no page of its own.")
    await add(poller, site.feed("/c", [no_link]))
    await poller.run_cycle()
    for _ in range(3):  # the feeds change (new ETag), the guid-less items stay the same articles
        site.feed("/a", [item, story(site, 9)])
        site.feed("/c", [no_link, Item("Another", summary="Another statement without a link or guid.")])
        site.feed("/b", [tracked, story(site, 8)])
        await poller.run_cycle()
    assert sorted(await titles(store)) == sorted(
        ["Story number 1", "Statement without a link", "Story number 9", "Another", "Story number 8"]
    )
    assert len(site.seen("/news/1")) == 1


async def test_an_item_that_drops_out_and_comes_back_is_not_new(poller, store, site):
    one, two = story(site, 1), story(site, 2)
    await add(poller, site.feed("/rss", [two, one]))
    await poller.run_cycle()
    site.feed("/rss", [two])
    await poller.run_cycle()
    site.feed("/rss", [two, one])
    await poller.run_cycle()
    assert await store.articles.count() == 2 and await announced(store) == []


async def test_guids_are_only_unique_within_their_feed(poller, store, site):
    await add(poller, site.feed("/a", [Item("Ankara news", guid="1", summary="From feed A.", published=DAY)]))
    await add(poller, site.feed("/b", [Item("İzmir news", guid="1", summary="From feed B.", published=DAY)]))
    await add(poller, site.feed("/c", [Item("Same", guid="tag:site.example,2023:1", summary="s")]))
    await add(poller, site.feed("/d", [Item("Same again", guid="tag:site.example,2023:1", summary="s")]))
    await poller.run_cycle()
    found = await titles(store)
    assert sorted(t for t in found if not t.startswith("Same")) == ["Ankara news", "İzmir news"]
    assert len([t for t in found if t.startswith("Same")]) == 1, "feeds /c and /d are polled concurrently"


async def test_when_the_page_fails_the_feed_summary_is_kept(poller, store, site):
    item = Item(
        "Headline from the feed",
        link=site.url("/gone"),
        guid="g",
        summary="Summary from the feed.",
        published=DAY,
    )
    await add(poller, site.feed("/rss", [item]))
    await poller.run_cycle()
    [article] = await store.articles.latest(1)
    assert (article.title, article.body, article.published_at) == (
        "Headline from the feed",
        "Summary from the feed.",
        DAY,
    )


async def test_hostile_feeds_are_isolated_and_the_good_feed_delivers_in_the_same_cycle(poller, store, site):
    good = await add(poller, site.feed("/good", [story(site, 1)]))
    await poller.run_cycle()  # primes the good feed
    bad = {
        "/bomb": site.raw(
            "/bomb", (FIXTURES / "entity_bomb.xml").read_bytes(), content_type="application/xml"
        ),
        "/html": site.raw("/html", b"<!DOCTYPE html><html><body><p>Oops, maintenance</p></body></html>"),
        "/big": site.raw("/big", behaviour="big"),
        "/hang": site.raw("/hang", behaviour="hang"),
        "/trickle": site.raw("/trickle", behaviour="trickle"),
        "/missing": site.url("/missing"),
    }
    feeds = {path: await add(poller, url) for path, url in bad.items()}
    site.feed("/good", [story(site, 2), story(site, 1)])

    cycle = asyncio.create_task(poller.run_cycle())
    async with asyncio.timeout(30):  # only bounds a hang; the order below is the point
        while await store.outbox.pending_count() == 0:
            await asyncio.sleep(0.02)
    assert not cycle.done(), "the good feed delivered while the hanging servers still hang"
    outcomes = {o.feed.id: o for o in await asyncio.wait_for(cycle, 30)}
    assert await announced(store) == ["Story number 2"]
    assert outcomes[good.id].error is None

    expected = {
        "/bomb": "entity",
        "/html": "HTML",
        "/big": "larger than 2 MB",
        "/hang": "timed out",
        "/trickle": "timed out after 3 s",
        "/missing": "HTTP 404",
    }
    for path, feed in feeds.items():
        stored = await store.feeds.get(feed.id)
        assert expected[path] in (stored.last_error or ""), (path, stored.last_error)
        assert stored.failures == 1 and stored.next_fetch_at > time.time(), "backed off"
        assert outcomes[feed.id].error == stored.last_error

    before = len(site.requests)
    await poller.run_cycle()
    assert {r.path for r in site.requests[before:]} == {"/good"}, "failing feeds wait for their backoff"


async def test_backoff_grows_with_each_failure_up_to_the_cap_and_success_resets_it(poller, store, site):
    feed = await add(poller, site.url("/down"))
    delays = []
    for _ in range(7):
        outcome = await poller.poll(await store.feeds.get(feed.id))
        delays.append(round(outcome.feed.next_fetch_at - outcome.feed.last_fetch_at))
    assert delays == [4, 8, 16, 32, 60, 60, 60]
    site.feed("/down", [story(site, 1)])
    outcome = await poller.poll(await store.feeds.get(feed.id))
    assert outcome.error is None and outcome.new_articles == 1
    healed = await store.feeds.get(feed.id)
    assert (healed.failures, healed.last_error, healed.next_fetch_at) == (0, None, 0)


async def test_a_windows_1254_feed_and_page_keep_their_turkish_letters(poller, store, site):
    page = article_page(
        "Şanlıurfa'da İğdır için yağmur duası",
        [
            "Şanlıurfa ve Iğdır'da çiftçiler, kuraklığın ağır geçtiği yazın ardından yağmur için toplandı.",
            "Ğ, ı, İ, ş ve Ş harfleri olduğu gibi kalmalıdır; bölgedeki üreticiler desteği istiyor.",
        ],
        DAY.date(),
    )
    link = site.page("/haber/1", page.encode("cp1254"), charset="windows-1254")
    items = [
        Item(
            "Şırnak'ta İlk Kar Yağışı: ığdır değil",
            link=site.url("/yok"),
            guid="1",
            summary="Ağır kış.",
            published=DAY,
        ),
        Item("Sayfadan gelecek başlık", link=link, guid="2", summary="Özet.", published=DAY),
    ]
    await add(poller, site.feed("/rss", items, encoding="windows-1254", title="Gündem Şöleni"))
    await poller.run_cycle()
    assert sorted(await titles(store)) == [
        "Şanlıurfa'da İğdır için yağmur duası",
        "Şırnak'ta İlk Kar Yağışı: ığdır değil",
    ]
    pages = [a for a in await store.articles.latest(2) if a.url == link]
    assert "Ğ, ı, İ, ş ve Ş" in pages[0].body
    assert (await store.feeds.statuses())[0].feed.title == "Gündem Şöleni"


async def test_seed_pages_are_extracted_without_furniture_and_with_their_date(poller, store, site):
    semantic = site.page("/en/news/1", (FIXTURES / "article_semantic.html").read_bytes())
    divs = site.page("/en/news/1-copy", (FIXTURES / "article_divs.html").read_bytes())
    items = [Item("Diaspora statement", link=semantic), Item("Diaspora statement (copy)", link=divs)]
    await add(poller, site.feed("/rss", items))
    await poller.run_cycle()
    articles = await store.articles.latest(5)  # two links are two articles, whatever their headlines
    assert len(articles) == 2
    for article in articles:
        assert article.title == "Azerbaijani diaspora organizations issued a statement"
        assert in_istanbul(article.published_at).date() == date(2023, 7, 31)
        assert "The statement reads" in article.body and "double standards" in article.body
        for furniture in (
            "Zonguldak",
            "Adıyaman",
            "°C",
            "recommend it among your friends",
            "All rights reserved",
        ):
            assert furniture not in article.body


async def test_a_bozo_feed_that_still_parses_is_used(poller, store, site):
    await add(poller, site.raw("/bozo", (FIXTURES / "bozo_rss.xml").read_bytes(), content_type="text/xml"))
    [outcome] = await poller.run_cycle()
    assert outcome.error is None and outcome.new_articles >= 1


async def test_a_tick_while_a_cycle_runs_is_skipped(poller, store, site):
    await add(poller, site.raw("/hang", behaviour="hang"))
    assert poller.start_cycle()
    async with asyncio.timeout(30):
        while not site.seen("/hang"):  # the cycle now waits for the hanging server
            await asyncio.sleep(0.01)
    assert poller.running and not poller.start_cycle()
    await poller.wait()
    assert not poller.running and len(site.seen("/hang")) == 1
    assert poller.start_cycle() and (await poller.stop()) is None and not poller.running


async def test_hostile_xml_is_refused_with_the_reason_stored_and_nothing_else_is_fetched(poller, store, site):
    async with NewsSite() as lure:  # what the feeds point at; it must count zero requests
        lure.raw("/evil.dtd", b'<!ENTITY x "stolen">', content_type="application/xml-dtd")
        dtd, secret = lure.url("/evil.dtd").encode(), lure.url("/secret").encode()
        laughs = b"".join(
            b'<!ENTITY l%d "%s">' % (n, (b"&l%d;" % (n - 1)) * 10 if n else b"x" * 100) for n in range(5)
        )
        item = b'<rss version="2.0"><channel><title>T</title><item><title>%s</title><link>%s</link></item>'
        item += b"</channel></rss>"
        link = site.page("/news/1", article_page("Story number 1", PARAGRAPHS, DAY.date())).encode()
        declaration = b'<?xml version="1.0"?>\n'
        hostile = {
            "/laughs": declaration
            + b"<!-- <a -->\n<!DOCTYPE rss ["
            + laughs
            + b"]>"
            + item % (b"&l4;", link),
            "/xxe": declaration
            + b'<!-- <a --><!DOCTYPE rss [<!ENTITY x SYSTEM "'
            + secret
            + b'">]>'
            + item % (b"&x;", link),
            "/pe": declaration
            + b'<!DOCTYPE rss [<!ENTITY % p SYSTEM "'
            + dtd
            + b'"> %p;]>'
            + item % (b"&x;", link),
        }
        feeds = {
            path: await add(poller, site.raw(path, body, content_type="application/rss+xml"))
            for path, body in hostile.items()
        }
        dtd_only = await add(
            poller,
            site.raw(
                "/dtd",
                declaration + b'<!DOCTYPE rss SYSTEM "' + dtd + b'">' + item % (b"Story number 1", link),
                content_type="application/rss+xml",
            ),
        )
        outcomes = {o.feed.id: o for o in await poller.run_cycle()}
        assert lure.requests == []
    for feed in feeds.values():
        stored = await store.feeds.get(feed.id)
        assert stored.last_error == "XML entity declarations are not allowed" == outcomes[feed.id].error
        assert stored.failures == 1
    assert outcomes[dtd_only.id].error is None and outcomes[dtd_only.id].new_articles == 1
    assert await titles(store) == ["Story number 1"]
