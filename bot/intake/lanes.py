"""Update processing in lanes: one update per chat at a time, a bounded number working, none of them waiting.

Why: with PTB's plain ``concurrent_updates(64)`` every update holds one of 64 slots until its handler is
done, including while its reply waits for the chat's one-message-per-second window; one reader sending 72
/help filled every slot and everybody else waited seconds. Here (a :class:`telegram.ext.BaseUpdateProcessor`):

* each update is first counted against its sender's rate (:class:`~bot.intake.throttle.UserThrottle`);
  an ignored update is dropped on arrival, before any handler, database access or Bot API call;
* updates of one chat run one after another, in order (a chat's replies are spaced by Telegram anyway),
  so a busy chat queues in its own lane and takes at most one slot;
* at most ``workers`` updates work at once, and a handler gives its slot back while a send waits for the
  rate limiter (through :data:`bot.delivery.ratelimit.LEASE`), taking it back, ahead of new updates,
  when the send is done. A waiting reply therefore never holds a slot another chat needs.

PTB's own bound (``max_concurrent_updates``, the admission) is kept far above anything lanes hold, so the
sender's rate is counted when the update arrives, not when a slot frees up.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections import deque
from collections.abc import Awaitable, Hashable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

from bot.delivery.ratelimit import LEASE
from bot.intake.throttle import UserThrottle, Verdict, reset_notice, sender_of, set_notice

__all__ = ["ChatLanes", "lane_of"]

ADMISSION = 10_000  # PTB's bound on updates inside the processor; lanes and slots do the real limiting


def lane_of(update: object) -> Hashable | None:
    """The lane an update queues in: its chat, or for chat-less updates (inline mode) its user."""
    if not isinstance(update, Update):
        return None
    chat = update.effective_chat
    if chat is not None:
        return chat.id
    user = update.effective_user
    return ("user", user.id) if user is not None else None


class _Slots:
    """A counting semaphore where holders coming back after a send go before updates not yet started."""

    __slots__ = ("_fresh", "_resuming", "free", "size")

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("workers must be >= 1")
        self.size = size
        self.free = size
        self._resuming: deque[asyncio.Future[None]] = deque()
        self._fresh: deque[asyncio.Future[None]] = deque()

    async def acquire(self, *, resuming: bool) -> None:
        if self.free > 0 and not self._resuming and (resuming or not self._fresh):
            self.free -= 1
            return
        queue = self._resuming if resuming else self._fresh
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue.append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # handed over, then cancelled before running: pass it on
            else:
                with contextlib.suppress(ValueError):
                    queue.remove(future)
            raise

    def release(self) -> None:
        """Hand the slot to the next waiter (those resuming first), or put it back."""
        for queue in (self._resuming, self._fresh):
            while queue:
                future = queue.popleft()
                if not future.done():
                    future.set_result(None)
                    return
        self.free += 1


class _Lease:
    """One update's slot; the rate limiter gives it back while a send waits (see ratelimit.LEASE)."""

    __slots__ = ("_active", "_away", "_held", "_slots")

    def __init__(self, slots: _Slots) -> None:
        self._slots = slots
        self._held = False
        self._active = True
        self._away = 0  # sends of this update waiting or in flight right now

    async def take(self) -> None:
        await self._slots.acquire(resuming=False)
        self._held = True

    def release(self) -> None:
        """A send starts waiting: free the slot for other chats' updates."""
        self._away += 1
        if self._held:
            self._held = False
            self._slots.release()

    async def reacquire(self) -> None:
        """The send is done: take a slot again (ahead of new updates) to finish the handler."""
        self._away -= 1
        if self._held or self._away or not self._active:
            return
        await self._slots.acquire(resuming=True)
        if self._active and not self._away and not self._held:
            self._held = True
        else:  # the update finished or another send started meanwhile
            self._slots.release()

    def close(self) -> None:
        """The update is done: free the slot; late sends of tasks it started no longer count."""
        self._active = False
        if self._held:
            self._held = False
            self._slots.release()


class _Waiter:
    __slots__ = ("future", "sender")

    def __init__(self, future: asyncio.Future[bool], sender: int | None) -> None:
        self.future = future
        self.sender = sender


class ChatLanes(BaseUpdateProcessor):
    """Per-chat lanes, ``workers`` slots and the per-sender throttle; see the module docstring."""

    __slots__ = ("_lanes", "_queued", "_slots", "dropped", "noticed", "throttle")

    def __init__(self, workers: int = 64, *, throttle: UserThrottle | None = None) -> None:
        """``workers`` updates may work at once; ``throttle`` (None: no limit) decides on arrival."""
        super().__init__(ADMISSION)
        self._slots = _Slots(workers)
        self._lanes: dict[Hashable, deque[_Waiter]] = {}  # a key is present while its lane is busy
        self._queued: dict[int, set[_Waiter]] = {}  # sender -> their updates still waiting in a lane
        self.throttle = throttle
        self.dropped = 0
        self.noticed = 0

    @property
    def workers(self) -> int:
        """How many updates may work at once."""
        return self._slots.size

    @property
    def working(self) -> int:
        """Updates holding a slot now (those whose send waits do not count), for tests and stats."""
        return self._slots.size - self._slots.free

    @property
    def busy_lanes(self) -> int:
        """Chats with an update in progress."""
        return len(self._lanes)

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to free: lanes empty themselves as their updates finish."""

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Throttle, queue in the chat's lane, take a slot, run PTB's handlers."""
        sender = sender_of(update)
        verdict = self.throttle.check(sender) if self.throttle is not None else Verdict.PASS
        if verdict is Verdict.DROP:
            self.dropped += 1
            _discard(coroutine)
            return
        if verdict is Verdict.NOTICE and sender is not None:
            self.noticed += 1
            self._drop_queued(sender)  # what they queued before going over is not worth answering now
        lane = lane_of(update)
        try:
            admitted = lane is None or await self._enter(lane, sender)
        except BaseException:
            _discard(coroutine)
            raise
        if not admitted:
            self.dropped += 1
            _discard(coroutine)
            return
        try:
            lease = _Lease(self._slots)
            try:
                await lease.take()
            except BaseException:
                _discard(coroutine)
                raise
            lease_token = LEASE.set(lease)
            notice_token = set_notice(verdict is Verdict.NOTICE)
            try:
                await coroutine
            finally:
                reset_notice(notice_token)
                LEASE.reset(lease_token)
                lease.close()
        finally:
            if lane is not None:
                self._leave(lane)

    async def _enter(self, lane: Hashable, sender: int | None) -> bool:
        """Wait for the lane; False when the sender was throttled meanwhile and this update dropped."""
        waiters = self._lanes.get(lane)
        if waiters is None:
            self._lanes[lane] = deque()
            return True
        waiter = _Waiter(asyncio.get_running_loop().create_future(), sender)
        waiters.append(waiter)
        if sender is not None:
            self._queued.setdefault(sender, set()).add(waiter)
        try:
            return await waiter.future
        except asyncio.CancelledError:
            future = waiter.future
            if future.done() and not future.cancelled() and future.result():
                self._leave(lane)  # the lane was handed over, then cancelled: pass it on
            raise
        finally:
            if sender is not None:
                queued = self._queued.get(sender)
                if queued is not None:
                    queued.discard(waiter)
                    if not queued:
                        del self._queued[sender]

    def _leave(self, lane: Hashable) -> None:
        """Hand the lane to its next update, or close it."""
        waiters = self._lanes[lane]
        while waiters:
            waiter = waiters.popleft()
            if not waiter.future.done():
                waiter.future.set_result(True)
                return
        del self._lanes[lane]

    def _drop_queued(self, sender: int) -> None:
        """Drop every update of ``sender`` that is still waiting in a lane."""
        for waiter in self._queued.pop(sender, ()):
            if not waiter.future.done():
                waiter.future.set_result(False)


def _discard(coroutine: Awaitable[Any]) -> None:
    """Close an update's coroutine that will never run, so Python does not warn it was never awaited."""
    if inspect.iscoroutine(coroutine):
        coroutine.close()
