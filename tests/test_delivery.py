"""Delivery through the fake Bot API with Telegram's limits: once each, readers first, faults survived."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from telegram import Update
from telegram.ext import Application

from bot.delivery import DeliveryEngine, article_renderer
from bot.drafts import make_draft
from bot.publishing import publish
from bot.settings import Settings
from bot.views import RenderedMessage
from storage import Store
from tests.conftest import ADMIN_ID, running
from tests.conversation import Reader
from tests.fake_telegram import (
    FakeBotAPI,
    Fault,
    make_chat,
    make_user,
    message_update,
    my_chat_member_update,
)
from tests.postgres import read_rows

pytestmark = [pytest.mark.filterwarnings("ignore:.*retry_after.*"), pytest.mark.backends]  # both databases


@pytest.fixture
async def strict(settings: Settings, telegram: FakeBotAPI) -> AsyncIterator[Application]:
    """The bot with Telegram's real per-chat pace on both sides, and short retry waits.

    The fake Bot API shares this test's event loop, so a request can reach it tens of milliseconds after
    the limiter counted it; a 50 ms margin on the one-second window (instead of 20 ms) absorbs that.
    """
    telegram.limits.per_chat_per_second = 1
    async with running(settings, private_chat_interval=1.0, send_margin=0.05) as application:
        engine = application.bot_data.delivery
        engine.options = replace(engine.options, retry_base=0.05, idle_poll=0.2)
        yield application


def engine_of(app: Application) -> DeliveryEngine:
    engine = app.bot_data.delivery
    assert engine is not None
    return engine


async def add_subscribers(store: Store, ids: list[int], language_code: str = "tr") -> None:
    if len(ids) > 1000:  # a crowd: one batch instead of thousands of conversations
        rows = [(chat_id, "private", language_code) for chat_id in ids]
        await store.db.executemany(
            "INSERT INTO chats (chat_id, chat_type, language_code, subscribed) VALUES (?, ?, ?, 1)", rows
        )
        return
    for chat_id in ids:
        chat_type = "private" if chat_id > 0 else "group"
        await store.chats.touch(chat_id, chat_type, language_code if chat_type == "private" else None)
        await store.chats.subscribe(chat_id)


async def publish_article(store: Store, title: str = "Açıklama: Bölgede yeni gelişmeler") -> int:
    draft = make_draft(
        title=title,
        body="Dışişleri Bakanlığı bugün bir açıklama yaptı. " * 20,
        published=datetime(2026, 11, 20, 9, 30, tzinfo=UTC),
        source="import",
        url=f"https://example.com/news/{abs(hash(title))}",
    )
    result = await publish(store, draft)
    assert result.created
    return result.article.id


async def queue_audiences(store: Store) -> None:
    """Queue the audiences of new broadcasts now, as the engine's filler does, chunk by chunk."""
    for broadcast_id in await store.outbox.filling():
        while not await store.outbox.fill(broadcast_id, chunk=2):
            pass


async def settle(store: Store, engine: DeliveryEngine | None = None, timeout: float = 30.0) -> None:
    """Wait until nothing is pending (and nothing is in flight)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await store.outbox.pending_count() == 0 and (engine is None or not engine.in_flight):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{await store.outbox.pending_count()} deliveries still pending after {timeout}s")


async def deliveries(database: Path | str) -> dict[int, tuple[str, int, str | None]]:
    rows = await read_rows(database, "SELECT chat_id, status, attempts, error FROM deliveries")
    return {chat_id: (status, attempts, error) for chat_id, status, attempts, error in rows}


async def chat_row(database: Path | str, chat_id: int) -> tuple[int, int] | None:
    rows = await read_rows(database, "SELECT subscribed, reachable FROM chats WHERE chat_id = ?", (chat_id,))
    return rows[0] if rows else None


def assert_no_flood(telegram: FakeBotAPI) -> None:
    """No 429 provoked; on failure, show the sends around the first violation."""
    if telegram.violations:
        first = telegram.violations[0].time
        near = [
            (round(r.time - first, 4), r.status, r.params.get("chat_id"))
            for r in telegram.requests
            if r.method == "sendMessage" and abs(r.time - first) < 1.1
        ]
        raise AssertionError(f"{len(telegram.violations)} violations, first {telegram.violations[0]}: {near}")


def max_in_any_window(times: list[float], window: float = 1.0) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


async def test_every_subscriber_gets_a_new_article_once_in_their_language(strict, telegram, settings):
    store = strict.bot_data.store
    engine = engine_of(strict)
    engine.options = replace(engine.options, batch_size=16, concurrency=8)  # many pages, few senders
    renders = Counter()
    render_article_message = article_renderer(store, strict.bot_data.renderer)

    async def counting(ref: str, lang: str) -> RenderedMessage | None:
        renders[lang] += 1
        return await render_article_message(ref, lang)

    engine.register_renderer("article", counting)
    turkish, english = list(range(2001, 2041)), list(range(3001, 3031))
    await add_subscribers(store, turkish, "tr")
    await add_subscribers(store, english, "en")
    for chat_id in english:  # the article is Turkish: English readers get it when they read both
        await store.readers.set_languages(chat_id, ["tr", "en"])
    await store.chats.touch(4001, "private", "tr")  # talked to the bot, never subscribed
    await add_subscribers(store, [4002])
    await store.chats.unsubscribe(4002)
    await add_subscribers(store, [4003])
    await store.chats.mark_reachable(4003, False)  # blocked the bot earlier

    await publish_article(store)
    await settle(store, engine)

    per_chat = Counter(m.chat_id for m in telegram.sent)
    assert set(per_chat) == set(turkish + english)
    assert set(per_chat.values()) == {1}, "nobody gets the article twice"
    assert "Sitede oku" in str(telegram.messages_to(2001)[0].reply_markup)
    assert "Read on the site" in str(telegram.messages_to(3001)[0].reply_markup)
    assert renders == {"tr": 1, "en": 1}, "rendered once per language, not once per subscriber"
    assert_no_flood(telegram)
    assert max_in_any_window([m.time for m in telegram.sent]) <= settings.broadcast_rate
    assert {status for status, _, _ in (await deliveries(settings.database)).values()} == {"sent"}


async def test_a_reader_is_answered_first_during_a_broadcast(strict, telegram, settings):
    store = strict.bot_data.store
    await add_subscribers(store, list(range(100_001, 110_001)))  # a 10,000-subscriber broadcast
    await publish_article(store)
    await telegram.wait_for_messages(40, timeout=10)
    reader = Reader(strict, telegram, 77, language_code="en", first_name="Ann")
    before = len(telegram.sent)
    answer = await reader.says("/latest")
    assert "Bölgede yeni gelişmeler" in answer.plain
    overtaken = telegram.sent.index(answer) - before
    # Behind the queue the reply would wait for 10,000 sends; first in line, only for those already on
    # their way (a handful at 30/s; 100 leaves room for a slow machine without losing the point).
    assert overtaken < 100, f"{overtaken} broadcast messages went out before the reply"
    await telegram.wait_for_messages(len(telegram.sent) + 30, timeout=10)  # and the broadcast goes on
    assert await store.outbox.pending_count() > 9_000, "the broadcast was still running"
    assert_no_flood(telegram)


async def test_a_crowd_subscribing_during_a_broadcast_keeps_both_within_the_limits(strict, telegram):
    store = strict.bot_data.store
    await add_subscribers(store, list(range(20_001, 20_061)))
    await publish_article(store)
    await telegram.wait_for_messages(10, timeout=10)
    # This fake server shares the test's event loop: on a loaded machine it stamps requests late and in
    # clumps. A 0.9 s window still catches any limiter that lets 31 through, without flagging that clumping.
    telegram.limits.global_window = 0.9
    crowd = [make_user(30_000 + i, language_code="en") for i in range(300)]  # all in the same second
    updates = [Update.de_json(message_update(user, "/subscribe"), strict.bot) for user in crowd]
    await asyncio.gather(*(strict.process_update(update) for update in updates))
    await settle(store, engine_of(strict))
    assert all(len(telegram.messages_to(user["id"])) == 1 for user in crowd)
    assert all(len(telegram.messages_to(chat_id)) == 1 for chat_id in range(20_001, 20_061))
    assert_no_flood(telegram)
    assert max_in_any_window([m.time for m in telegram.sent], window=0.9) <= 30


async def test_flood_control_pauses_all_sending_then_the_delivery_is_retried(strict, telegram, settings):
    store = strict.bot_data.store
    await add_subscribers(store, list(range(5001, 5041)))
    telegram.fail_next("sendMessage", error=Fault.retry_after(2))
    await publish_article(store)
    await settle(store, engine_of(strict))
    flood = [r for r in telegram.requests if r.status == 429]
    assert len(flood) == 1
    paused = [
        r for r in telegram.requests
        if r.method == "sendMessage" and flood[0].time + 0.1 < r.time < flood[0].time + 1.9
    ]
    assert paused == [], "nothing is sent while Telegram's retry_after lasts"
    assert len(telegram.sent) == 40
    assert_no_flood(telegram)
    outcome = await deliveries(settings.database)
    assert {status for status, _, _ in outcome.values()} == {"sent"}
    assert outcome[flood[0].params["chat_id"]][1] == 1, "a 429 is not the delivery's fault"


async def test_server_errors_are_retried_with_backoff_then_given_up(strict, telegram, settings):
    store = strict.bot_data.store
    engine = engine_of(strict)
    engine.options = replace(engine.options, retry_cap=0.2)  # ten attempts in about 1.5 s, not 25 s
    await add_subscribers(store, [6001, 6002, 6003])
    telegram.fail_next("sendMessage", chat_id=6001, error=Fault.server_error(), times=2)
    telegram.fail_next("sendMessage", chat_id=6002, error=Fault.bad_gateway())
    telegram.set_chat_fault(6003, Fault.server_error())
    await publish_article(store)
    await settle(store, engine_of(strict))
    outcome = await deliveries(settings.database)
    assert outcome[6001][:2] == ("sent", 3)
    assert outcome[6002][:2] == ("sent", 2)
    status, attempts, error = outcome[6003]
    assert (status, attempts) == ("failed", engine_of(strict).options.max_attempts)
    assert "Internal Server Error" in error
    assert len(telegram.messages_to(6001)) == 1 and len(telegram.messages_to(6002)) == 1
    assert await chat_row(settings.database, 6003) == (1, 1), "a flaky server is no reason to drop a reader"


async def test_blocked_deactivated_and_unknown_chats_are_dropped_with_their_queue(strict, telegram, settings):
    store = strict.bot_data.store
    engine = engine_of(strict)
    await add_subscribers(store, [7001, 7002, 7003, 7004, -7005])
    await store.chats.set_language(-7005, "tr")  # a group reads the (Turkish) articles in its language
    telegram.block(7001)
    telegram.deactivate(7002)
    telegram.unknown_chat(7003)
    telegram.kick(-7005)
    await engine.stop()
    await publish_article(store, "First")
    await publish_article(store, "Second")
    await engine.start()
    await settle(store, engine)
    outcome = await deliveries(settings.database)
    rows = await read_rows(settings.database, "SELECT chat_id, status, error FROM deliveries")
    for chat_id in (7001, 7002, 7003, -7005):
        assert (await chat_row(settings.database, chat_id))[1] == 0, f"{chat_id} is marked unreachable"
        mine = [(status, error) for cid, status, error in rows if cid == chat_id]
        assert len(mine) == 2 and all(status == "failed" and error for status, error in mine)
    assert "blocked" in outcome[7001][2] and "deactivated" in outcome[7002][2]
    assert "chat not found" in outcome[7003][2].lower()
    assert len(telegram.messages_to(7004)) == 2
    telegram.restore(7001)
    reader = Reader(strict, telegram, 7001)
    await reader.says("/subscribe")
    assert await chat_row(settings.database, 7001) == (1, 1), "/subscribe brings a reader back"


async def test_a_group_that_became_a_supergroup_gets_the_article_at_its_new_id(strict, telegram, settings):
    store = strict.bot_data.store
    old, new = -7101, -1_000_000_007_101
    await add_subscribers(store, [old])
    await store.chats.set_language(old, "tr")
    telegram.migrate(old, new)
    await publish_article(store)
    await settle(store, engine_of(strict))
    assert len(telegram.messages_to(new)) == 1
    assert "Sitede oku" in str(telegram.messages_to(new)[0].reply_markup)
    assert telegram.messages_to(old) == []
    assert await chat_row(settings.database, new) == (1, 1)
    assert await chat_row(settings.database, old) == (0, 0)
    outcome = await deliveries(settings.database)
    assert outcome[new][0] == "sent" and old not in outcome
    await publish_article(store, "Next")
    await settle(store, engine_of(strict))
    assert len(telegram.messages_to(new)) == 2, "later articles go straight to the supergroup"


async def test_blocking_and_unblocking_via_my_chat_member(strict, telegram, settings):
    store = strict.bot_data.store
    engine = engine_of(strict)
    await engine.stop()
    reader = Reader(strict, telegram, 8001)
    await reader.says("/subscribe")
    await publish_article(store)
    await queue_audiences(store)  # what the stopped engine's filler would do: queue for every subscriber
    await reader.deliver(my_chat_member_update(make_chat(8001), reader.user, "member", "kicked"))
    assert await chat_row(settings.database, 8001) == (1, 0)
    status, _, error = (await deliveries(settings.database))[8001]
    assert status == "failed" and error == "blocked the bot"
    await reader.deliver(my_chat_member_update(make_chat(8001), reader.user, "kicked", "member"))
    assert await chat_row(settings.database, 8001) == (1, 1)
    await engine.start()
    await publish_article(store, "After unblocking")
    await telegram.wait_for_messages(2, chat_id=8001)  # the /subscribe answer and the new article


async def test_a_channel_that_makes_the_bot_admin_is_subscribed_until_removed(strict, telegram, settings):
    store = strict.bot_data.store
    channel = make_chat(-1_000_000_008_100, "channel", "Haber Kanalı")
    telegram.register_chat(channel)
    owner = Reader(strict, telegram, 8101, chat=channel)
    await owner.deliver(my_chat_member_update(channel, owner.user, "left", "administrator"))
    assert await chat_row(settings.database, channel["id"]) == (1, 1)
    await publish_article(store)
    posted = await telegram.wait_for_messages(1, chat_id=channel["id"])
    assert "Sitede oku" in str(posted[0].reply_markup), "in the language of the admin who added the bot"
    await owner.deliver(my_chat_member_update(channel, owner.user, "administrator", "left"))
    assert (await chat_row(settings.database, channel["id"]))[0] == 0
    await publish_article(store, "Later")
    await settle(store, engine_of(strict))
    assert len(telegram.messages_to(channel["id"])) == 1


async def test_only_group_admins_subscribe_a_group(strict, telegram, settings):
    group = make_chat(-8201, "group", "Okurlar")
    telegram.set_chat_admins(group["id"], [8202], creator=8203)
    member = Reader(strict, telegram, 8201, chat=group)
    refusal = await member.says("/subscribe")
    assert "yönetici" in refusal.plain and (await chat_row(settings.database, group["id"]))[0] == 0
    admin = Reader(strict, telegram, 8202, chat=group)
    assert "Abone oldunuz" in (await admin.says("/subscribe@newsbot_test_bot")).plain
    assert await chat_row(settings.database, group["id"]) == (1, 1)
    assert "yönetici" in (await member.says("/unsubscribe")).plain
    creator = Reader(strict, telegram, 8203, chat=group)
    await creator.says("/unsubscribe")
    assert (await chat_row(settings.database, group["id"]))[0] == 0


async def test_a_group_removing_the_bot_ends_its_subscription(strict, telegram, settings):
    group = make_chat(-8301, "group", "Okurlar")
    telegram.set_chat_admins(group["id"], [8302])
    admin = Reader(strict, telegram, 8302, chat=group)
    await admin.says("/subscribe")
    await admin.deliver(my_chat_member_update(group, admin.user, "member", "left"))
    assert (await chat_row(settings.database, group["id"]))[0] == 0


async def test_an_article_added_by_another_process_goes_out(strict, telegram, settings):
    await add_subscribers(strict.bot_data.store, [9001])
    other = await Store.open(settings.database)  # like `newsbot import` running next to the bot
    try:
        await publish_article(other)
    finally:
        await other.close()
    await telegram.wait_for_messages(1, chat_id=9001, timeout=5)


async def test_an_article_published_while_the_bot_was_down_goes_out_at_start(settings, telegram):
    telegram.limits.per_chat_per_second = 1
    store = await Store.open(settings.database)
    try:
        await add_subscribers(store, [9101, 9102])
        await publish_article(store)
    finally:
        await store.close()
    async with running(settings, private_chat_interval=1.0, send_margin=0.05):
        await telegram.wait_for_messages(1, chat_id=9101)
        await telegram.wait_for_messages(1, chat_id=9102)
    assert_no_flood(telegram)


async def test_paid_broadcast_asks_telegram_for_paid_delivery(settings, telegram):
    async with running(settings, paid_broadcast=True) as application:
        store = application.bot_data.store
        await add_subscribers(store, [9201, 9202])
        await publish_article(store)
        await settle(store, engine_of(application))
        assert len(telegram.sent) == 2 and all(m.allow_paid_broadcast for m in telegram.sent)


async def test_other_broadcast_kinds_render_through_registered_renderers(strict, telegram, settings):
    store = strict.bot_data.store
    await add_subscribers(store, [9301])
    await add_subscribers(store, [9302], "en")

    async def plate(ref: str, lang: str) -> RenderedMessage | None:
        if ref == "plate:2026-11-28":
            return None  # nothing to send: recorded as failed, never sent
        return RenderedMessage(f"<b>{'Hava' if lang == 'tr' else 'Weather'}</b> {ref}")

    engine_of(strict).register_renderer("weather", plate)
    for ref in ("plate:2026-11-27", "plate:2026-11-28"):
        async with store.db.transaction() as tx:
            await store.outbox.enqueue(
                tx, "weather", ref, "SELECT chat_id FROM chats WHERE subscribed = 1 AND reachable = 1"
            )
    await settle(store, engine_of(strict))
    assert telegram.messages_to(9301)[0].plain == "Hava plate:2026-11-27"
    assert telegram.messages_to(9302)[0].plain == "Weather plate:2026-11-27"
    query = "SELECT DISTINCT error FROM deliveries WHERE status = 'failed'"
    errors = await read_rows(settings.database, query)
    assert errors == [("nothing to send for weather plate:2026-11-28",)]


async def test_long_broadcasts_log_their_progress(strict, telegram, caplog):
    store = strict.bot_data.store
    engine = engine_of(strict)
    await engine.stop()
    engine.options = replace(engine.options, progress_interval=0.5)
    await engine.start()
    await add_subscribers(store, list(range(9401, 9461)))

    def lines() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name.startswith("bot.delivery")]

    def progress(line: str) -> bool:
        return "/60 done" in line and "msg/s" in line and "left" in line

    with caplog.at_level(logging.INFO, logger="bot.delivery"):
        await publish_article(store)
        await settle(store, engine)
        async with asyncio.timeout(30):  # the finished line comes with the next report; this bounds a hang
            while not any("finished: 60 deliveries" in line for line in lines()):
                await asyncio.sleep(0.05)
    assert any(progress(line) for line in lines()), lines()  # 60 at 30/s: two seconds, several reports
    assert len([line for line in lines() if "finished: 60 deliveries" in line]) == 1, lines()


async def test_stats_shows_operators_the_numbers_and_others_nothing(strict, telegram, settings):
    store = strict.bot_data.store
    await add_subscribers(store, [9501, 9502], "tr")
    await add_subscribers(store, [9503], "en")
    await add_subscribers(store, [-9504])
    await store.readers.set_languages(9503, ["en", "tr"])  # both get the Turkish article
    await store.readers.set_languages(-9504, ["tr"])
    telegram.block(9502)
    await store.weather.set_province(9503, 34)
    await publish_article(store)
    await settle(store, engine_of(strict))
    admin = Reader(strict, telegram, ADMIN_ID, language_code="en", first_name="Operator")
    figures, chart = await admin.send("/stats")
    assert chart.method == "sendPhoto"
    report = figures.plain
    assert "İstanbul: 1" in report and "no home province: 2" in report
    assert "Subscribers who came by invitation: 0" in report
    assert "Active subscribers: 3" in report
    assert "Turkish: 1" in report and "English: 2" in report
    assert "private chats: 2" in report and "groups: 1" in report
    assert "Articles: 1" in report
    assert "sent in the last 24 hours: 3" in report and "failed in the last 24 hours: 1" in report
    assert "pending: 0" in report and "msg/s (limit 30/s)" in report
    stranger = Reader(strict, telegram, 9599, language_code="en")
    refusal = (await stranger.says("/stats")).plain
    assert refusal == (await stranger.says("/nosuchcommand")).plain
    assert not any(ch.isdigit() for ch in refusal)
