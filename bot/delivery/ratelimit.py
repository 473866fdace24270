"""Strict sliding-window Telegram rate limiter with reader-over-broadcast priority.

Why not PTB's AIORateLimiter: its leaky buckets let ~60 messages through in the first second of a burst
and it has no notion of priority, so a big broadcast would both trip flood control and starve replies.

Limits (all sliding windows over ``time.monotonic``, counted when the request is actually handed to
PTB's callback):

* (a) ``overall_per_second`` (30) message sends in any ``overall_period`` (1 s) across all chats;
* (b) 1 send per ``private_period`` (1 s) to the same private chat (positive chat id);
* (c) ``group_per_period`` (20) sends per ``group_period`` (60 s) to the same group/supergroup/channel
  (negative or ``@username`` chat id);
* (d) requests with ``allow_paid_broadcast=True`` count against ``paid_per_second`` (1000) instead of (a);
* (e) priority: "reader" requests (the default) always get the next free global slot before any
  "broadcast" request, and broadcasts may only use ``limit - reader_reserve`` slots of each global
  window, so a reply issued during a saturated broadcast normally goes out at once;
* (e'') ``broadcast_share``: however many readers wait, broadcasts waiting for a slot get one whenever fewer
  than ``broadcast_share`` broadcast sends are in the current window (at most half the limit), so chatty
  readers slow a broadcast down to its share but cannot stop it (30/s with a share of 5: readers get
  the other 25 and every slot the broadcast does not want);
* (e') ``smooth=True``: grants are also spaced ``period / limit`` apart (30/s: one every 33 ms) instead of
  leaving in a burst whenever the window frees up. Bursts arrive at Telegram spread over several
  milliseconds, so the next window's burst overlaps them and a strict server counts more than the limit in
  one second; evenly spaced sends plus a period a little above 1 s do not. Readers are not spaced while the
  window is at most half full: four replies at once go out at once;
* (f) on :class:`telegram.error.RetryAfter` (429) only what the 429 is about waits ``retry_after`` seconds
  (:meth:`TelegramRateLimiter.flood`): the chat, when its own pace explains it; else the paid window for a
  paid send (readers' replies go on) or the global window for an unpaid one. Reader requests are then
  retried (``reader_max_retries``, default 1); broadcast requests re-raise immediately
  (``broadcast_max_retries``, default 0) so the delivery engine decides; any retry waits for the pause.
  ``rate_limit_args={"max_retries": n}`` overrides the retry count per call. With ``widen_on_flood``, the
  first 429 of a pause also counts that window ``widen_on_flood`` seconds longer from then on (up to
  ``widest_period``): Telegram saw more than we counted, so requests reach it more unevenly than the margin.

Sends to one chat are serialised (FIFO) by a per-chat lock held from the per-chat wait until the
global slot is granted; if a reader queues behind a broadcast holding that lock, the broadcast is
promoted to reader priority (priority inheritance) so the reply is never stuck behind the broadcast
queue. Measured cost: ~30-50 us CPU per limited request (1,000/s paid broadcast, 2 cores).

A send made through PTB (``process_request``) from inside update processing gives back the caller's
:data:`LEASE` (its update-processing slot, see bot/intake/lanes.py) while it waits and sends, and takes it
back afterwards, so a reply waiting for its chat's window holds no slot another chat's update needs.

Only message-producing/altering methods are limited (``send*`` except ``sendChatAction``,
``copyMessage(s)``, ``forwardMessage(s)``, ``editMessage*``, ``stopPoll``, ``stopMessageLiveLocation``);
everything else (``getUpdates`` never reaches a rate limiter, ``answerCallbackQuery``,
``answerInlineQuery``, ``getMe``, ``set*Commands``, ``deleteWebhook``, ``sendChatAction``, ...) passes
straight through and is not paused by 429s.

Priority flows through PTB like this: ``await context.bot.send_message(chat_id, text,
rate_limit_args={"priority": "broadcast"})`` on an :class:`telegram.ext.ExtBot` whose ``rate_limiter``
is this class stores the dict under a private key in ``api_kwargs``; ``ExtBot._do_post`` pops it out of
the request data and calls ``process_request(callback, args, kwargs, endpoint, data, rate_limit_args)``
with it. A plain :class:`telegram.Bot` has no ``rate_limit_args`` parameter and no limiter.
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from collections import OrderedDict, deque
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from typing import Any, Literal, Protocol

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

__all__ = [
    "LEASE",
    "Lease",
    "SlidingWindow",
    "TelegramRateLimiter",
    "is_limited_endpoint",
    "retry_after_seconds",
]

_LOGGER = logging.getLogger(__name__)

Priority = Literal["reader", "broadcast"]
Clock = Callable[[], float]
CallbackResult = bool | dict[str, Any] | list[dict[str, Any]]

_CATCH_UP = 0.01  # seconds of lateness smoothed grants may make up for
_LIMITED_PREFIXES = ("send", "copyMessage", "forwardMessage", "editMessage")
_LIMITED_EXTRA = frozenset({"stopPoll", "stopMessageLiveLocation"})
_UNLIMITED = frozenset({"sendChatAction"})


PAID_PER_SECOND = 1000  # Telegram's limit for allow_paid_broadcast sends (0.1 Stars each)

class Lease(Protocol):
    """Something a caller holds while it works and need not hold while a send waits (an update's slot)."""

    def release(self) -> None:
        """Give it back: the send starts waiting."""

    async def reacquire(self) -> None:
        """Take it again: the send is done."""


LEASE: ContextVar[Lease | None] = ContextVar("newsbot_send_lease", default=None)


def retry_after_seconds(error: RetryAfter) -> float:
    """The pause a 429 asks for, in seconds, through PTB's public attribute.

    PTB 22 returns an int (deprecated) or a timedelta (with PTB_TIMEDELTA=1) and warns about the change;
    this is the one place that reads it (tests/test_ratelimit.py breaks loudly if the attribute changes).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = error.retry_after
    return value.total_seconds() if hasattr(value, "total_seconds") else float(value)


def is_limited_endpoint(endpoint: str) -> bool:
    """Tell whether a Bot API method creates or changes messages and so counts against flood limits."""
    if endpoint in _UNLIMITED:
        return False
    return endpoint.startswith(_LIMITED_PREFIXES) or endpoint in _LIMITED_EXTRA


class SlidingWindow:
    """At most ``limit`` events in any window of ``period`` seconds; pure and clock-free so it is testable.

    Event times must be recorded in non-decreasing order. Only the last ``limit`` times matter, so the
    storage is a bounded deque and every operation is O(1) (amortised).
    """

    __slots__ = ("_last", "_times", "limit", "period")

    def __init__(self, limit: int, period: float) -> None:
        """Validate eagerly, because a zero limit or period would deadlock or divide the world by zero."""
        if limit < 1:
            raise ValueError("limit must be >= 1")
        if period <= 0:
            raise ValueError("period must be > 0")
        self.limit = limit
        self.period = period
        self._times: deque[float] = deque(maxlen=limit)
        self._last = float("-inf")

    def count(self, now: float) -> int:
        """Events in the window ending at ``now`` (incl. any booked later); ``now`` must not go backwards."""
        times = self._times
        horizon = now - self.period
        while times and times[0] <= horizon:
            times.popleft()
        return len(times)

    def next_free(self, now: float, capacity: int | None = None) -> float:
        """Earliest time >= now at which fewer than ``capacity`` (default: limit) events are in the window."""
        cap = self.limit if capacity is None else capacity
        if cap < 1:
            raise ValueError("capacity must be >= 1")
        cap = min(cap, self.limit)
        times = self._times
        if len(times) < cap:
            return now
        return max(now, times[-cap] + self.period)

    def latest(self) -> float:
        """The most recent recorded event, or -inf."""
        return self._times[-1] if self._times else float("-inf")

    def add(self, when: float) -> float:
        """Record an event (clamped to be monotonic) and return the recorded time."""
        when = max(when, self._last)
        self._last = when
        self._times.append(when)
        return when

    def reserve(self, now: float) -> float:
        """Book the earliest allowed slot at or after ``now`` and return the delay until it.

        Valid for any sequence of ``now`` values: the booked time is >= ``now``, >= every earlier
        booking, and >= the ``limit``-th latest booking + ``period``.
        """
        granted = self.add(self.next_free(now))
        return granted - now


class _PriorityGate:
    """One global window shared by all chats; hands free slots to readers first, then broadcasts.

    Grants are *recorded* when the woken task actually runs (time it calls the API), not when it is
    woken, so event-loop latency can never squeeze an extra request into a window; ``_pending`` counts
    woken-but-not-yet-running tasks so they are not over-granted meanwhile. No busy waiting: a single
    loop timer fires when the next slot frees up.
    """

    __slots__ = (
        "_broadcasts",
        "_clock",
        "_closed",
        "_next_grant",
        "_paused_until",
        "_pending",
        "_readers",
        "_reserve",
        "_share",
        "_shared",
        "_smooth",
        "_spacing",
        "_timer",
        "_timer_at",
        "_woken_broadcasts",
        "window",
    )

    def __init__(
        self, limit: int, period: float, reserve: int, clock: Clock, spacing: float = 0.0, share: int = 0
    ) -> None:
        self.window = SlidingWindow(limit, period)
        self._spacing = spacing
        self._smooth = spacing > 0
        self._next_grant = float("-inf")
        self._reserve = max(0, min(reserve, limit - 1))
        self._share = share
        self._closed = False
        self._shared = self._share_window()
        self._woken_broadcasts: set[asyncio.Future[None]] = set()  # woken from the broadcast queue, not run
        self._clock = clock
        self._readers: deque[asyncio.Future[None]] = deque()
        self._broadcasts: deque[asyncio.Future[None]] = deque()
        self._pending = 0
        self._paused_until = float("-inf")
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = float("inf")

    def _share_window(self) -> SlidingWindow | None:
        # Broadcast sends in the current window, up to the share they are owed however many readers wait.
        # Counted over one spacing less than the window: a smoothed grant comes up to a spacing after the
        # moment the share is owed, and the share is meant per window, not per window + spacing.
        share = max(0, min(self._share, self.window.limit // 2))
        period, spacing = self.window.period, self._spacing
        return SlidingWindow(share, period - spacing) if share and spacing < period else None

    def resize(self, limit: int) -> None:
        """A new limit per window (0: no grants at all), keeping the sends already in the window.

        Lowering takes effect for every grant from now on; the window still holds the sends made under the
        old limit, so a lower limit is met by every window that starts from now on.
        """
        self._closed = limit < 1
        limit = max(1, limit)
        if limit != self.window.limit:
            self._reshape(limit, self.window.period)
            self._reserve = max(0, min(self._reserve, limit - 1))
        self._dispatch()

    def _reshape(self, limit: int, period: float) -> None:
        """New window limits, keeping the sends already counted; spacing and the broadcasts' share follow."""
        old = self.window
        self.window = SlidingWindow(limit, period)
        for when in old._times:  # the newest `limit` of them are all that count
            self.window.add(when)
        if self._smooth:
            self._spacing = period / limit
        shared, self._shared = self._shared, self._share_window()
        if shared is not None and self._shared is not None:
            for when in shared._times:
                self._shared.add(when)

    @property
    def waiting(self) -> tuple[int, int]:
        """(readers, broadcasts) waiting, for stats."""
        return (
            sum(1 for f in self._readers if not f.done()),
            sum(1 for f in self._broadcasts if not f.done()),
        )

    @property
    def paused_until(self) -> float:
        return self._paused_until

    def _capacity(self, reader: bool) -> int:
        if self._closed:
            return 0
        return self.window.limit - (0 if reader else self._reserve) - self._pending

    def _owed(self, now: float) -> bool:
        """Broadcasts wait and have had fewer than their share of the current window: they go next."""
        shared = self._shared
        if shared is None:
            return False
        broadcasts = self._broadcasts
        while broadcasts and broadcasts[0].done():
            broadcasts.popleft()
        return bool(broadcasts) and shared.count(now) + len(self._woken_broadcasts) < shared.limit

    def _record(self, now: float, reader: bool) -> float:
        granted = self.window.add(now)
        if not reader and self._shared is not None:
            self._shared.add(granted)
        return granted

    def _spaced_at(self, now: float, reader: bool) -> float:
        """When spacing lets the next grant go: readers skip it while the window is at most half full."""
        if reader and self.window.count(now) + self._pending < self.window.limit // 2:
            return now
        return self._next_grant

    def promote(self, fut: asyncio.Future[None]) -> None:
        """Let a queued broadcast jump to the reader queue because a reader waits behind it (same chat).

        The future may then sit in both queues; whichever copy is reached first wakes it, the other is
        skipped as done.
        """
        if not fut.done():
            self._readers.append(fut)
            self._dispatch()

    def widen(self, step: float, widest: float) -> float | None:
        """Count each window `step` longer (up to `widest`); the new period, or None if already widest."""
        period = min(widest, self.window.period + step)
        if period <= self.window.period:
            return None
        self._reshape(self.window.limit, period)
        return period

    def pause_until(self, until: float) -> None:
        """Hold every grant until ``until`` (after a 429)."""
        if until > self._paused_until:
            self._paused_until = until
            self._dispatch()

    async def acquire(self, reader: bool, chat: _ChatState | None = None) -> float:
        """Wait for a slot and return the monotonic time it was recorded at.

        ``chat`` (the lock holder's chat state) gets ``(gate, queued future)`` in ``chat.ticket`` so
        that a reader arriving later in the same chat can :meth:`promote` it.
        """
        now = self._clock()
        if (
            not self._readers
            and (not self._broadcasts if not reader else not self._owed(now))
            and now >= self._paused_until
            and self.window.count(now) < self._capacity(reader)
            and now >= self._spaced_at(now, reader)
        ):
            self._space_grants(now)
            return self._record(now, reader)
        loop = asyncio.get_running_loop()
        front = False
        while True:
            fut: asyncio.Future[None] = loop.create_future()
            boosted = reader or (chat is not None and chat.readers_waiting > 0)
            queue = self._readers if boosted else self._broadcasts
            if front:
                queue.appendleft(fut)
            else:
                queue.append(fut)
            if chat is not None:
                chat.ticket = (self, fut)
            self._dispatch()
            try:
                await fut
            except asyncio.CancelledError:
                if fut.done() and not fut.cancelled():  # granted, then cancelled before running
                    self._pending -= 1
                    self._woken_broadcasts.discard(fut)
                    self._dispatch()
                raise
            finally:
                if chat is not None:
                    chat.ticket = None
            self._pending -= 1
            self._woken_broadcasts.discard(fut)
            now = self._clock()
            if now < self._paused_until:  # a 429 arrived between wake-up and running: queue again, first
                front = True
                continue
            if self._closed or self.window.count(now) >= self.window.limit:
                # The limit was lowered (resize) between wake-up and running: the grant no longer fits.
                front = True
                continue
            granted = self._record(now, reader)
            if self._readers or self._broadcasts:
                self._dispatch()
            return granted

    def _dispatch(self) -> None:
        """Wake as many waiters as the window allows, readers first (but broadcasts get their share),
        then arm a timer for the next slot."""
        readers, broadcasts = self._readers, self._broadcasts
        while True:
            while readers and readers[0].done():
                readers.popleft()
            while broadcasts and broadcasts[0].done():
                broadcasts.popleft()
            now = self._clock()
            owed = bool(readers) and self._owed(now)
            if readers and not owed:
                queue, reader = readers, True
            elif broadcasts:
                queue, reader = broadcasts, False
            else:
                return
            if now < self._paused_until:
                self._arm(self._paused_until)
                return
            capacity = self._capacity(reader or owed)  # the share is taken from the readers' slots
            if capacity <= 0:
                return  # a woken task will record its slot and dispatch again
            at = max(self.window.next_free(now, capacity), self._spaced_at(now, reader))
            if at > now:
                self._arm(at)
                return
            fut = queue.popleft()
            fut.set_result(None)
            self._pending += 1
            if not reader:
                self._woken_broadcasts.add(fut)
            self._space_grants(now)

    def _space_grants(self, now: float) -> None:
        """Book the next slot one spacing later; up to 10 ms of timer lateness is caught up, idle time is not.

        Loop timers fire a millisecond or so late, which at 1,000/s (1 ms apart) would otherwise cost a third
        of the rate; catching up at most 10 ms keeps any burst that short.
        """
        if self._spacing > 0:
            self._next_grant = max(self._next_grant, now - _CATCH_UP) + self._spacing

    def _arm(self, at: float) -> None:
        if self._timer is not None:
            if self._timer_at <= at:
                return
            self._timer.cancel()
        self._timer_at = at
        self._timer = asyncio.get_running_loop().call_later(max(0.0, at - self._clock()), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = float("inf")
        self._dispatch()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
            self._timer_at = float("inf")


class _ChatState:
    """Per-chat window plus a lock that serialises sends to that chat (they must be spaced anyway).

    ``readers_waiting``/``ticket`` implement priority inheritance: a broadcast holding the lock while
    queued in the global gate is promoted when a reader for the same chat waits behind it, otherwise a
    reply could sit behind the whole broadcast queue.
    """

    __slots__ = ("lock", "paused_until", "previous", "readers_waiting", "ticket", "users", "window")

    def __init__(self, limit: int, period: float) -> None:
        self.window = SlidingWindow(limit, period)
        self.lock = asyncio.Lock()
        self.users = 0
        self.readers_waiting = 0
        self.ticket: tuple[_PriorityGate, asyncio.Future[None]] | None = None
        self.paused_until = float("-inf")  # a 429 about this chat alone
        self.previous = float("-inf")  # the grant before the latest: did this chat's own pace cause a 429?

    def record(self, granted: float) -> None:
        self.previous = self.window.latest()
        self.window.add(granted)


def _chat_key(chat_id: Any) -> tuple[int | str, bool] | None:
    """Normalise chat_id to (key, is_private); None when the request has no chat."""
    if chat_id is None:
        return None
    if isinstance(chat_id, bool):
        return None
    if isinstance(chat_id, int):
        return chat_id, chat_id > 0
    text = str(chat_id).strip()
    try:
        number = int(text)
    except ValueError:
        return text.lower(), False  # @channelusername
    return number, number > 0


class TelegramRateLimiter(BaseRateLimiter[dict[str, Any]]):
    """Strict sliding-window limiter for PTB's ExtBot with reader priority; see the module docstring."""

    __slots__ = (
        "_broadcast_max_retries",
        "_chats",
        "_clock",
        "_counters",
        "_group_limit",
        "_group_period",
        "_max_chats",
        "_overall",
        "_paid",
        "_private_period",
        "_reader_max_retries",
        "_recent",
        "_widen",
        "_widest",
    )

    def __init__(
        self,
        overall_per_second: int = 30,
        paid_per_second: int = PAID_PER_SECOND,
        group_per_period: int = 20,
        group_period: float = 60.0,
        private_period: float = 1.0,
        overall_period: float = 1.0,
        reader_reserve: int = 2,
        reader_max_retries: int = 1,
        broadcast_max_retries: int = 0,
        max_idle_chats: int = 4096,
        clock: Clock = time.monotonic,
        smooth: bool = False,
        broadcast_share: int = 0,
        widen_on_flood: float = 0.0,
        widest_period: float = 0.0,
    ) -> None:
        """Configure limits; the periods are parameters mainly so tests can shrink them."""
        self._clock = clock
        self._widen = widen_on_flood
        self._widest = widest_period
        self._overall = _PriorityGate(
            overall_per_second,
            overall_period,
            reader_reserve,
            clock,
            overall_period / overall_per_second if smooth else 0.0,
            broadcast_share,
        )
        self._paid = _PriorityGate(
            paid_per_second,
            overall_period,
            reader_reserve,
            clock,
            overall_period / paid_per_second if smooth else 0.0,
            broadcast_share,
        )
        self._group_limit = group_per_period
        self._group_period = group_period
        self._private_period = private_period
        self._reader_max_retries = reader_max_retries
        self._broadcast_max_retries = broadcast_max_retries
        self._max_chats = max_idle_chats
        self._chats: OrderedDict[int | str, _ChatState] = OrderedDict()
        self._recent: deque[float] = deque()
        self._counters: dict[str, int] = dict.fromkeys(
            (
                "reader_sends",
                "broadcast_sends",
                "paid_sends",
                "passed_through",
                "retry_after",
                "retries",
                "reraised",
            ),
            0,
        )

    async def initialize(self) -> None:
        """Nothing to set up: gates arm their timers lazily inside the running loop."""

    async def shutdown(self) -> None:
        """Cancel timers and drop loop-bound chat locks, so the limiter can be reused in a new loop."""
        self._overall.close()
        self._paid.close()
        self._chats.clear()

    # ------------------------------------------------------------------ stats

    def current_rate(self) -> int:
        """Limited sends started during the last second (all kinds)."""
        self._prune_recent(self._clock())
        return len(self._recent)

    @property
    def counters(self) -> dict[str, int]:
        """Copy of the cumulative counters, for /stats and metrics."""
        return dict(self._counters)

    def stats(self) -> dict[str, Any]:
        """Counters plus live queue/pause state, for the admin stats view."""
        now = self._clock()
        readers, broadcasts = self._overall.waiting
        paid_readers, paid_broadcasts = self._paid.waiting
        return {
            **self._counters,
            "current_rate": self.current_rate(),
            "waiting_readers": readers + paid_readers,
            "waiting_broadcasts": broadcasts + paid_broadcasts,
            "paused_for": max(0.0, self._overall.paused_until - now),
            "tracked_chats": len(self._chats),
        }

    def _prune_recent(self, now: float) -> None:
        recent = self._recent
        horizon = now - 1.0
        while recent and recent[0] <= horizon:
            recent.popleft()

    # ------------------------------------------------------------------ core

    @staticmethod
    def _parse_args(rate_limit_args: Any) -> tuple[bool, int | None]:
        """Return (is_reader, max_retries override) from rate_limit_args, rejecting typos loudly."""
        if rate_limit_args is None:
            return True, None
        if isinstance(rate_limit_args, str):
            rate_limit_args = {"priority": rate_limit_args}
        if not isinstance(rate_limit_args, dict):
            raise TypeError("rate_limit_args must be a dict like {'priority': 'broadcast'}")
        priority = rate_limit_args.get("priority", "reader")
        if priority not in ("reader", "broadcast"):
            raise ValueError(f"unknown rate limit priority {priority!r}; use 'reader' or 'broadcast'")
        retries = rate_limit_args.get("max_retries")
        return priority == "reader", None if retries is None else int(retries)

    def _chat_state(self, key: int | str, private: bool) -> _ChatState:
        state = self._chats.get(key)
        if state is None:
            if private:
                state = _ChatState(1, self._private_period)
            else:
                state = _ChatState(self._group_limit, self._group_period)
            self._chats[key] = state
        else:
            self._chats.move_to_end(key)
        return state

    def _prune_chats(self, now: float) -> None:
        """Drop least-recently-used idle chats whose window is empty and pause over; bounded work per call.

        The oldest chat being still in use means the others mostly are too (a paid broadcast keeps ~1,000
        chats inside their one-second window): rotate it and stop, so a busy limiter pays one check per send.
        """
        chats = self._chats
        for _ in range(8):
            if len(chats) <= self._max_chats:
                return
            key, state = next(iter(chats.items()))
            if state.users or state.window.count(now) or state.paused_until > now:
                chats.move_to_end(key)  # still relevant (or paused by a 429); look at it again later
                return
            del chats[key]

    async def _acquire(self, reader: bool, paid: bool, chat: tuple[int | str, bool] | None) -> None:
        gate = self._paid if paid else self._overall
        if chat is None:
            granted = await gate.acquire(reader)
        else:
            state = self._chat_state(*chat)
            state.users += 1
            waiting_as_reader = reader and state.lock.locked()
            if waiting_as_reader:
                state.readers_waiting += 1
                if state.ticket is not None:
                    holder_gate, holder_fut = state.ticket
                    holder_gate.promote(holder_fut)
            try:
                async with state.lock:
                    if waiting_as_reader:
                        state.readers_waiting -= 1
                        waiting_as_reader = False
                    while True:
                        now = self._clock()
                        at = max(state.window.next_free(now), state.paused_until)
                        if at > now:
                            await asyncio.sleep(at - now)
                            continue
                        granted = await gate.acquire(reader, state)
                        if granted >= state.paused_until:
                            break
                        # A 429 about this chat came while it queued for the global slot: that slot
                        # stays unused (and counted, which errs on the safe side); wait out the pause.
                    state.record(granted)
            finally:
                state.users -= 1
                if waiting_as_reader:  # cancelled while waiting for the chat lock
                    state.readers_waiting -= 1
            self._prune_chats(granted)
        self._recent.append(granted)
        self._prune_recent(granted)
        kind = "paid_sends" if paid else ("reader_sends" if reader else "broadcast_sends")
        self._counters[kind] += 1

    async def acquire(self, chat_id: Any, *, reader: bool, paid: bool = False) -> None:
        """Wait until a message to `chat_id` may go out now (for senders that bypass PTB, like broadcasts)."""
        await self._acquire(reader, paid, _chat_key(chat_id))

    def flood(self, chat_id: Any, seconds: float, *, paid: bool = False) -> str:
        """Telegram answered 429: pause what it is about and say which ("chat", "paid" or "global").

        Telegram does not say which limit a 429 is for. When this chat's own pace explains it (another send
        to the same private chat within two of its periods, or a group window all but full), only the chat
        waits; otherwise the paid window (paid sends) or the global one (everything unpaid) is paused.
        """
        self._counters["retry_after"] += 1
        now = self._clock()
        until = now + seconds
        key = _chat_key(chat_id)
        state = self._chats.get(key[0]) if key is not None else None
        if state is not None and self._own_pace(state, key[1], now):
            state.paused_until = max(state.paused_until, until)
            return "chat"
        gate = self._paid if paid else self._overall
        # The others of a burst answer sends made before this 429; a 0 s pause says nothing of our margin.
        first = gate.paused_until <= now and seconds > 0
        gate.pause_until(until)
        kind = "paid" if paid else "global"
        if first and self._widen > 0 and (period := gate.widen(self._widen, self._widest)) is not None:
            # Not our count but Telegram's said "too many": requests reach it more unevenly than the
            # margin allows, so this process gives the window more margin from now on.
            _LOGGER.warning("429 from the %s window: each second counts as %.3f s from now on", kind, period)
        return kind

    def _own_pace(self, state: _ChatState, private: bool, now: float) -> bool:
        window = state.window
        if private:
            return state.previous > now - 2 * window.period
        return window.count(now) >= window.limit - 1

    def set_overall_limit(self, limit: int) -> None:
        """Change the global (unpaid) limit per window while running: this instance's share of a budget
        several instances split (bot/instances/); 0 holds every limited send until it is raised again."""
        self._overall.resize(limit)

    @property
    def overall_limit(self) -> int:
        """The global (unpaid) sends allowed per window now; 0 while held."""
        gate = self._overall
        return 0 if gate._closed else gate.window.limit

    def sends_per_second(self, *, paid: bool = False) -> float:
        """The most this limiter lets through per second (paid window or global), for senders to start at."""
        window = (self._paid if paid else self._overall).window
        return window.limit / window.period

    def tracked_chats(self) -> int:
        """How many chats the limiter keeps a window for: pruning bounds it however many it has seen."""
        return len(self._chats)

    def paused_for(self, chat_id: Any = None, *, paid: bool = False) -> float:
        """Seconds until sends to `chat_id` (or any chat) may go again after 429s; 0 when not paused."""
        now = self._clock()
        until = (self._paid if paid else self._overall).paused_until
        key = _chat_key(chat_id)
        state = self._chats.get(key[0]) if key is not None else None
        if state is not None:
            until = max(until, state.paused_until)
        return max(0.0, until - now)

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, CallbackResult]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: dict[str, Any] | None,
    ) -> CallbackResult:
        """Wait for the applicable windows, call PTB's callback, and handle 429s as documented."""
        reader, retries_override = self._parse_args(rate_limit_args)
        if not is_limited_endpoint(endpoint):
            self._counters["passed_through"] += 1
            return await callback(*args, **kwargs)
        lease = LEASE.get()
        if lease is None:
            return await self._limited(callback, args, kwargs, endpoint, data, reader, retries_override)
        lease.release()  # the caller's slot is free for others while this send waits and goes
        try:
            return await self._limited(callback, args, kwargs, endpoint, data, reader, retries_override)
        finally:
            await lease.reacquire()

    async def _limited(
        self,
        callback: Callable[..., Coroutine[Any, Any, CallbackResult]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        reader: bool,
        retries_override: int | None,
    ) -> CallbackResult:
        paid = bool(data.get("allow_paid_broadcast"))
        chat = _chat_key(data.get("chat_id"))
        if retries_override is not None:
            max_retries = retries_override
        else:
            max_retries = self._reader_max_retries if reader else self._broadcast_max_retries

        attempt = 0
        while True:
            await self._acquire(reader, paid, chat)
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                seconds = retry_after_seconds(exc)
                scope = self.flood(data.get("chat_id"), seconds, paid=paid)
                if attempt >= max_retries:
                    self._counters["reraised"] += 1
                    _LOGGER.warning(
                        "Flood control on %s: %s sends paused %.1fs; re-raising",
                        endpoint,
                        scope,
                        seconds,
                    )
                    raise
                attempt += 1
                self._counters["retries"] += 1
                _LOGGER.warning(
                    "Flood control on %s: %s sends paused %.1fs; retry %d/%d after the pause",
                    endpoint,
                    scope,
                    seconds,
                    attempt,
                    max_retries,
                )
