"""TelegramRateLimiter: exact window maths on a fake clock, then real-time behaviour via process_request."""

from __future__ import annotations

import asyncio
import datetime as dtm
import itertools
import json
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from telegram.error import RetryAfter
from telegram.ext import ExtBot
from telegram.request import BaseRequest, RequestData

from bot.delivery.ratelimit import SlidingWindow, TelegramRateLimiter, is_limited_endpoint

# PTB's own RetryAfter.__init__ reads the deprecated int-valued attribute; not our concern here.
pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning")

# Callbacks run a few microseconds after the limiter records the grant; allow that much jitter.
TOL = 1e-3
BROADCAST = {"priority": "broadcast"}


# ---------------------------------------------------------------- pure window, fake clock


def test_sliding_window_basic() -> None:
    w = SlidingWindow(3, 1.0)
    assert [w.reserve(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert w.reserve(0.0) == 1.0  # 4th waits a full window, not 1/3 s like a leaky bucket
    assert w.reserve(0.2) == pytest.approx(0.8)
    assert w.reserve(0.9) == pytest.approx(0.1)
    assert w.reserve(5.0) == 0.0
    assert w.count(5.0) == 1


def test_sliding_window_validation() -> None:
    with pytest.raises(ValueError):
        SlidingWindow(0, 1.0)
    with pytest.raises(ValueError):
        SlidingWindow(1, 0)


def _assert_window(times: list[float], limit: int, period: float, tol: float = 0.0) -> None:
    """No half-open window [t, t + period) holds more than ``limit`` of ``times``."""
    times = sorted(times)
    for i in range(len(times) - limit):
        assert times[i + limit] >= times[i] + period - tol, (i, times[i], times[i + limit])


@settings(max_examples=300, deadline=None)
@given(
    limit=st.integers(1, 8),
    period=st.sampled_from([0.5, 1.0, 3.0, 60.0]),
    gaps=st.lists(st.floats(0, 2.0, allow_nan=False), min_size=1, max_size=80),
)
def test_sliding_window_property(limit: int, period: float, gaps: list[float]) -> None:
    w = SlidingWindow(limit, period)
    now, granted = 0.0, []
    for gap in gaps:
        now += gap
        delay = w.reserve(now)
        assert delay >= 0
        granted.append(now + delay)
    assert all(b >= a - 1e-9 for a, b in itertools.pairwise(granted))  # first come, first served
    _assert_window(granted, limit, period, tol=1e-9)
    # Work-conserving: each grant is the earliest instant the window allows, never later.
    now = 0.0
    for i, gap in enumerate(gaps):
        now += gap
        earliest = max(now, granted[i - limit] + period) if i >= limit else now
        assert granted[i] == pytest.approx(earliest, abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(limit=st.integers(1, 6), nows=st.lists(st.floats(0, 10, allow_nan=False), min_size=1, max_size=60))
def test_sliding_window_any_clock_order(limit: int, nows: list[float]) -> None:
    w = SlidingWindow(limit, 1.0)
    granted = [now + w.reserve(now) for now in nows]
    assert all(g >= n - 1e-9 for g, n in zip(granted, nows, strict=True))
    _assert_window(granted, limit, 1.0, tol=1e-9)


def test_limited_endpoints() -> None:
    for name in (
        "sendMessage",
        "sendPhoto",
        "sendMediaGroup",
        "copyMessage",
        "forwardMessages",
        "editMessageText",
        "editMessageReplyMarkup",
        "stopPoll",
    ):
        assert is_limited_endpoint(name), name
    for name in (
        "getUpdates",
        "getMe",
        "answerCallbackQuery",
        "answerInlineQuery",
        "setMyCommands",
        "deleteMyCommands",
        "deleteWebhook",
        "sendChatAction",
        "getChat",
    ):
        assert not is_limited_endpoint(name), name


# ---------------------------------------------------------------- real time via process_request


class Recorder:
    """Fake PTB callback: records when each request actually hit 'the network'."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, str]] = []

    def times(self, tag: str | None = None) -> list[float]:
        return [t for t, g in self.calls if tag is None or g == tag]

    async def callback(self, tag: str, fail: list[Exception] | None = None) -> dict[str, Any]:
        self.calls.append((time.monotonic(), tag))
        if fail:
            raise fail.pop(0)
        await asyncio.sleep(0)
        return {"ok": tag}


def send(
    limiter: TelegramRateLimiter,
    rec: Recorder,
    chat_id: Any,
    tag: str = "",
    rla: dict[str, Any] | None = None,
    endpoint: str = "sendMessage",
    fail: list[Exception] | None = None,
    **data: Any,
) -> Any:
    return limiter.process_request(
        callback=rec.callback,
        args=(tag,),
        kwargs={"fail": fail},
        endpoint=endpoint,
        data={"chat_id": chat_id, "text": "x", **data},
        rate_limit_args=rla,
    )


async def test_burst_is_spread_strictly() -> None:
    limiter = TelegramRateLimiter(overall_per_second=30, reader_reserve=0)
    rec = Recorder()
    start = time.monotonic()
    await asyncio.gather(*(send(limiter, rec, 1000 + i, rla=BROADCAST) for i in range(60)))
    times = rec.times()
    assert len(times) == 60
    assert times[-1] - start >= 1.0 - TOL  # 60 at 30/s cannot finish inside one second
    _assert_window(times, 30, 1.0, TOL)
    assert sum(t - start < 0.5 for t in times) == 30  # first window used fully (sliding, not leaky)
    assert limiter.counters["broadcast_sends"] == 60


async def test_smooth_spaces_sends_evenly_and_keeps_readers_first() -> None:
    limiter = TelegramRateLimiter(overall_per_second=20, overall_period=0.5, reader_reserve=0, smooth=True)
    rec = Recorder()
    start = time.monotonic()
    broadcasts = [asyncio.ensure_future(send(limiter, rec, 1000 + i, "b", rla=BROADCAST)) for i in range(20)]
    await asyncio.sleep(0.1)
    await send(limiter, rec, 5, "reader")
    assert time.monotonic() - start < 0.1 + 0.025 + 0.015  # the next slot, not the end of the queue
    await asyncio.gather(*broadcasts)
    times = rec.times()
    gaps = [b - a for a, b in itertools.pairwise(rec.times("b"))]
    assert min(gaps) >= 0.025 - 0.011, "one send per period/limit (25 ms), a late timer made up by <= 10 ms"
    assert sum(t - start < 0.25 for t in times) <= 11, "no burst: the first window is not filled at once"
    _assert_window(times, 20, 0.5, TOL)


async def test_reserve_keeps_slots_for_readers() -> None:
    limiter = TelegramRateLimiter(overall_per_second=10, overall_period=0.5, reader_reserve=2)
    rec = Recorder()
    await asyncio.gather(*(send(limiter, rec, 1000 + i, rla=BROADCAST) for i in range(24)))
    _assert_window(rec.times(), 8, 0.5, TOL)  # broadcasts never use the 2 reserved slots


async def test_private_chat_one_per_period_without_head_of_line_blocking() -> None:
    limiter = TelegramRateLimiter(private_period=0.3)
    rec = Recorder()
    start = time.monotonic()
    tasks = [asyncio.ensure_future(send(limiter, rec, 7, "seven")) for _ in range(4)]
    await asyncio.sleep(0.05)
    await send(limiter, rec, 8, "eight")  # another chat is not stuck behind chat 7
    assert time.monotonic() - start < 0.25
    await asyncio.gather(*tasks)
    _assert_window(rec.times("seven"), 1, 0.3, TOL)
    assert rec.times("seven")[-1] - start >= 0.9 - TOL


async def test_group_window() -> None:
    limiter = TelegramRateLimiter(overall_per_second=1000, group_per_period=20, group_period=0.5)
    rec = Recorder()
    start = time.monotonic()
    await asyncio.gather(
        *(send(limiter, rec, -100123, "g") for _ in range(45)),
        *(send(limiter, rec, "@newschannel", "c") for _ in range(21)),
    )
    g = rec.times("g")
    _assert_window(g, 20, 0.5, TOL)
    assert g[-1] - start >= 1.0 - TOL
    assert sum(t - start < 0.25 for t in g) == 20
    _assert_window(rec.times("c"), 20, 0.5, TOL)  # @username chats count as channels


async def test_paid_broadcasts_use_their_own_window() -> None:
    limiter = TelegramRateLimiter(overall_per_second=5, paid_per_second=40, reader_reserve=0)
    rec = Recorder()
    start = time.monotonic()
    await asyncio.gather(
        *(send(limiter, rec, 5000 + i, "paid", BROADCAST, allow_paid_broadcast=True) for i in range(40)),
        *(send(limiter, rec, 9000 + i, "free", BROADCAST) for i in range(5)),
    )
    assert time.monotonic() - start < 0.5  # neither kind waited for the other
    _assert_window(rec.times("paid"), 40, 1.0, TOL)
    assert limiter.counters["paid_sends"] == 40
    more = asyncio.ensure_future(send(limiter, rec, 6000, "paid2", BROADCAST, allow_paid_broadcast=True))
    await asyncio.sleep(0.3)
    assert not more.done()  # 41st paid send in the window waits
    await more


async def test_reader_jumps_saturated_broadcast_queue() -> None:
    limiter = TelegramRateLimiter(overall_per_second=10, overall_period=0.5, reader_reserve=0)
    rec = Recorder()
    broadcast = asyncio.gather(*(send(limiter, rec, 1000 + i, "b", BROADCAST) for i in range(40)))
    await asyncio.sleep(0.2)
    asked = time.monotonic()
    await send(limiter, rec, 42, "reader")
    waited = time.monotonic() - asked
    assert waited <= 0.5 + 0.1  # at most one window slot, not behind 30 queued broadcasts
    reader_at = rec.times("reader")[0]
    # Every broadcast that went out after the reader asked went out after the reader.
    assert all(t >= reader_at for t in rec.times("b") if t > asked)
    await broadcast
    _assert_window(rec.times(), 10, 0.5, TOL)


async def test_reader_goes_at_once_with_default_reserve() -> None:
    limiter = TelegramRateLimiter(overall_per_second=10, overall_period=0.5)  # reserve 2
    rec = Recorder()
    broadcast = asyncio.gather(*(send(limiter, rec, 1000 + i, "b", BROADCAST) for i in range(40)))
    await asyncio.sleep(0.2)
    asked = time.monotonic()
    await send(limiter, rec, 42, "reader")
    assert time.monotonic() - asked < 0.1
    await broadcast
    _assert_window(rec.times(), 10, 0.5, TOL)
    _assert_window(rec.times("b"), 8, 0.5, TOL)


async def test_reader_promotes_broadcast_holding_its_chat() -> None:
    """A broadcast queued deep in the global queue must not make the same chat's reply wait for it."""
    limiter = TelegramRateLimiter(
        overall_per_second=10, overall_period=0.5, reader_reserve=0, private_period=0.3
    )
    rec = Recorder()
    broadcast = asyncio.gather(*(send(limiter, rec, 1000 + i, f"b{i}", BROADCAST) for i in range(60)))
    await asyncio.sleep(0.1)
    asked = time.monotonic()
    await send(limiter, rec, 1059, "reader")  # chat 1059's broadcast is last in the queue (~3 s away)
    assert time.monotonic() - asked < 1.0
    assert rec.times("b59")[0] < rec.times("reader")[0]  # it was promoted, the reply followed 0.3 s later
    await broadcast
    _assert_window(rec.times(), 10, 0.5, TOL)
    _assert_window([*rec.times("b59"), *rec.times("reader")], 1, 0.3, TOL)


async def test_retry_after_pauses_everybody_and_retries_readers_once() -> None:
    limiter = TelegramRateLimiter(overall_per_second=1000, reader_reserve=0)
    rec = Recorder()
    pause = 0.4
    start = time.monotonic()
    reader = asyncio.ensure_future(
        send(limiter, rec, 1, "reader", fail=[RetryAfter(dtm.timedelta(seconds=pause))])
    )
    await asyncio.sleep(0.05)
    during = [asyncio.ensure_future(send(limiter, rec, 100 + i, "during", BROADCAST)) for i in range(5)]
    bypass = await send(limiter, rec, 2, "callback", endpoint="answerCallbackQuery")
    assert bypass == {"ok": "callback"}
    assert time.monotonic() - start < 0.2  # unlimited methods are not paused
    assert await reader == {"ok": "reader"}
    await asyncio.gather(*during)
    reader_calls = rec.times("reader")
    assert len(reader_calls) == 2
    assert reader_calls[1] - reader_calls[0] >= pause - TOL
    assert all(t >= reader_calls[0] + pause - TOL for t in rec.times("during"))
    assert limiter.counters["retry_after"] == 1
    assert limiter.counters["retries"] == 1


async def test_retry_after_reraised_for_broadcast() -> None:
    limiter = TelegramRateLimiter(overall_per_second=1000)
    rec = Recorder()
    start = time.monotonic()
    with pytest.raises(RetryAfter):
        await send(limiter, rec, 1, "b", BROADCAST, fail=[RetryAfter(dtm.timedelta(seconds=0.3))])
    assert time.monotonic() - start < 0.1  # the delivery engine decides what to do
    await send(limiter, rec, 2, "next", BROADCAST)
    assert rec.times("next")[0] - rec.times("b")[0] >= 0.3 - TOL  # but nobody sends during the pause
    assert limiter.stats()["reraised"] == 1
    # max_retries can be overridden per call
    rec2 = Recorder()
    fail: list[Exception] = [RetryAfter(dtm.timedelta(seconds=0.1))]
    await send(limiter, rec2, 3, "b", {"priority": "broadcast", "max_retries": 1}, fail=fail)
    assert len(rec2.calls) == 2


async def test_cancelled_waiter_does_not_leak_a_slot() -> None:
    limiter = TelegramRateLimiter(overall_per_second=2, overall_period=0.3, reader_reserve=0)
    rec = Recorder()
    await asyncio.gather(send(limiter, rec, 1), send(limiter, rec, 2))
    doomed = asyncio.ensure_future(send(limiter, rec, 3, "doomed"))
    later = [asyncio.ensure_future(send(limiter, rec, 4 + i, "later")) for i in range(2)]
    await asyncio.sleep(0.05)
    doomed.cancel()
    await asyncio.gather(*later)
    assert rec.times("doomed") == []
    _assert_window(rec.times(), 2, 0.3, TOL)
    assert rec.times("later")[-1] - rec.times()[0] < 0.3 + 0.15  # both fit in the next window


async def test_rate_limit_args_validation_and_stats() -> None:
    limiter = TelegramRateLimiter()
    rec = Recorder()
    with pytest.raises(ValueError, match="priority"):
        await send(limiter, rec, 1, rla={"priority": "urgent"})
    await send(limiter, rec, 1)
    await send(limiter, rec, 2, rla=BROADCAST)
    await send(limiter, rec, 3, endpoint="getMe")
    assert limiter.current_rate() == 2
    stats = limiter.stats()
    assert stats["reader_sends"] == 1
    assert stats["broadcast_sends"] == 1
    assert stats["passed_through"] == 1
    assert stats["waiting_readers"] == stats["waiting_broadcasts"] == 0
    await limiter.shutdown()


# ---------------------------------------------------------------- PTB plumbing


class CannedRequest(BaseRequest):
    """No network: answers getMe and sendMessage so ExtBot can run end to end."""

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
        if endpoint == "getMe":
            result: Any = {"id": 1, "is_bot": True, "first_name": "N", "username": "n_bot"}
        else:
            params = request_data.parameters if request_data else {}
            result = {
                "message_id": 1,
                "date": 0,
                "chat": {"id": int(params["chat_id"]), "type": "private"},
                "text": params.get("text"),
            }
        return 200, json.dumps({"ok": True, "result": result}).encode()


class SpyLimiter(TelegramRateLimiter):
    __slots__ = ("seen",)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seen: list[tuple[str, dict[str, Any], Any]] = []

    async def process_request(self, callback, args, kwargs, endpoint, data, rate_limit_args):  # type: ignore[no-untyped-def]
        self.seen.append((endpoint, dict(data), rate_limit_args))
        return await super().process_request(callback, args, kwargs, endpoint, data, rate_limit_args)


async def test_ext_bot_forwards_rate_limit_args() -> None:
    limiter = SpyLimiter()
    token = "123:" + "A" * 35
    async with ExtBot(
        token, request=CannedRequest(), get_updates_request=CannedRequest(), rate_limiter=limiter
    ) as bot:
        msg = await bot.send_message(55, "hi", rate_limit_args={"priority": "broadcast"})
        assert msg.chat.id == 55
        await bot.send_message(56, "reply")
    endpoints = [(e, d.get("chat_id"), r) for e, d, r in limiter.seen]
    assert ("sendMessage", 55, {"priority": "broadcast"}) in endpoints
    assert ("sendMessage", 56, None) in endpoints
    assert limiter.counters["broadcast_sends"] == 1
    assert limiter.counters["reader_sends"] == 1
    assert all("__RL" not in "".join(d) for _, d, _ in limiter.seen)  # PTB strips its private key
