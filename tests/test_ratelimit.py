"""TelegramRateLimiter: exact window maths on a fake clock, then exact behaviour on a virtual-time loop."""

from __future__ import annotations

import asyncio
import datetime as dtm
import itertools
import json
import warnings
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from telegram.error import RetryAfter
from telegram.ext import ExtBot
from telegram.request import BaseRequest, RequestData

from bot.delivery.ratelimit import (
    SlidingWindow,
    TelegramRateLimiter,
    is_limited_endpoint,
    retry_after_seconds,
)
from tests.virtual_time import run_virtual

# PTB's own RetryAfter.__init__ reads the deprecated int-valued attribute; not our concern here.
pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning")

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


# ---------------------------------------------------------------- virtual time via process_request
#
# Every scenario runs on tests/virtual_time.py's loop: the limiter and the Recorder both read the loop's
# clock, timers fire exactly when they are due, and nothing waits in real time, so the assertions below
# are exact instants (equal up to float rounding) or orders, never "fast enough" bounds.


def at(seconds: float | list[float]) -> Any:
    """A virtual instant (or list of them), equal up to float rounding: 0.1 + 0.2 is "0.3"."""
    return pytest.approx(seconds, abs=1e-9)


def now() -> float:
    return asyncio.get_running_loop().time()


def make_limiter(**kwargs: Any) -> TelegramRateLimiter:
    """A limiter on the running (virtual) loop's clock; call it inside the scenario."""
    return TelegramRateLimiter(clock=asyncio.get_running_loop().time, **kwargs)


class Recorder:
    """Fake PTB callback: records when (loop time) each request actually hit 'the network'."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, str]] = []

    def times(self, tag: str | None = None) -> list[float]:
        return [t for t, g in self.calls if tag is None or g == tag]

    def tags(self) -> list[str]:
        return [g for _, g in self.calls]

    async def callback(
        self, tag: str, fail: list[Exception] | None = None, answer_after: float = 0.0
    ) -> dict[str, Any]:
        self.calls.append((now(), tag))
        await asyncio.sleep(answer_after)  # Telegram's answer takes this long
        if fail:
            raise fail.pop(0)
        return {"ok": tag}


def send(
    limiter: TelegramRateLimiter,
    rec: Recorder,
    chat_id: Any,
    tag: str = "",
    rla: dict[str, Any] | None = None,
    endpoint: str = "sendMessage",
    fail: list[Exception] | None = None,
    answer_after: float = 0.0,
    **data: Any,
) -> Any:
    return limiter.process_request(
        callback=rec.callback,
        args=(tag,),
        kwargs={"fail": fail, "answer_after": answer_after},
        endpoint=endpoint,
        data={"chat_id": chat_id, "text": "x", **data},
        rate_limit_args=rla,
    )


def start(coro: Any) -> asyncio.Task[Any]:
    return asyncio.ensure_future(coro)


def test_virtual_loop_jumps_to_timers_in_order() -> None:
    async def scenario() -> list[tuple[str, float]]:
        seen: list[tuple[str, float]] = []

        async def wake(name: str, delay: float) -> None:
            await asyncio.sleep(delay)
            seen.append((name, now()))

        await asyncio.gather(wake("late", 1000.0), wake("soon", 0.3), wake("first", 0.1))
        return seen

    assert run_virtual(scenario()) == [("first", 0.1), ("soon", 0.3), ("late", 1000.0)]


def test_burst_is_spread_strictly() -> None:
    async def scenario() -> None:
        limiter = make_limiter(overall_per_second=30, reader_reserve=0)
        rec = Recorder()
        await asyncio.gather(*(send(limiter, rec, 1000 + i, rla=BROADCAST) for i in range(60)))
        # Sliding, not leaky: the first window is used fully at once, the rest waits exactly one period.
        assert rec.times() == at([0.0] * 30 + [1.0] * 30)
        assert limiter.counters["broadcast_sends"] == 60

    run_virtual(scenario())


def test_smooth_spaces_sends_evenly_and_keeps_readers_first() -> None:
    async def scenario() -> None:
        limiter = make_limiter(overall_per_second=20, overall_period=0.5, reader_reserve=0, smooth=True)
        rec = Recorder()
        broadcasts = [start(send(limiter, rec, 1000 + i, "b", rla=BROADCAST)) for i in range(20)]
        await asyncio.sleep(0.1)
        await send(limiter, rec, 5, "reader")
        assert rec.times("reader") == at([0.1])  # asked at 0.1, the window a quarter full: no wait at all
        await asyncio.gather(*broadcasts)
        # One broadcast per period/limit (25 ms); the first gap after idle is 10 ms shorter (the catch-up
        # allowance for late timers), the reader took the slot at 0.115 (so 0.09 -> 0.14), and the 20th
        # waits for the window: 20 sends in any 0.5 s, the reader included.
        spaced = [0.14 + 0.025 * k for k in range(14)]
        assert rec.times("b") == at([0.0, 0.015, 0.04, 0.065, 0.09, *spaced, 0.5])
        assert sum(t < 0.25 for t in rec.times()) == 11  # no burst: the first window is not filled at once
        _assert_window(rec.times(), 20, 0.5)

    run_virtual(scenario())


def test_smooth_does_not_space_readers_while_window_has_room() -> None:
    async def scenario() -> None:
        # 8 per second, smooth: one grant every 1/8 s; readers go unspaced while the window is <= half full.
        limiter = make_limiter(overall_per_second=8, reader_reserve=0, smooth=True)
        rec = Recorder()
        await asyncio.gather(*(send(limiter, rec, 1 + i, "reader") for i in range(4)))
        assert rec.times("reader") == at([0.0] * 4)  # four replies at once go out at once
        await send(limiter, rec, 5, "fifth")
        # A fifth would fill the window past half: it takes the next smooth slot, four spacings on from
        # idle minus the 10 ms catch-up.
        assert rec.times("fifth") == at([4 * 0.125 - 0.01])
        await asyncio.sleep(10.0)  # idle again
        await asyncio.gather(*(send(limiter, rec, 100 + i, "b", BROADCAST) for i in range(4)))
        gaps = [b - a for a, b in itertools.pairwise(rec.times("b"))]
        assert rec.times("b")[0] == at(10.49)
        assert gaps == at([0.125 - 0.01, 0.125, 0.125])  # broadcasts stay period/limit apart

    run_virtual(scenario())


def test_reserve_keeps_slots_for_readers() -> None:
    async def scenario() -> None:
        limiter = make_limiter(overall_per_second=10, overall_period=0.5, reader_reserve=2)
        rec = Recorder()
        await asyncio.gather(*(send(limiter, rec, 1000 + i, rla=BROADCAST) for i in range(24)))
        assert rec.times() == at([0.0] * 8 + [0.5] * 8 + [1.0] * 8)  # the 2 reserved slots stay unused

    run_virtual(scenario())


def test_private_chat_one_per_period_without_head_of_line_blocking() -> None:
    async def scenario() -> None:
        limiter = make_limiter(private_period=0.3)
        rec = Recorder()
        tasks = [start(send(limiter, rec, 7, "seven")) for _ in range(4)]
        await asyncio.sleep(0.05)
        await send(limiter, rec, 8, "eight")
        assert rec.times("eight") == at([0.05])  # another chat is not stuck behind chat 7
        await asyncio.gather(*tasks)
        assert rec.times("seven") == at([0.0, 0.3, 0.6, 0.9])

    run_virtual(scenario())


def test_private_chat_window_is_exactly_private_period() -> None:
    async def scenario() -> None:
        limiter = make_limiter(private_period=0.25)
        rec = Recorder()
        await send(limiter, rec, 7, "a")
        await asyncio.sleep(0.125)
        await send(limiter, rec, 7, "b")  # asked half a period after "a": waits for the rest of it
        await asyncio.sleep(0.25)
        await send(limiter, rec, 7, "c")  # asked exactly one period after "b": goes at once
        await send(limiter, rec, 7, "d")  # back to back: exactly one period later
        assert rec.calls == [(at(0.0), "a"), (at(0.25), "b"), (at(0.5), "c"), (at(0.75), "d")]

    run_virtual(scenario())


def test_group_window() -> None:
    async def scenario() -> None:
        limiter = make_limiter(overall_per_second=1000, group_per_period=20, group_period=0.5)
        rec = Recorder()
        await asyncio.gather(
            *(send(limiter, rec, -100123, "g") for _ in range(45)),
            *(send(limiter, rec, "@newschannel", "c") for _ in range(21)),
        )
        assert rec.times("g") == at([0.0] * 20 + [0.5] * 20 + [1.0] * 5)
        assert rec.times("c") == at([0.0] * 20 + [0.5])  # @username chats count as channels

    run_virtual(scenario())


def test_paid_broadcasts_use_their_own_window() -> None:
    async def scenario() -> None:
        limiter = make_limiter(overall_per_second=5, paid_per_second=40, reader_reserve=0)
        rec = Recorder()
        await asyncio.gather(
            *(send(limiter, rec, 5000 + i, "paid", BROADCAST, allow_paid_broadcast=True) for i in range(40)),
            *(send(limiter, rec, 9000 + i, "free", BROADCAST) for i in range(5)),
        )
        assert rec.times("paid") == at([0.0] * 40)  # neither kind waited for the other
        assert rec.times("free") == at([0.0] * 5)
        assert limiter.counters["paid_sends"] == 40
        await send(limiter, rec, 6000, "paid2", BROADCAST, allow_paid_broadcast=True)
        assert rec.times("paid2") == at([1.0])  # the 41st paid send waits for the paid window

    run_virtual(scenario())


def test_reader_jumps_saturated_broadcast_queue() -> None:
    async def scenario() -> None:
        limiter = make_limiter(overall_per_second=10, overall_period=0.5, reader_reserve=0)
        rec = Recorder()
        broadcast = asyncio.gather(*(send(limiter, rec, 1000 + i, "b", BROADCAST) for i in range(40)))
        await asyncio.sleep(0.2)
        await send(limiter, rec, 42, "reader")
        # The window is full until 0.5: the reader gets that next slot, ahead of 30 queued broadcasts.
        assert rec.times("reader") == at([0.5])
        assert rec.tags().index("reader") == 10
        await broadcast
        assert rec.times("b") == at([0.0] * 10 + [0.5] * 9 + [1.0] * 10 + [1.5] * 10 + [2.0])

    run_virtual(scenario())


def test_reader_goes_at_once_with_default_reserve() -> None:
    async def scenario() -> None:
        limiter = make_limiter(overall_per_second=10, overall_period=0.5)  # reserve 2
        rec = Recorder()
        broadcast = asyncio.gather(*(send(limiter, rec, 1000 + i, "b", BROADCAST) for i in range(40)))
        await asyncio.sleep(0.2)
        await send(limiter, rec, 42, "reader")
        assert rec.times("reader") == at([0.2])  # a reserved slot: no wait at all
        await broadcast
        _assert_window(rec.times(), 10, 0.5)
        _assert_window(rec.times("b"), 8, 0.5)
        # The reader's slot counts in the window the broadcasts share: 7 go at 0.5, the 8th when it expires.
        assert rec.times("b")[8:17] == at([0.5] * 7 + [0.7, 1.0])

    run_virtual(scenario())


def test_reader_promotes_broadcast_holding_its_chat() -> None:
    """A broadcast queued deep in the global queue must not make the same chat's reply wait for it."""

    async def scenario() -> None:
        limiter = make_limiter(
            overall_per_second=10, overall_period=0.5, reader_reserve=0, private_period=0.3
        )
        rec = Recorder()
        broadcast = asyncio.gather(*(send(limiter, rec, 1000 + i, f"b{i}", BROADCAST) for i in range(60)))
        await asyncio.sleep(0.1)
        await send(limiter, rec, 1059, "reader")  # chat 1059's broadcast is last in the queue (due at 2.5)
        assert rec.times("b59") == at([0.5])  # promoted: first in the next window
        # The reply follows it after the chat's 0.3 s, then waits for the full global window to free up.
        assert rec.times("reader") == at([1.0])
        assert rec.tags()[10] == "b59"
        assert rec.tags()[20] == "reader"
        await broadcast
        _assert_window(rec.times(), 10, 0.5)

    run_virtual(scenario())


def test_retry_after_pauses_everybody_and_retries_readers_once() -> None:
    async def scenario() -> None:
        limiter = make_limiter(overall_per_second=1000, reader_reserve=0, private_period=0.1)
        rec = Recorder()
        reader = start(send(limiter, rec, 1, "reader", fail=[RetryAfter(dtm.timedelta(seconds=0.4))]))
        await asyncio.sleep(0.05)
        during = [start(send(limiter, rec, 100 + i, "during", BROADCAST)) for i in range(5)]
        bypass = await send(limiter, rec, 2, "callback", endpoint="answerCallbackQuery")
        assert bypass == {"ok": "callback"}
        assert rec.times("callback") == at([0.05])  # unlimited methods are not paused
        assert limiter.paused_for() == at(0.35)
        assert await reader == {"ok": "reader"}
        await asyncio.gather(*during)
        # Chat 1 had no earlier send, so the 429 paused everybody: the retry and the others go at 0.4,
        # the reader first.
        assert rec.calls == [
            (at(0.0), "reader"),
            (at(0.05), "callback"),
            (at(0.4), "reader"),
            *[(at(0.4), "during")] * 5,
        ]
        assert limiter.counters["retry_after"] == 1
        assert limiter.counters["retries"] == 1

    run_virtual(scenario())


def test_retry_after_reraised_for_broadcast() -> None:
    async def scenario() -> None:
        limiter = make_limiter(overall_per_second=1000, private_period=0.05)
        rec = Recorder()
        with pytest.raises(RetryAfter):
            await send(limiter, rec, 1, "b", BROADCAST, fail=[RetryAfter(dtm.timedelta(seconds=0.3))])
        assert now() == 0.0  # re-raised at once: the delivery engine decides
        await send(limiter, rec, 2, "next", BROADCAST)
        assert rec.times("next") == at([0.3])  # but nobody sends during the pause
        assert limiter.stats()["reraised"] == 1
        # max_retries can be overridden per call; the retry waits for the (global) pause too.
        rec2 = Recorder()
        fail: list[Exception] = [RetryAfter(dtm.timedelta(seconds=0.1))]
        await send(limiter, rec2, 3, "b", {"priority": "broadcast", "max_retries": 1}, fail=fail)
        assert rec2.times() == at([0.3, 0.4])

    run_virtual(scenario())


def test_cancelled_waiter_does_not_leak_a_slot() -> None:
    async def scenario() -> None:
        limiter = make_limiter(overall_per_second=2, overall_period=0.3, reader_reserve=0)
        rec = Recorder()
        await asyncio.gather(send(limiter, rec, 1), send(limiter, rec, 2))
        doomed = start(send(limiter, rec, 3, "doomed"))
        later = [start(send(limiter, rec, 4 + i, "later")) for i in range(2)]
        await asyncio.sleep(0.05)
        doomed.cancel()
        await asyncio.gather(*later)
        assert rec.times("doomed") == []
        assert rec.times("later") == at([0.3, 0.3])  # both fit in the next window

    run_virtual(scenario())


def test_rate_limit_args_validation_and_stats() -> None:
    async def scenario() -> None:
        limiter = make_limiter()
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
        await asyncio.sleep(1.0)
        assert limiter.current_rate() == 0  # "the last second", exactly
        await limiter.shutdown()

    run_virtual(scenario())


# ---------------------------------------------------------------- flood(): what a 429 pauses


def test_flood_on_a_chat_at_its_own_pace_pauses_only_that_chat() -> None:
    async def scenario() -> None:
        limiter = make_limiter(private_period=0.25, reader_reserve=0)
        rec = Recorder()
        await send(limiter, rec, 7, "seven")
        await send(limiter, rec, 7, "seven")  # 0.25: within two periods of the first
        assert limiter.flood(7, 2.0) == "chat"
        assert limiter.paused_for(7) == at(2.0)
        assert limiter.paused_for() == 0.0
        await send(limiter, rec, 8, "eight")
        assert rec.times("eight") == at([0.25])  # another chat goes at once
        await send(limiter, rec, 7, "seven")
        assert rec.times("seven") == at([0.0, 0.25, 2.25])  # the chat waits the whole pause

    run_virtual(scenario())


def test_flood_on_a_chat_without_recent_sends_pauses_everybody() -> None:
    async def scenario() -> None:
        limiter = make_limiter(private_period=0.25, reader_reserve=0)
        rec = Recorder()
        await send(limiter, rec, 7, "seven")
        await asyncio.sleep(1.0)
        await send(limiter, rec, 7, "seven")  # the previous send is four periods old
        assert limiter.flood(7, 0.5) == "global"
        assert limiter.flood(9, 0.5) == "global"  # a chat never seen: the global window too
        assert limiter.paused_for() == at(0.5)
        await asyncio.gather(send(limiter, rec, 8, "reader"), send(limiter, rec, 10, "b", BROADCAST))
        assert rec.times("reader") == at([1.5])  # unpaid sends all wait, readers included
        assert rec.times("b") == at([1.5])

    run_virtual(scenario())


def test_flood_on_a_paid_send_pauses_only_the_paid_window() -> None:
    async def scenario() -> None:
        limiter = make_limiter(reader_reserve=0)
        rec = Recorder()
        paid = {"allow_paid_broadcast": True}
        with pytest.raises(RetryAfter):
            await send(
                limiter, rec, 1, "paid", BROADCAST, fail=[RetryAfter(dtm.timedelta(seconds=0.5))], **paid
            )
        assert limiter.paused_for(paid=True) == at(0.5)
        assert limiter.paused_for() == 0.0
        assert limiter.flood(2, 0.75, paid=True) == "paid"  # direct call: same scope, longer pause
        await asyncio.gather(send(limiter, rec, 3, "paid", BROADCAST, **paid), send(limiter, rec, 4, "reply"))
        assert rec.times("reply") == at([0.0])  # a reader's (unpaid) reply goes on during a paid pause
        assert rec.times("paid") == at([0.0, 0.75])

    run_virtual(scenario())


def test_a_window_429_widens_that_window_once_per_pause_up_to_the_widest() -> None:
    async def scenario() -> None:
        limiter = make_limiter(
            overall_per_second=2, reader_reserve=0, widen_on_flood=0.1, widest_period=1.2
        )
        rec = Recorder()
        await asyncio.gather(*(send(limiter, rec, 10 + i, "a", BROADCAST) for i in range(2)))
        assert limiter.flood(99, 0.5) == "global"
        assert limiter.flood(98, 0.5) == "global"  # the same burst's other 429: no second step
        assert limiter.sends_per_second() == pytest.approx(2 / 1.1)
        assert limiter.sends_per_second(paid=True) == pytest.approx(1000.0), "the paid window is untouched"
        await asyncio.gather(*(send(limiter, rec, 20 + i, "b", BROADCAST) for i in range(2)))
        assert rec.times("b") == at([1.1, 1.1]), "the sends of 0.0 count until 1.1 now"
        for _ in range(3):  # later pauses widen again, never past the widest
            limiter.flood(99, 0.5)
            await asyncio.sleep(0.6)
        assert limiter.sends_per_second() == pytest.approx(2 / 1.2)

    run_virtual(scenario())


def test_without_widening_a_429_keeps_the_period() -> None:
    async def scenario() -> None:
        limiter = make_limiter(overall_per_second=2, reader_reserve=0)
        limiter.flood(99, 0.5)
        assert limiter.sends_per_second() == 2.0
        widening = make_limiter(overall_per_second=2, reader_reserve=0, widen_on_flood=0.1, widest_period=1.5)
        for _ in range(3):  # "retry after 0": no pause, so each would count as the first of a burst
            widening.flood(99, 0.0)
        assert widening.sends_per_second() == 2.0

    run_virtual(scenario())


def test_chat_pause_holds_a_send_already_queued_for_the_global_window() -> None:
    async def scenario() -> None:
        limiter = make_limiter(overall_per_second=2, reader_reserve=0, group_per_period=3)
        rec = Recorder()
        first = start(send(limiter, rec, -100, "first", BROADCAST))
        flooded = start(
            send(limiter, rec, -100, "flooded", BROADCAST, fail=[RetryAfter(5)], answer_after=0.1)
        )
        queued = start(send(limiter, rec, -100, "queued", BROADCAST))  # global window full until 1.0
        await first
        with pytest.raises(RetryAfter):
            await flooded  # at 0.1, with the group window all but full: the chat's own pace
        assert limiter.paused_for(-100) == at(5.0)
        assert limiter.paused_for() == 0.0
        await queued
        assert rec.times("queued") == at([5.1])  # not at 1.0, in the middle of the chat's pause

    run_virtual(scenario())


def test_chat_pause_survives_pruning_of_idle_chats() -> None:
    async def scenario() -> None:
        limiter = make_limiter(private_period=0.25, max_idle_chats=2)
        rec = Recorder()
        await send(limiter, rec, 7, "seven")
        await send(limiter, rec, 7, "seven")
        assert limiter.flood(7, 5.0) == "chat"
        await asyncio.sleep(1.0)  # chat 7's window is empty now, but its pause runs until 5.25
        for chat in (8, 9, 10):
            await send(limiter, rec, chat, "other")
        await send(limiter, rec, 7, "seven")
        assert rec.times("seven") == at([0.0, 0.25, 5.25])

    run_virtual(scenario())


def test_idle_chats_are_pruned_while_a_broadcast_walks_through_many_chats() -> None:
    async def scenario() -> None:
        limiter = make_limiter(private_period=0.25, max_idle_chats=8)
        rec = Recorder()
        seen = []
        for chat in range(1, 201):  # 200 chats, one message each, 20 per second
            await send(limiter, rec, chat, "broadcast")
            await asyncio.sleep(0.05)
            seen.append(limiter.tracked_chats())
        assert len(rec.times("broadcast")) == 200
        assert max(seen) <= 8 + 8, "at most the bound plus the chats still inside their window"
        assert seen[-1] <= 8

    run_virtual(scenario())


# ---------------------------------------------------------------- retry_after_seconds


@pytest.mark.parametrize("timedelta_env", ["false", "true"])
def test_retry_after_seconds_reads_ptb_public_attribute(
    timedelta_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PTB 22 gives int/float (deprecated) or timedelta (PTB_TIMEDELTA=true); a change must break here."""
    monkeypatch.setenv("PTB_TIMEDELTA", timedelta_env)
    cases = [(RetryAfter(5), 5.0), (RetryAfter(dtm.timedelta(seconds=1.5)), 1.5)]
    cases.append((RetryAfter(dtm.timedelta(seconds=3)), 3.0))
    for error, seconds in cases:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the deprecation warning is read away, not leaked
            value = retry_after_seconds(error)
        assert type(value) is float
        assert value == seconds


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


# ---------------------------------------------------------------- the broadcasts' share


def test_broadcast_share_survives_a_full_reader_queue() -> None:
    async def scenario() -> None:
        limiter = make_limiter(overall_per_second=10, reader_reserve=0, broadcast_share=2)
        rec = Recorder()
        readers = [start(send(limiter, rec, 1 + i, "r")) for i in range(50)]
        await asyncio.sleep(0)
        broadcast = [start(send(limiter, rec, 1000 + i, "b", BROADCAST)) for i in range(20)]
        await asyncio.gather(*readers, *broadcast)
        # Readers first, but every window from the one after the broadcast queued holds its 2 sends.
        assert rec.times("r") == at([0.0] * 10 + [1.0] * 8 + [2.0] * 8 + [3.0] * 8 + [4.0] * 8 + [5.0] * 8)
        assert rec.times("b") == at([1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0, 5.0, 5.0] + [6.0] * 10)
        _assert_window(rec.times(), 10, 1.0)

    run_virtual(scenario())


def test_broadcast_share_costs_readers_nothing_while_no_broadcast_waits() -> None:
    async def scenario() -> None:
        limiter = make_limiter(overall_per_second=10, reader_reserve=0, broadcast_share=2)
        rec = Recorder()
        await asyncio.gather(*(send(limiter, rec, 1 + i, "r") for i in range(20)))
        assert rec.times("r") == at([0.0] * 10 + [1.0] * 10)
        await asyncio.gather(*(send(limiter, rec, 100 + i, "b", BROADCAST) for i in range(20)))
        assert rec.times("b") == at([2.0] * 10 + [3.0] * 10)  # nor broadcasts while no reader waits

    run_virtual(scenario())


PRODUCTION_PERIOD = 1.02  # one second plus the default NEWSBOT_SEND_MARGIN


def thirty_chatty_readers(share: bool) -> tuple[list[float], list[float]]:
    """Production limits; 30 readers each ask once a second for 20 s while a broadcast waits to go out."""
    from bot.app import rate_limiter
    from bot.settings import Settings

    async def scenario() -> tuple[list[float], list[float]]:
        settings = Settings(broadcast_rate=30)
        limiter = rate_limiter(settings, asyncio.get_running_loop().time)
        if not share:
            limiter = make_limiter(
                overall_per_second=30,
                overall_period=PRODUCTION_PERIOD,
                private_period=PRODUCTION_PERIOD,
                reader_reserve=0,
                smooth=True,
            )
        rec = Recorder()

        async def reader(chat_id: int) -> None:
            for _ in range(20):
                asked = now()
                await send(limiter, rec, chat_id, "r")
                await asyncio.sleep(max(0.0, asked + 1.0 - now()))

        async def broadcast() -> None:
            slots = asyncio.Semaphore(128)

            async def one(chat_id: int) -> None:
                async with slots:
                    await send(limiter, rec, chat_id, "b", BROADCAST)

            await asyncio.gather(*(one(10_000 + i) for i in range(1000)))

        readers = [start(reader(1 + i)) for i in range(30)]
        await asyncio.sleep(0.5)
        sending = start(broadcast())
        await asyncio.gather(*readers)
        sending.cancel()
        return rec.times("r"), [t for t in rec.times("b") if t < 20.0]

    return run_virtual(scenario())


def test_thirty_chatty_readers_cannot_stop_a_broadcast() -> None:
    from bot.settings import Settings

    assert 1.0 + Settings().send_margin == PRODUCTION_PERIOD
    readers, broadcast = thirty_chatty_readers(share=True)
    # Every window of the production length (1.02 s), from the second the broadcast queued until the
    # readers stop (their last round starts at 19.5), holds at least the broadcasts' share (5 of 30).
    for start_at in [1.0 + 0.01 * k for k in range(1740)]:
        inside = sum(start_at <= t < start_at + PRODUCTION_PERIOD for t in broadcast)
        assert inside >= 5, (start_at, inside)
    assert len(readers) == 600  # and the readers were all answered, at their chats' pace
    _assert_window(sorted(readers + broadcast), 30, PRODUCTION_PERIOD, tol=1e-9)
    # Without the share the same readers take every slot: the broadcast barely moves.
    _, starved = thirty_chatty_readers(share=False)
    assert len(starved) < len(broadcast) / 4
