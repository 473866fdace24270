"""The delivery engine: works the persistent outbox so every subscriber gets every broadcast exactly once.

How it works
------------
* `publish()` (or any other process, e.g. `newsbot import`) enqueues a broadcast: one row per recipient in
  `deliveries`, status `pending`. The engine wakes at once for enqueues in this process and polls the
  outbox every `idle_poll` seconds for the others (and for retries whose `not_before` has come).
* A dispatcher reads due deliveries in keyset-ordered pages (never all at once) and hands each to a
  bounded pool of sender tasks (`concurrency`, default 128), enough to reach the limit over slow links.
* Each message is rendered once per (kind, ref, language) and cached, not once per subscriber.
* Every send goes through the application's TelegramRateLimiter with broadcast priority, so replies to
  readers always go first and Telegram's limits hold for both together.
* Each outcome is committed as soon as its send completes. Outcomes that complete while a commit is
  running are written together by the next commit ("group commit"): there is no waiting window, a commit
  takes a few milliseconds, and a sender's slot is freed only after its outcome is committed. So a
  kill -9 can lose at most the outcomes of sends in flight, i.e. at most `concurrency` messages go out
  twice after a restart, and nothing is lost.

Besides a crash, one more case can repeat a message: a send that times out although Telegram received it
is retried (the Bot API has no idempotency key), as is a send cancelled by stop() after stop_timeout.

Errors: a 429 pauses everything (the limiter) and the same send is retried after the pause; 5xx,
timeouts and network errors are retried with exponential backoff (`not_before`) up to `max_attempts`
(about 40 minutes in all), then marked failed with the error; if the database refuses to record an
outcome, the sender keeps trying to record it instead of sending again; 403 and "chat not found" mark
the chat unreachable and fail its pending deliveries; ChatMigrated moves the chat and its deliveries to
the new id and sends there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import warnings
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import ExtBot
from telegram.warnings import PTBUserWarning

from bot.render import Renderer, language_for
from bot.views import RenderedMessage, render_article
from storage import Store
from storage.models import DeliveryOutcome, DueDelivery

log = logging.getLogger(__name__)

BroadcastRenderer = Callable[[str, str], Awaitable[RenderedMessage | None]]
BROADCAST = {"priority": "broadcast"}
DEACTIVATING_BAD_REQUESTS = ("chat not found", "user not found", "peer_id_invalid", "chat_write_forbidden")

# Broadcasts call sendMessage through do_api_request to skip building a Message object per send (the
# CPU that decides whether 1,000 msg/s fit on two cores); PTB warns that send_message exists.
warnings.filterwarnings("ignore", message=r"Please use 'Bot\.sendMessage' instead", category=PTBUserWarning)


@dataclass(frozen=True)
class DeliveryOptions:
    """Tuning knobs; the defaults suit production, tests shorten the waits."""

    paid: bool = False  # allow_paid_broadcast=True: up to 1000 msg/s, 0.1 Stars each
    concurrency: int = 128  # sends in flight; 30 msg/s over 200 ms links needs 6, 1000 msg/s needs 100+
    rate: float = 30.0  # sends per second the limiter allows; senders start a little faster, never in a herd
    batch_size: int = 500  # deliveries read per page
    idle_poll: float = 1.0  # seconds between outbox polls when idle (other processes enqueue too)
    max_attempts: int = 10  # transient failures (5xx, timeouts) before a delivery is marked failed
    retry_base: float = 5.0  # backoff: 5, 10, 20 s ... at most retry_cap: about 40 minutes before giving up
    retry_cap: float = 600.0
    group_share: float = 0.25  # at most this share of the senders wait on groups' 20-per-minute windows
    render_ttl: float = 60.0  # a rendered broadcast is reused this long (a forecast can change later)
    max_flood_waits: int = 10  # 429s in a row for one send before it is rescheduled instead
    progress_interval: float = 10.0  # seconds between progress lines for long broadcasts
    stop_timeout: float = 5.0  # how long stop() lets in-flight sends finish before leaving them pending


class DeliveryEngine:
    """Sends the outbox at Telegram's limits, readers first, and survives faults and crashes."""

    def __init__(
        self, bot: ExtBot, store: Store, renderer: Renderer, options: DeliveryOptions | None = None
    ) -> None:
        """Nothing runs until start(); the article renderer is registered by default."""
        self.bot = bot
        self.store = store
        self.options = options or DeliveryOptions()
        self._renderers: dict[str, BroadcastRenderer] = {}
        self._messages: OrderedDict[
            tuple[str, str, str], tuple[float, asyncio.Future[dict[str, Any] | None]]
        ] = OrderedDict()
        self._inflight: set[tuple[int, int]] = set()
        self._busy_chats: Counter[int] = Counter()  # one send per chat at a time: a 403 stops the rest
        self._groups_inflight = 0
        self._deferred = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._slots: asyncio.Semaphore | None = None
        self._dispatcher: asyncio.Task[None] | None = None
        self._reporter: asyncio.Task[None] | None = None
        self._writer = _GroupCommit(store)
        # broadcast id -> [outcomes here so far, outcomes at the last progress line, time of that line]
        self._touched: dict[int, list[float]] = {}
        self.sent = 0
        self.failed = 0
        self.register_renderer("article", article_renderer(store, renderer))

    # ------------------------------------------------------------------ public API

    def register_renderer(self, kind: str, render: BroadcastRenderer) -> None:
        """Render broadcasts of `kind`: render(ref, lang) -> message, or None if there is nothing to send."""
        self._renderers[kind] = render
        self.wake()

    def wake(self) -> None:
        """Look at the outbox now rather than at the next poll."""
        self._wake.set()

    @property
    def running(self) -> bool:
        """Whether the dispatcher is working the outbox."""
        return self._dispatcher is not None and not self._dispatcher.done()

    async def start(self) -> None:
        """Start working the outbox, including whatever was queued while the bot was down."""
        if self.running:
            return
        self._slots = asyncio.Semaphore(self.options.concurrency)
        self.store.outbox.add_listener(self.wake)
        self._dispatcher = asyncio.create_task(self._dispatch(), name="delivery-dispatcher")
        self._reporter = asyncio.create_task(self._report(), name="delivery-progress")
        log.info(
            "delivery engine started (%d in flight max%s)",
            self.options.concurrency,
            ", paid broadcast" if self.options.paid else "",
        )

    async def stop(self) -> None:
        """Stop taking work; sends in flight get stop_timeout to finish, the rest stay pending."""
        self.store.outbox.remove_listener(self.wake)
        for task in (self._dispatcher, self._reporter):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._dispatcher = self._reporter = None
        if self._tasks:
            _, unfinished = await asyncio.wait(set(self._tasks), timeout=self.options.stop_timeout)
            for task in unfinished:
                task.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)
            if unfinished:
                log.info("delivery engine stopped; %d sends left pending for the next start", len(unfinished))
        await self._writer.drain()
        self._messages.clear()

    # ------------------------------------------------------------------ dispatching

    async def _dispatch(self) -> None:
        """Keep the dispatcher alive: a failure is logged and the work resumes from the outbox."""
        while True:
            try:
                await self._work_outbox()
            except Exception:
                log.exception("the delivery dispatcher failed; it resumes from the outbox shortly")
                await asyncio.sleep(self.options.idle_poll * 5)

    async def _work_outbox(self) -> None:
        """Walk the pending deliveries page by page; when a pass finds nothing new, wait for work."""
        cursor: tuple[int, int] | None = None
        dispatched = False
        loop = asyncio.get_running_loop()
        next_start = loop.time()
        while True:
            try:
                page = await self.store.outbox.due(
                    tuple(self._renderers), after=cursor, limit=self.options.batch_size
                )
            except Exception:
                log.exception("could not read the outbox; trying again shortly")
                await asyncio.sleep(self.options.idle_poll)
                continue
            if not page:
                again = cursor is not None and dispatched
                cursor, dispatched = None, False
                if not again:
                    await self._idle()
                continue
            cursor = (page[-1].broadcast_id, page[-1].chat_id)
            for delivery in page:
                key = (delivery.broadcast_id, delivery.chat_id)
                if key in self._inflight:
                    continue
                if self._busy_chats[delivery.chat_id] or self._groups_full(delivery.chat_id):
                    self._deferred = True  # the chat's other send finishes first; a later pass takes this
                    continue
                assert self._slots is not None
                await self._slots.acquire()
                # Start senders at the pace the limiter will let them through (plus 10%): a herd of a hundred
                # tasks waking together would delay the granted send by tens of milliseconds, and a send that
                # reaches Telegram that much later than it was counted can break its one-second window.
                interval = 1.0 / (1.1 * self.options.rate)
                now = loop.time()
                if next_start > now:
                    await asyncio.sleep(next_start - now)
                next_start = max(next_start, now - 0.01) + interval  # make up for late timers, not idle time
                if key in self._inflight or self._busy_chats[delivery.chat_id]:  # changed while we waited
                    self._slots.release()
                    self._deferred = True
                    continue
                self._inflight.add(key)
                self._busy_chats[delivery.chat_id] += 1
                self._groups_inflight += delivery.chat_id < 0
                task = asyncio.create_task(self._deliver(delivery, key))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                dispatched = True

    def _groups_full(self, chat_id: int) -> bool:
        """Groups wait up to a minute for their window; they must not take every sender from private chats."""
        return chat_id < 0 and self._groups_inflight >= max(
            1, int(self.options.concurrency * self.options.group_share)
        )

    async def _idle(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self.options.idle_poll)
        self._wake.clear()

    async def _deliver(self, delivery: DueDelivery, key: tuple[int, int]) -> None:
        """One delivery: send, then commit its outcome before freeing the slot."""
        keys = [key]
        try:
            outcome = await self._attempt(delivery, keys)
            if outcome is not None:
                await self._save(outcome)
        except asyncio.CancelledError:
            raise
        except Exception:
            # Most likely the database refused a write: hold the slot a while, so that neither this chat
            # nor the queue is hammered, and try again from the outbox later.
            log.exception("delivery %s to chat %s failed unexpectedly", *key)
            await asyncio.sleep(self.options.idle_poll * 5)
        finally:
            for k in keys:
                self._inflight.discard(k)
            self._groups_inflight -= delivery.chat_id < 0
            self._busy_chats[delivery.chat_id] -= 1
            if not self._busy_chats[delivery.chat_id]:
                del self._busy_chats[delivery.chat_id]
            assert self._slots is not None
            self._slots.release()
            if self._deferred:
                self._deferred = False
                self.wake()

    async def _save(self, outcome: DeliveryOutcome) -> None:
        """Record the outcome, retrying while the database refuses: a sent message must not go out again."""
        delay = 0.5
        while True:
            try:
                await self._writer.write(outcome)
            except Exception:
                log.warning("outcome of delivery %s to chat %s not saved; retrying in %.1f s",
                            outcome.broadcast_id, outcome.chat_id, delay)  # fmt: skip
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
            else:
                self._count(outcome)
                return

    def _count(self, outcome: DeliveryOutcome) -> None:
        if outcome.status == "sent":
            self.sent += 1
        elif outcome.status == "failed":
            self.failed += 1
        self._touched.setdefault(outcome.broadcast_id, [0, 0, time.monotonic()])[0] += 1

    async def _attempt(self, delivery: DueDelivery, keys: list[tuple[int, int]]) -> DeliveryOutcome | None:
        """Send until there is an outcome to record; None when the outcome is already in the database."""
        bid, chat_id = delivery.broadcast_id, delivery.chat_id
        try:
            message = await self._message(delivery.kind, delivery.ref, _language(delivery))
        except Exception as error:
            log.exception("rendering %s %s failed", delivery.kind, delivery.ref)
            return self._transient(delivery, chat_id, f"render: {error}")
        if message is None:
            nothing = f"nothing to send for {delivery.kind} {delivery.ref}"
            return DeliveryOutcome(bid, chat_id, "failed", nothing)
        flood_waits = 0
        while True:
            try:
                await self.bot.do_api_request(
                    "sendMessage", api_kwargs={**message, "chat_id": chat_id}, rate_limit_args=BROADCAST
                )
                return DeliveryOutcome(bid, chat_id, "sent")
            except RetryAfter as error:
                # The limiter has already paused every send; this one goes again after the pause.
                flood_waits += 1
                if flood_waits >= self.options.max_flood_waits:
                    wait = _seconds(error.retry_after)
                    return DeliveryOutcome(
                        bid, chat_id, "retry", "flood control", time.time() + wait, count_attempt=False
                    )
            except ChatMigrated as error:
                new_id = error.new_chat_id
                log.info("chat %s became supergroup %s; moving its subscription", chat_id, new_id)
                await self.store.outbox.migrate_chat(chat_id, new_id)
                if (bid, new_id) in self._inflight:  # the dispatcher already sends to the new id
                    return None
                keys.append((bid, new_id))
                self._inflight.add((bid, new_id))
                if not await self.store.outbox.is_pending(bid, new_id):
                    return None
                chat_id = new_id
            except Forbidden as error:
                await self._deactivate(chat_id, f"forbidden: {error.message}")
                return None
            except BadRequest as error:
                if any(reason in error.message.lower() for reason in DEACTIVATING_BAD_REQUESTS):
                    await self._deactivate(chat_id, f"bad request: {error.message}")
                    return None
                log.warning("broadcast %s to chat %s rejected: %s", bid, chat_id, error.message)
                return DeliveryOutcome(bid, chat_id, "failed", f"bad request: {error.message}")
            except (NetworkError, TelegramError) as error:  # 5xx, timeouts, connection trouble
                return self._transient(delivery, chat_id, f"{type(error).__name__}: {error.message}")

    def _transient(self, delivery: DueDelivery, chat_id: int, error: str) -> DeliveryOutcome:
        """Retry later with exponential backoff, or give up after max_attempts."""
        attempt = delivery.attempts + 1
        if attempt >= self.options.max_attempts:
            log.warning(
                "giving up broadcast %s to chat %s after %d attempts: %s",
                delivery.broadcast_id,
                chat_id,
                attempt,
                error,
            )
            return DeliveryOutcome(delivery.broadcast_id, chat_id, "failed", error)
        delay = min(self.options.retry_cap, self.options.retry_base * 2 ** (attempt - 1))
        return DeliveryOutcome(delivery.broadcast_id, chat_id, "retry", error, time.time() + delay)

    async def _deactivate(self, chat_id: int, reason: str) -> None:
        dropped = await self.store.outbox.deactivate_chat(chat_id, reason)
        self.failed += dropped
        log.info("chat %s is unreachable (%s); %d pending deliveries dropped", chat_id, reason, dropped)

    # ------------------------------------------------------------------ rendering

    async def _message(self, kind: str, ref: str, lang: str) -> dict[str, Any] | None:
        """sendMessage parameters for (kind, ref, lang), rendered once and shared by every sender."""
        key = (kind, ref, lang)
        loop = asyncio.get_running_loop()
        cached = self._messages.get(key)
        future = (
            cached[1] if cached is not None and loop.time() - cached[0] < self.options.render_ttl else None
        )
        if future is None:
            future = loop.create_future()
            self._messages[key] = (loop.time(), future)
            while len(self._messages) > 256:
                self._messages.popitem(last=False)
            try:
                future.set_result(self._parameters(await self._renderers[kind](ref, lang)))
            except Exception as error:
                self._messages.pop(key, None)
                future.set_exception(error)
                future.exception()  # retrieved here; waiters re-raise it
        else:
            self._messages.move_to_end(key)
        return await asyncio.shield(future)

    def _parameters(self, message: RenderedMessage | None) -> dict[str, Any] | None:
        if message is None:
            return None
        parameters: dict[str, Any] = {
            "text": message.text,
            "parse_mode": "HTML",
            "link_preview_options": {"is_disabled": True},
        }
        if message.reply_markup is not None:
            parameters["reply_markup"] = message.reply_markup.to_dict()
        if self.options.paid:
            parameters["allow_paid_broadcast"] = True
        return parameters

    # ------------------------------------------------------------------ progress

    async def _report(self) -> None:
        """Every progress_interval, one line per broadcast that moved: done/total, rate, time left."""
        while True:
            await asyncio.sleep(self.options.progress_interval)
            for bid, counts in list(self._touched.items()):
                try:
                    progress = await self.store.outbox.progress(bid)
                except Exception:
                    log.exception("could not read the progress of broadcast %s", bid)
                    continue
                now = time.monotonic()
                if progress is None or progress.done >= progress.total:
                    self._touched.pop(bid, None)
                    if progress is not None:
                        log.info(
                            "broadcast %d (%s %s) finished: %d deliveries",
                            bid,
                            progress.kind,
                            progress.ref,
                            progress.total,
                        )
                    continue
                rate = (counts[0] - counts[1]) / (now - counts[2])
                left = (progress.total - progress.done) / rate if rate > 0 else float("inf")
                log.info(
                    "broadcast %d (%s %s): %d/%d done, %.1f msg/s, %s left",
                    bid,
                    progress.kind,
                    progress.ref,
                    progress.done,
                    progress.total,
                    rate,
                    _duration(left),
                )
                counts[1:] = [counts[0], now]


class _GroupCommit:
    """Commits outcomes at once; those arriving during a commit share the next one (no waiting window)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._queue: list[tuple[DeliveryOutcome, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def write(self, outcome: DeliveryOutcome) -> None:
        """Return once the outcome is committed (raises if the commit failed)."""
        future = asyncio.get_running_loop().create_future()
        self._queue.append((outcome, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await asyncio.shield(future)

    async def _flush(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                await self._store.outbox.record([outcome for outcome, _ in batch])
            except Exception as error:
                log.exception("could not record %d delivery outcomes; they stay pending", len(batch))
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                        future.exception()
            else:
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)

    async def drain(self) -> None:
        """Wait for the last commit, so stop() leaves nothing half-written."""
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)


def article_renderer(store: Store, renderer: Renderer) -> BroadcastRenderer:
    """Broadcast kind "article": ref is the article id; a deleted article renders to None."""

    async def render(ref: str, lang: str) -> RenderedMessage | None:
        article = await store.articles.get(int(ref)) if ref.isdigit() else None
        return None if article is None else render_article(renderer, lang, article)

    return render


def _language(delivery: DueDelivery) -> str:
    return language_for(delivery.language, delivery.language_code)


def _seconds(value: Any) -> float:
    return value.total_seconds() if hasattr(value, "total_seconds") else float(value)


def _duration(seconds: float) -> str:
    if seconds == float("inf"):
        return "unknown time"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
