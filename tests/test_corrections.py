"""Corrections and withdrawals reach every delivered copy, exactly once, through the fake Bot API."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from telegram.ext import Application

from bot.ingest import FeedPoller, IngestLimits, feed_key
from bot.settings import Settings
from storage import Store
from tests.conftest import ADMIN_ID, LOCAL_SITES, running
from tests.conversation import Reader
from tests.fake_telegram import FakeBotAPI, make_chat
from tests.news_site import Item, NewsSite, article_page
from tests.test_delivery import add_subscribers, publish_article, settle

HOUR = 3600.0
READERS = list(range(5001, 5013))  # 12 subscribers


class Clocks:
    """The bot's clock and the fake Telegram's, moved forward together (or Telegram's alone)."""

    def __init__(self) -> None:
        self.offset = 0.0
        self.telegram_offset = 0.0

    def bot(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.offset)

    def telegram(self) -> float:
        return time.monotonic() + self.offset + self.telegram_offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@pytest.fixture
def clocks(telegram: FakeBotAPI) -> Clocks:
    clocks = Clocks()
    telegram.clock = clocks.telegram
    return clocks


@pytest.fixture
async def bot(settings: Settings, telegram: FakeBotAPI, clocks: Clocks) -> AsyncIterator[Application]:
    async with running(settings) as application:
        application.bot_data.clock = clocks.bot
        engine = application.bot_data.delivery
        engine.options = replace(engine.options, retry_base=0.05, idle_poll=0.1)
        yield application


def store_of(app: Application) -> Store:
    return app.bot_data.store


async def pushed(app: Application, title: str = "Açıklama: Bölgede yeni gelişmeler") -> int:
    """Subscribers get a new article; returns its id once every copy is delivered."""
    store = store_of(app)
    article_id = await publish_article(store, title)
    app.bot_data.delivery.wake()
    await settle(store, app.bot_data.delivery)
    return article_id


def calls(telegram: FakeBotAPI, method: str) -> Counter[int]:
    """Successful calls of `method` per chat."""
    return Counter(r.params["chat_id"] for r in telegram.requests if r.method == method and r.status == 200)


def article_copies(telegram: FakeBotAPI, article_id: int) -> dict[int, int]:
    """chat -> message id of the article's delivered copy."""
    return {
        m.chat_id: m.message_id
        for m in telegram.sent
        if m.method == "sendMessage" and m.plain and m.plain.rstrip().endswith(f"#{article_id}")
    }


def admin_reader(app: Application, telegram: FakeBotAPI) -> Reader:
    return Reader(app, telegram, ADMIN_ID, language_code="en", first_name="Operator")


# --------------------------------------------------------------------------------------- /edit


async def test_edit_changes_every_delivered_copy_once_marked_updated(bot, telegram, clocks):
    store = store_of(bot)
    await add_subscribers(store, READERS)
    article_id = await pushed(bot)
    copies = article_copies(telegram, article_id)
    assert set(copies) == set(READERS)
    admin = admin_reader(bot, telegram)

    answer = await admin.says(f"/edit {article_id}\nDüzeltme: Bölgede yeni gelişmeler\nDoğru metin burada.")
    assert "12 delivered copies" in answer.plain
    await settle(store, bot.bot_data.delivery)

    edits = calls(telegram, "editMessageText")
    assert edits == Counter({chat: 1 for chat in READERS})
    for edit in (e for e in telegram.edited if e.chat_id in copies):
        assert edit.message_id == copies[edit.chat_id]
        assert "Düzeltme: Bölgede" in edit.plain and "güncellendi" in edit.plain
    assert "Düzeltme" in (await Reader(bot, telegram, READERS[0]).says(f"/article {article_id}")).plain

    # The same text again changes nothing and edits nothing.
    again = await admin.says(f"/edit {article_id}\nDüzeltme:  Bölgede yeni gelişmeler\nDoğru  metin burada.")
    assert "nothing was edited" in again.plain
    await settle(store, bot.bot_data.delivery)
    assert calls(telegram, "editMessageText") == edits


async def test_a_chat_that_blocked_the_bot_is_skipped_and_bad_edits_get_the_usage(bot, telegram, clocks):
    store = store_of(bot)
    await add_subscribers(store, READERS[:3])
    article_id = await pushed(bot)
    telegram.block(READERS[0])
    await store.outbox.deactivate_chat(READERS[0], "Forbidden: bot was blocked by the user")
    admin = admin_reader(bot, telegram)
    assert "/edit 12" in (await admin.says(f"/edit {article_id}")).plain  # no headline and text
    assert "no article number 999" in (await admin.says("/edit 999\nBaşlık\nMetin")).plain
    await admin.says(f"/edit {article_id}\nYeni başlık\nYeni metin.")
    await settle(store, bot.bot_data.delivery)
    assert calls(telegram, "editMessageText") == Counter({READERS[1]: 1, READERS[2]: 1})


# --------------------------------------------------------------------------------------- the feed


LIMITS = IngestLimits(feed_deadline=60)
PARAGRAPHS = ["The governor announced on Monday that the new bridge will open next spring, officials said."]


async def test_an_item_updated_in_its_feed_edits_every_copy_once(bot, telegram, clocks):
    store = store_of(bot)
    await add_subscribers(store, READERS)
    async with NewsSite() as site:
        session = FeedPoller.open_session(LIMITS, LOCAL_SITES)
        poller = FeedPoller(store, session, interval=2, limits=LIMITS)
        try:
            url = site.feed("/rss", [])
            key = feed_key(url)
            assert key is not None
            await store.feeds.add(url, key)
            await poller.run_cycle()  # the first poll only primes the feed

            day = datetime(2026, 11, 20, 9, tzinfo=UTC)

            def item(title: str, summary: str, link_query: str = "") -> Item:
                site.page("/news/1", article_page(title, PARAGRAPHS, day.date()))
                link = site.url("/news/1") + link_query
                return Item(title, link=link, guid="story-1", summary=summary, published=day)

            site.feed("/rss", [item("Bridge to open in spring", "The bridge opens in spring.")])
            await poller.run_cycle()
            bot.bot_data.delivery.wake()
            await settle(store, bot.bot_data.delivery)
            assert len(calls(telegram, "sendMessage")) == len(READERS)

            # Whitespace and tracking parameters only: nothing to edit.
            site.feed(
                "/rss", [item("Bridge  to open in spring ", "The bridge  opens in spring.", "?utm_source=x")]
            )
            await poller.run_cycle()
            await settle(store, bot.bot_data.delivery)
            assert not calls(telegram, "editMessageText")

            # A new headline: every copy edited once, and polling again edits nothing more.
            site.feed("/rss", [item("Bridge to open in summer", "The bridge opens in summer.")])
            await poller.run_cycle()
            bot.bot_data.delivery.wake()
            await settle(store, bot.bot_data.delivery)
            await poller.run_cycle()
            await settle(store, bot.bot_data.delivery)
        finally:
            await session.close()
    assert calls(telegram, "editMessageText") == Counter({chat: 1 for chat in READERS})
    assert all("summer" in e.plain for e in telegram.edited)


# --------------------------------------------------------------------------------------- /retract


async def retract(admin: Reader, article_id: int, reason: str = "") -> str:
    confirm = await admin.says(f"/retract {article_id} {reason}".strip())
    assert "Withdraw article" in confirm.plain
    answers = await admin.presses("🗑 Withdraw it", on=confirm)
    return next(a.plain for a in answers if a.method == "sendMessage")


async def test_a_retraction_deletes_recent_copies_and_edits_old_ones(bot, telegram, clocks):
    store = store_of(bot)
    await add_subscribers(store, READERS[:6])
    old = await pushed(bot, "Eski haber")
    clocks.advance(49 * HOUR)
    recent = await pushed(bot, "Yeni haber")
    old_copies, recent_copies = article_copies(telegram, old), article_copies(telegram, recent)
    admin = admin_reader(bot, telegram)

    assert "withdrawn" in await retract(admin, old, "Rakamlar yanlıştı")
    assert "withdrawn" in await retract(admin, recent)
    await settle(store, bot.bot_data.delivery)

    assert sorted(telegram.deleted) == sorted(recent_copies.items())
    notices = {(e.chat_id, e.message_id): e.plain for e in telegram.edited if e.method == "editMessageText"}
    assert set(notices) == set(old_copies.items())
    assert all(text == "Editörlerce geri çekildi: Rakamlar yanlıştı" for text in notices.values())

    # Gone from every list and link.
    reader = Reader(bot, telegram, READERS[0])
    assert "geri çekildi" in (await reader.says(f"/article {recent}")).plain
    assert "Yeni haber" not in (await reader.says("/latest 5")).plain
    assert "geri çekildi" in (await reader.says(f"/start a{old}")).plain
    stats = await admin.says(f"/stats {old}")
    assert "Withdrawn" in stats.plain and "Withdrawal of 6 delivered copies: done 6" in stats.plain


async def test_a_copy_telegram_will_not_delete_is_edited_to_the_notice(bot, telegram, clocks):
    store = store_of(bot)
    await add_subscribers(store, READERS[:3])
    article_id = await pushed(bot)
    clocks.telegram_offset = 48 * HOUR  # Telegram's clock says 48 h; ours, a few seconds
    await retract(admin_reader(bot, telegram), article_id, "Hata")
    await settle(store, bot.bot_data.delivery)
    assert not telegram.deleted
    assert calls(telegram, "editMessageText") == Counter({chat: 1 for chat in READERS[:3]})
    refused = [r for r in telegram.requests if r.method == "deleteMessage"]
    assert len(refused) == 3
    assert all(r.description == "Bad Request: message can't be deleted" for r in refused)


async def test_a_retraction_while_the_broadcast_runs_sends_no_further_copies(settings, telegram, clocks):
    telegram.latency = 0.05
    async with running(settings, broadcast_rate=5) as app:
        app.bot_data.clock = clocks.bot
        store = store_of(app)
        await add_subscribers(store, list(range(6001, 6041)))
        article_id = await publish_article(store)
        app.bot_data.delivery.wake()
        while len(calls(telegram, "sendMessage")) < 5:
            await asyncio.sleep(0.02)
        admin = admin_reader(app, telegram)
        await retract(admin, article_id)
        await settle(store, app.bot_data.delivery)
        sent_before = len(article_copies(telegram, article_id))
        await asyncio.sleep(0.5)
        copies = article_copies(telegram, article_id)
    assert len(copies) == sent_before < 40
    # Every copy that went out, including those in flight at the moment, was deleted; nothing else.
    assert sorted(telegram.deleted) == sorted(copies.items())


# --------------------------------------------------------------------------------------- /cancel


async def test_cancel_stops_a_running_push_and_keeps_what_was_delivered(settings, telegram, clocks):
    telegram.latency = 0.05
    async with running(settings, broadcast_rate=5) as app:
        store = store_of(app)
        await add_subscribers(store, list(range(7001, 7041)))
        article_id = await publish_article(store)
        app.bot_data.delivery.wake()
        while len(calls(telegram, "sendMessage")) < 5:
            await asyncio.sleep(0.02)
        answer = await admin_reader(app, telegram).says(f"/cancel {article_id}")
        assert "stopped" in answer.plain
        await settle(store, app.bot_data.delivery)
        delivered = len(article_copies(telegram, article_id))
        await asyncio.sleep(0.5)
        assert len(article_copies(telegram, article_id)) == delivered < 40
        assert not telegram.deleted and not telegram.edited
        reach = await store.stats.article_reach(article_id)
        assert reach is not None and reach.sent == delivered and reach.failed == 40 - delivered


# --------------------------------------------------------------------------------------- who may


@pytest.mark.parametrize("command", ["/edit 1\nBaşlık\nMetin", "/retract 1 x", "/cancel 1"])
async def test_readers_and_groups_get_nothing_from_these_commands(bot, telegram, clocks, command):
    store = store_of(bot)
    await add_subscribers(store, READERS[:2])
    article_id = await pushed(bot)
    assert article_id == 1
    reader = Reader(bot, telegram, READERS[0], language_code="en")
    answer = await reader.says(command)
    assert "/help" in answer.plain  # what any unknown command gets
    group = make_chat(-100777, "supergroup", "Newsroom")
    in_group = Reader(bot, telegram, ADMIN_ID, language_code="en", chat=group)
    assert await in_group.send(command) == []
    await settle(store, bot.bot_data.delivery)
    article = await store.articles.get(article_id)
    assert article is not None and article.version == 1 and not article.withdrawn
    assert not telegram.edited and not telegram.deleted
    assert len(article_copies(telegram, article_id)) == 2


@pytest.mark.backends  # on PostgreSQL recording and queueing the edit run side by side: FOLLOWUPS_LOCK
async def test_a_correction_while_the_push_runs_reaches_every_copy_once(settings, telegram, clocks):
    telegram.latency = 0.05
    chats = list(range(8001, 8031))
    async with running(settings, broadcast_rate=5) as app:
        store = store_of(app)
        await add_subscribers(store, chats)
        article_id = await publish_article(store, "İlk başlık")
        app.bot_data.delivery.wake()
        while len(calls(telegram, "sendMessage")) < 5:
            await asyncio.sleep(0.02)
        await admin_reader(app, telegram).says(f"/edit {article_id}\nDüzeltilmiş başlık\nYeni metin.")
        await settle(store, app.bot_data.delivery)
    copies = article_copies(telegram, article_id)
    assert set(copies) == set(chats)
    final = {m.chat_id: m.plain for m in telegram.sent if m.chat_id in copies}
    for edit in telegram.edited:
        final[edit.chat_id] = edit.plain
    assert all("Düzeltilmiş başlık" in text for text in final.values())  # nobody is left with the old one
    edits = calls(telegram, "editMessageText")
    assert max(edits.values()) == 1  # never twice
    old = {m.chat_id for m in telegram.sent if m.chat_id in copies and "İlk başlık" in m.plain}
    assert set(edits) == old  # only the copies that showed the old version


async def test_a_correction_edits_the_caption_of_photo_copies(settings, telegram, clocks):
    from tests.test_photos import IMAGE_PATH, make_png, publish_with_photo

    async with NewsSite() as site, running(settings, send_margin=0.05) as app:
        store = store_of(app)
        site.raw(IMAGE_PATH, make_png(), content_type="image/png")
        await add_subscribers(store, READERS[:4])
        article_id = await publish_with_photo(store, site.url(IMAGE_PATH))
        app.bot_data.delivery.wake()
        await settle(store, app.bot_data.delivery)
        photos = {m.chat_id: m.message_id for m in telegram.sent if m.method == "sendPhoto"}
        assert set(photos) == set(READERS[:4])
        await admin_reader(app, telegram).says(f"/edit {article_id}\nDüzeltilmiş başlık\nYeni metin.")
        await settle(store, app.bot_data.delivery)
    captions = [e for e in telegram.edited if e.method == "editMessageCaption"]
    assert {(e.chat_id, e.message_id) for e in captions} == set(photos.items()) and len(captions) == 4
    assert all("Düzeltilmiş başlık" in e.plain and "güncellendi" in e.plain for e in captions)
    assert not calls(telegram, "editMessageText")
