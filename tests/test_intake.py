"""One reader cannot slow down the others: throttle, per-chat lanes, the broadcasts' share; virtual time.

These scenarios run python-telegram-bot's real Application (update queue, update processor, handler groups,
ExtBot and the production rate limiter built by ``bot.app.rate_limiter``) on tests/virtual_time.py's loop, so
every instant asserted below is exact. The Bot API is a request object that answers in-process and records
each call at the loop's time; the database is left out (aiosqlite works in threads, which a virtual clock
cannot wait for): ``/latest`` is a stand-in handler that works 10 ms and replies. What the flood costs in
the real bot, database included, is checked through the fake Bot API in tests/test_throttle_chat.py.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pytest
from telegram import Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BaseUpdateProcessor,
    CommandHandler,
    ContextTypes,
    SimpleUpdateProcessor,
)
from telegram.request import BaseRequest, RequestData

from bot.app import rate_limiter, update_processor
from bot.context import NewsbotContext, Services
from bot.delivery.ratelimit import TelegramRateLimiter
from bot.intake import ChatLanes, UserThrottle
from bot.render import Renderer
from bot.settings import Settings
from handlers import throttle
from tests.fake_telegram import callback_update, inline_query_update, make_chat, make_user, message_update
from tests.virtual_time import run_virtual

TOKEN = "123456:TEST-token_for_newsbot"
WORK = 0.01  # what the stand-in /latest "reads" before it replies, in virtual seconds
LATENCY = 0.05  # each Bot API call takes this long to answer
FLOODER = 1
OPERATOR = 900


def now() -> float:
    return asyncio.get_running_loop().time()


@dataclass
class Call:
    at: float
    endpoint: str
    params: dict[str, Any]


class VirtualTelegram(BaseRequest):
    """The Bot API without a network: every call is recorded at the loop's time and answered LATENCY later."""

    def __init__(self, latency: float = LATENCY) -> None:
        self.latency = latency
        self.calls: list[Call] = []

    @property
    def read_timeout(self) -> float | None:
        return 5.0

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def do_request(
        self, url: str, method: str, request_data: RequestData | None = None, **_: Any
    ) -> tuple[int, bytes]:
        endpoint = url.rsplit("/", 1)[-1]
        params = request_data.parameters if request_data else {}
        self.calls.append(Call(now(), endpoint, params))
        await asyncio.sleep(self.latency)
        result: Any = True
        if endpoint == "getMe":
            result = {"id": 123, "is_bot": True, "first_name": "N", "username": "newsbot_test_bot"}
        elif endpoint == "sendMessage":
            chat_id = int(params["chat_id"])
            chat = {"id": chat_id, "type": "private" if chat_id > 0 else "group", "title": "g"}
            result = {"message_id": len(self.calls), "date": 0, "chat": chat, "text": params.get("text")}
        return 200, json.dumps({"ok": True, "result": result}).encode()

    def sends(self, chat_id: int | None = None) -> list[Call]:
        sent = [c for c in self.calls if c.endpoint == "sendMessage"]
        return [c for c in sent if chat_id in (None, int(c.params["chat_id"]))]

    def answers(self, endpoint: str) -> list[Call]:
        return [c for c in self.calls if c.endpoint == endpoint]


def virtual_app(
    settings: Settings, telegram: VirtualTelegram, processor: BaseUpdateProcessor | None = None
) -> tuple[Application, Counter[int]]:
    """The Application as production builds it (limiter, processor, throttle answer) + a stand-in /latest."""
    clock = asyncio.get_running_loop().time
    application = (
        ApplicationBuilder()
        .token(TOKEN)
        .request(telegram)
        .get_updates_request(VirtualTelegram())
        .context_types(ContextTypes(context=NewsbotContext, bot_data=Services))
        .rate_limiter(rate_limiter(settings, clock))
        .concurrent_updates(processor if processor is not None else update_processor(settings, clock))
        .job_queue(None)
        .build()
    )
    application.bot_data.settings = settings
    worked: Counter[int] = Counter()

    async def latest(update: Update, context: NewsbotContext) -> None:
        worked[update.effective_user.id] += 1
        await asyncio.sleep(WORK)
        await context.bot.send_message(update.effective_chat.id, "the newest article")

    throttle.register(application)
    application.add_handler(CommandHandler("latest", latest))
    return application, worked


def message(app: Application, user_id: int, text: str = "/latest", lang: str = "en") -> Update:
    return Update.de_json(message_update(make_user(user_id, language_code=lang), text), app.bot)


async def engine_like_broadcast(
    limiter: TelegramRateLimiter, chats: Iterable[int], sent: list[float], rate: int = 30
) -> None:
    """Send to every chat the way bot/delivery/engine.py does: 128 senders started at 1.1 x the rate."""
    slots = asyncio.Semaphore(128)
    interval = 1.0 / (1.1 * rate)
    next_start = now()
    tasks = []

    async def one(chat_id: int) -> None:
        try:
            await limiter.acquire(chat_id, reader=False)
            sent.append(now())
            await asyncio.sleep(LATENCY)
        finally:
            slots.release()

    for chat_id in chats:
        await slots.acquire()
        if next_start > now() + 0.005:
            await asyncio.sleep(next_start - now())
        next_start = max(next_start, now() - 0.01) + interval
        tasks.append(asyncio.create_task(one(chat_id)))
    await asyncio.gather(*tasks)


def window_holds_at_most(times: list[float], limit: int, period: float) -> bool:
    times = sorted(times)
    return all(times[i + limit] >= times[i] + period - 1e-9 for i in range(len(times) - limit))


# ---------------------------------------------------------------- the acceptance scenario


def flood_scenario(processor_factory: Any = None) -> dict[str, Any]:
    """A broadcast to 1,000 runs; at 5 s one user floods 100 /latest; 20 others ask, one every 0.1 s."""

    async def scenario() -> dict[str, Any]:
        settings = Settings(token=TOKEN)  # production defaults: 30/s, 1/s per chat, 20 updates per 10 s
        telegram = VirtualTelegram()
        processor = processor_factory() if processor_factory else None
        app, worked = virtual_app(settings, telegram, processor)
        await app.initialize()
        await app.start()
        broadcast: list[float] = []
        sending = asyncio.create_task(
            engine_like_broadcast(app.bot.rate_limiter, range(10_000, 11_000), broadcast)
        )
        await asyncio.sleep(5.0)
        flood_at = now()
        for _ in range(100):
            app.update_queue.put_nowait(message(app, FLOODER))
        asked = {}
        for reader in range(101, 121):
            asked[reader] = now()
            app.update_queue.put_nowait(message(app, reader))
            await asyncio.sleep(0.1)
        await sending
        await app.stop()
        await app.shutdown()
        waits = {r: (telegram.sends(r) or [Call(math.inf, "", {})])[0].at - at for r, at in asked.items()}
        return {
            "flood_at": flood_at,
            "waits": waits,
            "broadcast": broadcast,
            "telegram": telegram,
            "worked": worked,
            "processor": app.update_processor,
        }

    return run_virtual(scenario())


def test_a_flood_neither_delays_other_readers_nor_stops_a_broadcast() -> None:
    result = flood_scenario()
    flood_at, waits, broadcast = result["flood_at"], result["waits"], result["broadcast"]
    telegram: VirtualTelegram = result["telegram"]
    # 20 other readers, each answered within 1.5 s of asking (in fact within one Bot API call or two).
    assert max(waits.values()) <= 1.5, waits
    # The flooder: the first /latest answered, then one "slow down"; the other 99 did no work and made
    # no Bot API call (the 19 queued before the 21st were dropped with it).
    to_flooder = telegram.sends(FLOODER)
    assert [c.params["text"] for c in to_flooder] == [
        "the newest article",
        Renderer().message("en", "slow_down"),
    ]
    assert result["worked"][FLOODER] == 1
    assert result["processor"].dropped == 98
    assert result["processor"].noticed == 1
    # Meanwhile the broadcast kept going: at least 15 msg/s in every second from the flood until the last
    # reader was answered, and all 1,000 went out.
    last_answer = max(telegram.sends(r)[0].at for r in waits)
    seconds = math.ceil(last_answer - flood_at)
    per_second = [sum(flood_at + k <= t < flood_at + k + 1 for t in broadcast) for k in range(seconds)]
    assert min(per_second) >= 15, per_second
    assert len(broadcast) == 1000
    # And Telegram's 30 per second was never exceeded by everything together.
    everything = sorted([*broadcast, *(c.at for c in telegram.sends())])
    assert window_holds_at_most(everything, 30, 1.0)


def test_with_plain_concurrent_updates_the_same_flood_stalls_every_reader() -> None:
    """The bug this guards against, reproduced: PTB's 64 plain slots all wait for the flooder's chat."""
    result = flood_scenario(lambda: SimpleUpdateProcessor(64))
    assert min(result["waits"].values()) > 30.0
    assert result["worked"][FLOODER] == 100


# ---------------------------------------------------------------- lanes and slots

PACE = 1.0 + Settings().send_margin  # a private chat's one message per second, plus the margin


def test_a_reply_waiting_for_its_chat_holds_no_slot() -> None:
    async def scenario(processor_factory: Any) -> float:
        settings = Settings(token=TOKEN, user_rate=None)
        telegram = VirtualTelegram(latency=0.0)
        app, _ = virtual_app(settings, telegram, processor_factory())
        await app.initialize()
        await app.start()
        for reader in (1, 2):
            app.update_queue.put_nowait(message(app, reader))
        await asyncio.sleep(0.1)  # both answered at 0.01; their chats' next message may go one PACE later
        for reader in (1, 2):
            app.update_queue.put_nowait(message(app, reader))
        await asyncio.sleep(0.1)
        assert app.update_processor.current_concurrent_updates == 2  # both still waiting
        app.update_queue.put_nowait(message(app, 3))
        await asyncio.sleep(2.0)
        await app.stop()
        await app.shutdown()
        assert [c.at for c in telegram.sends(1)] == pytest.approx([0.01, 0.01 + PACE])
        return telegram.sends(3)[0].at

    # Two slots, both updates waiting for their chat's window: a third chat is answered at once (asked
    # at 0.2, worked 10 ms) ...
    assert run_virtual(scenario(lambda: ChatLanes(2))) == pytest.approx(0.21)
    # ... where PTB's plain processor keeps it waiting until one of them has sent.
    assert run_virtual(scenario(lambda: SimpleUpdateProcessor(2))) == pytest.approx(0.02 + PACE)


def test_one_chat_runs_one_update_at_a_time_in_order_and_slots_bound_the_work() -> None:
    async def scenario() -> None:
        lanes = ChatLanes(2)
        runs: list[tuple[str, float, float]] = []

        async def work(name: str) -> None:
            started = now()
            await asyncio.sleep(1.0)
            runs.append((name, started, now()))

        async def update(chat_id: int, name: str) -> None:
            chat = make_chat(chat_id, "private", "x")
            raw = message_update(make_user(chat_id), "hi", chat=chat)
            await lanes.process_update(Update.de_json(raw, None), work(name))

        await asyncio.gather(
            update(1, "a1"), update(1, "a2"), update(1, "a3"), update(2, "b1"), update(3, "c1")
        )
        starts = {name: started for name, started, _ in runs}
        # Chat 1 in order, one at a time; chats 2 and 3 share the second slot (two slots in all).
        assert starts == {"a1": 0.0, "b1": 0.0, "a2": 1.0, "c1": 1.0, "a3": 2.0}
        assert lanes.busy_lanes == 0
        assert lanes.working == 0

    run_virtual(scenario())


# ---------------------------------------------------------------- the throttle through the Application


def throttled_app(telegram: VirtualTelegram, **overrides: Any) -> tuple[Application, Counter[int]]:
    settings = Settings(token=TOKEN, admin_ids=frozenset({OPERATOR}), user_quiet=30.0, **overrides)
    return virtual_app(settings, telegram)


def test_a_burst_of_normal_use_never_trips_the_throttle() -> None:
    async def scenario() -> None:
        telegram = VirtualTelegram(latency=0.0)
        app, worked = throttled_app(telegram)
        await app.initialize()
        await app.start()
        for _ in range(5):  # five quick commands ...
            app.update_queue.put_nowait(message(app, 7))
        await asyncio.sleep(1.0)
        for _ in range(14):  # ... then paging through a picker, two presses a second
            app.update_queue.put_nowait(Update.de_json(callback_update(make_user(7), "page"), app.bot))
            await asyncio.sleep(0.5)
        await asyncio.sleep(10.0)  # reading
        for _ in range(120):  # and two minutes of one update a second
            app.update_queue.put_nowait(message(app, 7))
            await asyncio.sleep(1.0)
        await app.stop()
        await app.shutdown()
        assert worked[7] == 125
        assert app.update_processor.noticed == app.update_processor.dropped == 0

    run_virtual(scenario())


def test_over_the_limit_one_notice_then_silence_until_the_flood_stops() -> None:
    async def scenario() -> None:
        telegram = VirtualTelegram(latency=0.0)
        app, worked = throttled_app(telegram)
        await app.initialize()
        await app.start()
        for _ in range(21):  # the 21st within 10 s goes over, at 2.0
            app.update_queue.put_nowait(message(app, 7, lang="tr"))
            await asyncio.sleep(0.1)
        await asyncio.sleep(5.0)
        # Its chat's replies go one a second: by 2.0 the first two were answered and the third was being
        # handled; the 17 still queued are dropped with the 21st, which gets the notice instead.
        assert worked[7] == 3
        assert [c.at for c in telegram.sends(7)] == pytest.approx([0.01 + k * PACE for k in range(4)])
        assert telegram.sends(7)[-1].params["text"] == Renderer().message("tr", "slow_down")
        assert app.update_processor.dropped == 17
        for _ in range(100):  # 2.5 a second, on past the 30 quiet seconds: still ignored, no second notice
            app.update_queue.put_nowait(message(app, 7, lang="tr"))
            await asyncio.sleep(0.4)
        assert worked[7] == 3
        assert len(telegram.sends(7)) == 4
        await asyncio.sleep(10.0)  # calm for a whole period: the next update is answered again
        app.update_queue.put_nowait(message(app, 7, lang="tr"))
        await asyncio.sleep(2.0)
        assert worked[7] == 4
        assert telegram.sends(7)[-1].params["text"] == "the newest article"
        # The operator is never throttled.
        for _ in range(50):
            app.update_queue.put_nowait(message(app, OPERATOR))
        await asyncio.sleep(60.0)
        assert worked[OPERATOR] == 50
        await app.stop()
        await app.shutdown()

    run_virtual(scenario())


def test_button_presses_and_inline_queries_count_and_get_a_cheap_notice() -> None:
    async def scenario() -> None:
        telegram = VirtualTelegram(latency=0.0)
        app, _ = throttled_app(telegram, user_rate=(3, 10.0))
        await app.initialize()
        await app.start()
        presses = [callback_update(make_user(7, language_code="en"), "page") for _ in range(6)]
        for press in presses:
            app.update_queue.put_nowait(Update.de_json(press, app.bot))
        queries = [inline_query_update(make_user(8, language_code="tr"), "haber") for _ in range(6)]
        for query in queries:
            app.update_queue.put_nowait(Update.de_json(query, app.bot))
        await asyncio.sleep(1.0)
        await app.stop()
        await app.shutdown()
        # No handler answers "page" or inline queries in this stand-in app: the only answers are the
        # notices, each to the 4th update, a toast for the button and an empty list for the query.
        callbacks = telegram.answers("answerCallbackQuery")
        assert [c.params["callback_query_id"] for c in callbacks] == [presses[3]["callback_query"]["id"]]
        assert callbacks[0].params["text"] == Renderer().message("en", "slow_down")
        inline = telegram.answers("answerInlineQuery")
        assert [c.params["inline_query_id"] for c in inline] == [queries[3]["inline_query"]["id"]]
        assert inline[0].params["results"] in ([], "[]")
        assert app.update_processor.dropped == 4

    run_virtual(scenario())


def test_anonymous_admins_count_per_group_and_membership_changes_are_never_dropped() -> None:
    throttle_ = UserThrottle(2, 10.0, clock=lambda: 0.0)
    group = make_chat(-100, "supergroup", "g")
    anonymous_bot = make_user(1087968824, first_name="Group")
    as_group = message_update(anonymous_bot, "/latest", chat=group)
    as_group["message"]["sender_chat"] = group
    update = Update.de_json(as_group, None)
    from bot.intake import sender_of

    assert sender_of(update) == -100  # not the shared GroupAnonymousBot user
    blocked = {
        "update_id": 1,
        "my_chat_member": {
            "chat": make_chat(5, "private", "x"),
            "from": make_user(5),
            "date": 0,
            "old_chat_member": {"user": make_user(123), "status": "member"},
            "new_chat_member": {"user": make_user(123), "status": "kicked", "until_date": 0},
        },
    }
    assert sender_of(Update.de_json(blocked, None)) is None
    assert [throttle_.check(sender_of(update)).value for _ in range(4)] == ["pass", "pass", "notice", "drop"]


def test_throttle_window_quiet_time_and_memory() -> None:
    clock = [0.0]
    throttle_ = UserThrottle(3, 10.0, quiet=30.0, exempt={9}, clock=lambda: clock[0])

    def at(t: float, sender: int = 1) -> str:
        clock[0] = t
        return throttle_.check(sender).value

    # Three in any 10 s pass; a fourth 9.9 s after the first goes over; one just after a full period passes.
    assert [at(0.0), at(1.0), at(2.0), at(9.9)] == ["pass", "pass", "pass", "notice"]
    assert at(20.0) == "drop"  # quiet for 30 s from 9.9
    assert at(40.0) == "pass"  # quiet over, and calm: passes, the episode is over
    assert [at(40.1), at(40.2), at(40.3)] == ["pass", "pass", "notice"]  # a new episode, a new notice
    assert [at(t, 9) for t in itertools.repeat(41.0, 50)] == ["pass"] * 50  # exempt
    # Senders calm for a whole period are forgotten as others arrive: memory follows active senders only.
    for i in range(3000):  # 100 new senders a second for 30 s: about 1,000 seen in the last 10 s
        at(100.0 + i * 0.01, 1000 + i)
    assert len(throttle_) <= 1002
