"""Dedupe never drops a distinct article: guid or link decide; headline and body only without both."""

from __future__ import annotations

import asyncio
import hashlib
import io
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import drafts
from bot.importer import import_pages
from bot.ingest import FeedPoller, IngestLimits, feed_key, item_guid
from bot.publishing import publish
from bot.settings import Settings
from bot.sources.feeds import FeedEntry
from bot.sources.fetch import FetchTimeouts
from bot.sources.links import fold_text, normalize_url
from storage import Store
from storage import database as storage_database
from storage.models import ArticleDraft
from tests.conftest import LOCAL_SITES, running
from tests.conversation import PUBLISH, Reader
from tests.news_site import Item, NewsSite, article_page

pytestmark = pytest.mark.backends  # on SQLite and on PostgreSQL

FIXTURES = Path(__file__).parent / "fixtures"
FAST = IngestLimits(
    feed_timeouts=FetchTimeouts(connect=1, read=1.5, total=3),
    page_timeouts=FetchTimeouts(connect=1, read=1.5, total=3),
    feed_deadline=8,
    backoff_cap=60,
)
HEADLINE = "Basın Açıklaması"
MORNING = datetime(2024, 3, 12, 5, 0, tzinfo=UTC)  # 08:00 in Istanbul
EVENING = datetime(2024, 3, 12, 15, 0, tzinfo=UTC)  # 18:00 in Istanbul, the same day
MORNING_TEXT = [
    "Valilik, sabah saatlerinde yaptığı açıklamada ildeki okulların yarın tatil edileceğini duyurdu.",
    "Kar yağışı nedeniyle köy yollarının büyük bölümü ulaşıma kapalı; ekipler çalışmalarını sürdürüyor.",
]
EVENING_TEXT = [
    "Valilik, akşam yaptığı ikinci açıklamada şehirler arası otobüs seferlerinin durdurulduğunu bildirdi.",
    "Sürücülerin zorunlu olmadıkça yola çıkmamaları ve kış lastiği kullanmaları gerektiği hatırlatıldı.",
]


@pytest.fixture
async def site() -> AsyncIterator[NewsSite]:
    async with NewsSite() as site:
        yield site


@pytest.fixture
async def store(database) -> AsyncIterator[Store]:
    store = await Store.open(database)
    await store.chats.touch(1, "private", "tr")
    await store.chats.subscribe(1)
    yield store
    await store.close()


@pytest.fixture
async def poller(store: Store) -> AsyncIterator[FeedPoller]:
    session = FeedPoller.open_session(FAST, LOCAL_SITES)
    yield FeedPoller(store, session, interval=2, limits=FAST)
    await session.close()


def statement(
    site: NewsSite, path: str, paragraphs: list[str], published: datetime, **fields: object
) -> Item:
    """A "Basın Açıklaması" item with its own page (headline, date, text) on the site."""
    link = site.page(path, article_page(HEADLINE, paragraphs, published.date()))
    return Item(
        **{"title": HEADLINE, "link": link, "summary": paragraphs[0], "published": published, **fields}
    )


async def add_feed(store: Store, url: str) -> None:
    key = feed_key(url)
    assert key is not None
    await store.feeds.add(url, key)


async def bodies(store: Store) -> list[str]:
    return [row[0] for row in await store.db.fetchall("SELECT body FROM articles ORDER BY id")]


async def announced(store: Store) -> list[str]:
    rows = await store.db.fetchall(
        "SELECT a.body FROM broadcasts b JOIN articles a ON a.id = CAST(b.ref AS INTEGER) "
        "WHERE b.kind = 'article' ORDER BY b.id"
    )
    return [row[0] for row in rows]


async def wait_until(probe, expected: int, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while (value := await probe()) < expected:
        assert time.monotonic() < deadline, f"still {value}, expected {expected}"
        await asyncio.sleep(0.1)


# --- the reported case, through the real bot: feed, poll job, outbox, delivery ---


async def test_two_statements_with_one_headline_on_one_day_both_reach_the_reader(
    settings: Settings, site, telegram
):
    older = Item(
        "Dünkü haber", guid="old", summary="Dünden kalan bir haber.", published=MORNING - timedelta(1)
    )
    url = site.feed("/rss", [older])
    store = await Store.open(settings.database)
    await add_feed(store, url)
    await store.chats.touch(7, "private", "tr")
    await store.chats.subscribe(7)
    await store.close()
    morning = statement(site, "/haber/101", MORNING_TEXT, MORNING, guid="ba-101")
    evening = statement(site, "/haber/102", EVENING_TEXT, EVENING, guid="ba-102")
    async with running(settings, feed_interval=1) as application:
        store = application.bot_data.store
        await wait_until(store.articles.count, 1, timeout=10)  # the backlog, stored silently
        site.feed("/rss", [morning, older])
        await telegram.wait_for_messages(1, chat_id=7, timeout=15)
        site.feed("/rss", [evening, morning, older])
        first, second = await telegram.wait_for_messages(2, chat_id=7, timeout=15)
        assert await bodies(store) == [
            "Dünden kalan bir haber.",
            "\n\n".join(MORNING_TEXT),
            "\n\n".join(EVENING_TEXT),
        ]
    assert first.plain.startswith(HEADLINE) and "okulların yarın tatil" in first.plain
    assert second.plain.startswith(HEADLINE) and "otobüs seferlerinin" in second.plain


# --- feeds, through the poller ---


@pytest.mark.parametrize("link", [True, False], ids=["guid and link", "text only"])
async def test_one_statement_stored_three_times_at_once_is_one_article(store: Store, link: bool) -> None:
    """Three operators' /post (or imports) of one statement at the same moment, each its own transaction."""
    draft = drafts.make_draft(
        title=HEADLINE,
        body=" ".join(MORNING_TEXT),
        published=MORNING,
        source="operator",
        url="https://example.org/a/1" if link else None,
        guid="tag:example.org,2024:1" if link else None,
    )
    results = await asyncio.gather(*(publish(store, draft) for _ in range(3)))
    assert sorted(result.created for result in results) == [False, False, True]
    assert len({result.article.id for result in results}) == 1
    assert len(await store.articles.latest(10)) == 1


async def test_both_statements_in_one_fetch_are_two_articles(poller, store, site):
    morning = statement(site, "/haber/1", MORNING_TEXT, MORNING, guid="ba-1")
    evening = statement(site, "/haber/2", EVENING_TEXT, EVENING, guid="ba-2")
    await add_feed(store, site.feed("/rss", [evening, morning]))  # the bot was down all day
    [outcome] = await poller.run_cycle()
    assert outcome.new_articles == 2
    assert await bodies(store) == ["\n\n".join(MORNING_TEXT), "\n\n".join(EVENING_TEXT)]


async def test_an_edited_item_keeps_its_guid_and_a_later_one_with_the_headline_is_new(poller, store, site):
    morning = statement(site, "/haber/1", MORNING_TEXT, MORNING, guid="ba-1")
    await add_feed(store, site.feed("/rss", [morning]))
    await poller.run_cycle()
    corrected = ["Düzeltme: okullar yarın değil, perşembe günü tatil.", *MORNING_TEXT]
    edited = statement(site, "/haber/1", corrected, MORNING, guid="ba-1", title=HEADLINE + " (güncellendi)")
    evening = statement(site, "/haber/2", EVENING_TEXT, EVENING, guid="ba-2")
    site.feed("/rss", [evening, edited])
    await poller.run_cycle()
    assert await announced(store) == ["\n\n".join(EVENING_TEXT)], "the evening one is new, the edit is not"
    # The edit is a correction of the stored article (issue 12): its page is read again, once.
    assert await store.articles.count() == 2 and len(site.seen("/haber/1")) == 2
    corrected_article = await store.articles.get(1)
    assert corrected_article is not None and corrected_article.body.startswith("Düzeltme: okullar")
    await poller.run_cycle()
    assert len(site.seen("/haber/1")) == 2


async def test_items_with_only_a_link_are_judged_by_it(poller, store, site):
    morning = statement(site, "/haber/1", MORNING_TEXT, MORNING)
    await add_feed(store, site.feed("/rss", [morning]))
    await poller.run_cycle()
    edited = Item(HEADLINE + " (güncellendi)", link=morning.link + "?utm_source=rss", published=MORNING)
    evening = statement(site, "/haber/2", EVENING_TEXT, EVENING)
    site.feed("/rss", [evening, edited])
    await poller.run_cycle()
    site.feed("/rss", [evening])  # the morning item drops out of the feed and comes back
    await poller.run_cycle()
    site.feed("/rss", [evening, morning])
    await poller.run_cycle()
    assert await announced(store) == ["\n\n".join(EVENING_TEXT)]
    assert await store.articles.count() == 2


async def test_items_with_neither_guid_nor_link_are_judged_by_headline_and_text(poller, store, site):
    morning = Item(HEADLINE, summary=MORNING_TEXT[0], published=MORNING)
    await add_feed(store, site.feed("/rss", [morning]))
    await poller.run_cycle()
    evening = Item(HEADLINE, summary=EVENING_TEXT[0], published=EVENING)
    site.feed("/rss", [evening, morning])
    await poller.run_cycle()
    site.feed("/rss", [evening])
    await poller.run_cycle()
    site.feed("/rss", [evening, morning])  # back again, unchanged: the same article
    await poller.run_cycle()
    assert await announced(store) == [EVENING_TEXT[0]]
    assert await bodies(store) == [MORNING_TEXT[0], EVENING_TEXT[0]]


# --- newsbot import ---


async def test_import_judges_pages_by_url_and_pages_without_one_by_headline_and_body(tmp_path, site):
    morning = site.page("/haber/1", article_page(HEADLINE, MORNING_TEXT, MORNING.date()))
    evening = site.page("/haber/2", article_page(HEADLINE, EVENING_TEXT, EVENING.date()))
    divs = (FIXTURES / "article_divs.html").read_text(encoding="utf-8")  # no canonical link
    assert "double standards" in divs
    (tmp_path / "a.html").write_text(divs, encoding="utf-8")
    (tmp_path / "b.html").write_text(divs.replace("double standards", "double talk"), encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    settings = Settings(db_path=tmp_path / "news.db", fetch_allow=LOCAL_SITES)
    sources = [
        morning,
        evening,
        morning + "?utm_source=x",
        str(tmp_path / "a.html"),
        str(tmp_path / "b.html"),
    ]
    failures = await import_pages(settings, [*sources, str(tmp_path / "a.html")], out=out, err=err)
    assert failures == 0, err.getvalue()
    assert [line.split(":")[0] for line in out.getvalue().splitlines()] == [
        "added #1",
        "added #2",
        "already stored as #1",
        "added #3",
        "added #4",
        "already stored as #3",
    ]


# --- /post ---


async def test_post_publishes_two_statements_with_one_headline_and_a_repeat_once(
    admin: Reader, reader: Reader, app, telegram
):
    await reader.says("/subscribe")
    morning = f"/post {HEADLINE}\n" + "\n".join(MORNING_TEXT)
    assert "Published as #1" in (await admin.publishes(morning)).plain
    assert "Published as #2" in (await admin.publishes(f"/post {HEADLINE}\n" + "\n".join(EVENING_TEXT))).plain
    repeat = await admin.says(morning)  # told at once, with nothing to press: Publish would send nothing
    assert "already published as #1" in repeat.plain and "/edit 1" in repeat.plain
    assert not repeat.reply_markup
    # A preview that becomes a repeat before its Publish (another operator was quicker) publishes nothing.
    later = f"/post Üçüncü açıklama\n{MORNING_TEXT[1]}"
    early_preview = await admin.says(later)
    assert "Published as #3" in (await admin.publishes(later)).plain
    pressed = [m for m in await admin.presses(PUBLISH, on=early_preview) if m.method == "sendMessage"]
    assert ["already published as #3" in m.plain for m in pressed] == [True]
    copies = await telegram.wait_for_messages(4, chat_id=reader.chat_id, timeout=10)
    _subscribed, first, second, third = copies
    assert "okulların yarın tatil" in first.plain and "otobüs seferlerinin" in second.plain
    assert "Üçüncü" in third.plain
    store = app.bot_data.store
    assert await store.db.fetchval("SELECT count(*) FROM broadcasts") == 3, "the repeats are not queued"
    await asyncio.sleep(0.3)  # nothing more reaches the reader
    assert len(telegram.messages_to(reader.chat_id)) == 4
    async with store.db.transaction() as tx:
        await store.articles.withdraw(tx, 1, "yanlış", datetime.now(UTC))
    withdrawn = await admin.says(morning)  # no "/edit 1": a withdrawn article is not corrected
    assert "already published as #1" in withdrawn.plain and "withdrawn" in withdrawn.plain
    assert "/edit" not in withdrawn.plain


# --- the key function ---

PLAIN_GUIDS = st.text(alphabet="ab1-#/", min_size=1, max_size=5)
URI_GUIDS = st.builds("tag:site.example,2024:{}".format, PLAIN_GUIDS) | st.builds(
    "https://site.example/p/{}".format, PLAIN_GUIDS
)
GUIDS = PLAIN_GUIDS | URI_GUIDS
LINKS = st.builds(
    lambda path, tail: f"https://site.example/{path}{tail}",
    st.text(alphabet="ab/", max_size=3),
    st.sampled_from(["", "/", "?utm_source=rss", "?id=1", "?id=1&fbclid=x"]),
)
TEXT = st.text(max_size=40)


def same_article(a: drafts.ArticleKeys, b: drafts.ArticleKeys) -> bool:
    """What storage does with keys: one article when any key both have is equal."""
    pairs = ((a.guid, b.guid), (a.url_key, b.url_key), (a.content_hash, b.content_hash))
    return any(x is not None and x == y for x, y in pairs)


@given(
    ids=st.tuples(st.none() | GUIDS, st.none() | LINKS, st.none() | GUIDS, st.none() | LINKS).filter(
        lambda t: (t[0] or t[1]) and (t[2] or t[3])
    ),
    title=TEXT,
    body=TEXT,
)
def test_items_with_a_guid_or_link_are_one_article_only_through_them(ids, title, body) -> None:
    guid_a, link_a, guid_b, link_b = ids
    a = drafts.article_keys(title=title, body=body, url=link_a, guid=guid_a)
    b = drafts.article_keys(title=title, body=body, url=link_b, guid=guid_b)
    assert a.content_hash is None and b.content_hash is None, "headline and body do not count"
    shared_guid = guid_a is not None and guid_a == guid_b
    shared_link = link_a is not None and link_b is not None and normalize_url(link_a) == normalize_url(link_b)
    assert same_article(a, b) == (shared_guid or shared_link)


@given(
    guid=GUIDS,
    first=st.tuples(TEXT, TEXT, st.none() | LINKS),
    second=st.tuples(TEXT, TEXT, st.none() | LINKS),
)
def test_the_same_guid_is_the_same_article_whatever_its_text(guid, first, second) -> None:
    a = drafts.article_keys(title=first[0], body=first[1], url=first[2], guid=guid)
    b = drafts.article_keys(title=second[0], body=second[1], url=second[2], guid=guid)
    assert a.guid == b.guid == guid and same_article(a, b)


@given(plain=PLAIN_GUIDS, uri=URI_GUIDS, feeds=st.tuples(LINKS, LINKS), texts=st.tuples(TEXT, TEXT))
def test_a_non_uri_guid_counts_within_its_own_feed_only(plain, uri, feeds, texts) -> None:
    def guids(guid: str) -> list[str | None]:
        entries = [FeedEntry(guid=guid, link=None, title=t, summary=t, published=None) for t in texts]
        return [item_guid(normalize_url(feed), entry) for feed, entry in zip(feeds, entries, strict=True)]

    same_feed = normalize_url(feeds[0]) == normalize_url(feeds[1])
    first, second = guids(plain)
    assert (first == second) == same_feed
    first, second = guids(uri)
    assert first == second == uri


@given(title=TEXT, body=TEXT, word=st.from_regex(r"[a-z]{1,8}", fullmatch=True))
def test_without_guid_or_link_headline_and_body_together_decide(title, body, word) -> None:
    keys = drafts.article_keys(title=title, body=body)
    assert keys.guid is None and keys.url_key is None and keys.content_hash
    assert same_article(keys, drafts.article_keys(title=title, body=body))
    assert not same_article(keys, drafts.article_keys(title=title, body=f"{body} {word}"))
    assert not same_article(keys, drafts.article_keys(title=f"{title} {word}", body=body))


def test_text_keys_ignore_case_spacing_and_punctuation_the_turkish_way() -> None:
    def key(title: str, body: str) -> str | None:
        return drafts.article_keys(title=title, body=body).content_hash

    base = key("İstanbul'da şiddetli yağış", "Okullar yarın tatil.")
    assert key("İSTANBUL'DA ŞİDDETLİ YAĞIŞ", "  okullar   yarın tatil ") == base
    assert key("Istanbul'da siddetli yagis", "Okullar yarin tatil!") == base
    assert key("İstanbul'da şiddetli yağış", "Okullar yarın açık.") != base
    assert key("A", "B C") != key("A B", "C"), "the headline ends where the body begins"


# --- databases written before the change ---


WATER, WATER_TEXT = "Su kesintisi", "Yarın 09.00-17.00 arası su yok."


def old_hash(title: str, day: str) -> str:
    """The headline-and-day key the code before issue 9 stored."""
    return hashlib.sha256(f"{fold_text(title)}\n{day}".encode()).hexdigest()


async def test_migration_0009_keys_stored_articles_by_the_new_rule(tmp_path, site, monkeypatch):
    path = tmp_path / "news.db"
    everything = storage_database.available_migrations
    monkeypatch.setattr(
        storage_database, "available_migrations", lambda: [m for m in everything() if m[0] < 9]
    )
    feed_url = site.feed("/rss", [Item(WATER, summary=WATER_TEXT)])
    key = feed_key(feed_url)
    assert key is not None
    synthetic = hashlib.sha256(f"{fold_text(WATER)}\n{fold_text(WATER_TEXT)}".encode()).hexdigest()
    old = await Store.open(path)  # rows exactly as the old code stored them
    await old.db.execute("INSERT INTO feeds (url, url_key, primed) VALUES (?, ?, 1)", (feed_url, key))
    link = "https://site.example/h/9"
    rows = [  # (title, body, url, url_key, guid, content_hash, source)
        # a /post, and the same /post again on another day (a second article under the old rule)
        (HEADLINE, MORNING_TEXT[0], None, None, None, old_hash(HEADLINE, "2024-03-12"), "telegram"),
        (HEADLINE, MORNING_TEXT[0], None, None, None, old_hash(HEADLINE, "2024-03-13"), "telegram"),
        # a feed item with neither guid nor link, keyed by a per-feed hash of its text
        (WATER, WATER_TEXT, None, None, f"{key}#sha256:{synthetic[:32]}",
         old_hash(WATER, "2024-03-11"), "feed"),
        # a feed item with guid and link
        (HEADLINE, EVENING_TEXT[0], link, link, f"{key}#9", old_hash(HEADLINE, "2024-03-14"), "feed"),
    ]  # fmt: skip
    for row in rows:
        await old.db.execute(
            "INSERT INTO articles (title, body, url, url_key, guid, content_hash, published_at, source) "
            "VALUES (?, ?, ?, ?, ?, ?, '2024-03-12T05:00:00+00:00', ?)",
            row,
        )
    await old.close()
    monkeypatch.undo()

    store = await Store.open(path)
    try:
        assert 9 in await store.db.applied_migrations()
        stored = [
            tuple(r) for r in await store.db.fetchall("SELECT guid, content_hash FROM articles ORDER BY id")
        ]
        text_key = drafts.article_keys(title=HEADLINE, body=MORNING_TEXT[0]).content_hash
        water_key = drafts.article_keys(title=WATER, body=WATER_TEXT).content_hash
        assert stored == [(None, text_key), (None, None), (None, water_key), (f"{key}#9", None)]

        def post(body: str) -> ArticleDraft:
            return drafts.make_draft(title=HEADLINE, body=body, published=EVENING, source="telegram")

        again = await publish(store, post(MORNING_TEXT[0]))
        assert (again.article.id, again.created) == (1, False), "an old /post sent again"
        assert (await publish(store, post(EVENING_TEXT[1]))).created, "same headline, another statement"
        session = FeedPoller.open_session(FAST, LOCAL_SITES)
        try:
            [outcome] = await FeedPoller(store, session, interval=2, limits=FAST).run_cycle()
        finally:
            await session.close()
        assert outcome.error is None and outcome.new_articles == 0, "the old link-less feed item is known"
    finally:
        await store.close()
