"""The delivery engine: works the persistent outbox so every subscriber gets every broadcast exactly once.

How it works
------------
* Publishing (in any process, e.g. `newsbot import`) creates a broadcast. A small audience is queued in
  the same transaction; a whole audience (every subscriber of an article) is queued by this engine's filler
  in chunks of 20,000 short transactions, and only sent once it is complete.
* The dispatcher reads sendable deliveries in keyset-ordered pages and **claims** them before sending:
  one `UPDATE ... SET status = 'sending', claimed_by = <this engine> ... RETURNING` per chunk. Only the
  returned rows are sent, and only the claimant records their outcome (`record` matches `claimed_by`), so
  no row can be sent by two senders, whatever pages the dispatcher re-reads. Claims left by a process that
  died are re-queued when the engine starts.
* A bounded pool of senders (`concurrency`) sends through the application's rate limiter with broadcast
  priority (readers' replies always go first) over the lean Bot API client (bot/delivery/botapi.py); the
  message body is rendered and JSON-encoded once per (kind, ref, language, followed phrase named), only
  the chat id changes (and disable_notification for a silent delivery).
* Outcomes are committed in groups: a commit waits up to 20 ms (or for 64 outcomes) and those completing
  meanwhile or during a commit share it. A sender's slot is freed only after its outcome is committed.
  A kill -9 loses nothing: claimed rows go back to the queue at the next start, and only sends in flight
  (or awaiting their commit) at that moment can go out twice.

Errors: a 429 pauses what it is about (the chat, the paid window or the global one; see the limiter) and the
same send goes again after the pause; 5xx, timeouts and network errors are retried with exponential backoff
(5, 10, 20 ... 600 s; 10 attempts over about 31 minutes) and then marked failed; 403 and "chat not found"
mark the chat unreachable and fail its queue; ChatMigrated moves the chat and its queue to the new id.
A refused token (401/404) or another instance polling with the same token (409) are not the delivery's
fault: the engine stops sending, keeps the queue as it is, logs one line, checks the token every minute
and tells the operators when it sends again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.delivery.botapi import ApiError, BotApi, TransportError
from bot.delivery.outcomes import GroupCommit
from bot.delivery.ratelimit import TelegramRateLimiter
from bot.instances import Role, Solo
from bot.photos import ArticlePhotos, PhotoRefused, multipart, refuses_photo
from bot.readers.schedule import minute_of_day
from bot.render import Renderer, language_for
from bot.views import LeadPhoto, RenderedMessage, pushed_article
from storage import Store
from storage.database import StorageError
from storage.models import DeliveryOutcome, DueDelivery

log = logging.getLogger(__name__)

# render(ref, lang) -> message, or None if there is nothing to send; a delivery that a followed phrase
# brought is rendered with render(ref, lang, matched=phrase) (only the article renderer sees those).
BroadcastRenderer = Callable[..., Awaitable[RenderedMessage | None]]
OperatorNotice = Callable[[str, float], Awaitable[None]]
DEACTIVATING_BAD_REQUESTS = ("chat not found", "user not found", "peer_id_invalid", "chat_write_forbidden")
TOKEN_REFUSED = (401, 404)  # Unauthorized / Not Found: the token was revoked or is wrong
CONFLICT = 409  # another getUpdates or webhook with the same token
_NOT_READY = object()  # a message not rendered yet (or no longer fresh): _message renders it
PACING_SLACK = 0.005  # seconds senders may start ahead of their pace
PACING_CATCH_UP = 0.05  # seconds of dispatcher delay that senders may start at once to make up for
EDIT = "edit"  # follow-up kinds (ref "<article>:<version>" / "<article>"): one delivery per delivered message
WITHDRAW = "withdraw"
DELETE_WINDOW = 48 * 3600 - 600  # bots may delete their messages for 48 hours; keep 10 minutes' margin
GONE = ("message to edit not found", "message to delete not found", "message_id_invalid")


@dataclass(frozen=True)
class DeliveryOptions:
    """Tuning knobs; the defaults suit production, tests shorten the waits."""

    paid: bool = False  # allow_paid_broadcast=True: up to 1000 msg/s, 0.1 Stars each
    concurrency: int = 128  # sends in flight; 30 msg/s over 200 ms links needs 6, 1000 msg/s needs 100+
    batch_size: int = 500  # deliveries read per page
    claim_size: int = 64  # deliveries claimed per transaction
    idle_poll: float = 1.0  # seconds between outbox polls when idle (other processes enqueue too)
    max_attempts: int = 10  # transient failures (5xx, timeouts) before a delivery is marked failed
    retry_base: float = 5.0  # backoff: 5, 10, 20 s ... at most retry_cap: about 31 minutes before giving up
    retry_cap: float = 600.0
    group_share: float = 0.25  # at most this share of the senders wait on groups' 20-per-minute windows
    render_ttl: float = 60.0  # a rendered broadcast is reused this long (a forecast can change later)
    max_flood_waits: int = 10  # 429s in a row for one send before it is rescheduled instead
    progress_interval: float = 10.0  # seconds between progress lines for long broadcasts
    stop_timeout: float = 5.0  # how long stop() lets in-flight sends finish before leaving them queued
    send_timeout: float = 10.0  # seconds a send may take before it counts as a network failure
    token_probe: float = 60.0  # seconds between token checks while Telegram refuses the token
    conflict_hold: float = 120.0  # seconds sending stays paused after the last 409 Conflict
    commit_linger: float = 0.02  # seconds outcomes wait to share a commit: a fifth less CPU at 1,000 msg/s


@dataclass
class _Prepared:
    """A broadcast message as JSON bytes around the chat id, so a send only formats one number."""

    head: bytes
    tail: bytes
    photo: LeadPhoto | None = None  # an article's lead photo: sendPhoto with its caption, else the text
    photo_parameters: dict[str, Any] | None = None  # caption, parse mode, buttons for sendPhoto

    def body(self, chat_id: int, silent: bool = False) -> bytes:
        quiet = b',"disable_notification":true' if silent else b""
        return self.head + str(chat_id).encode() + quiet + self.tail

    def edit_body(self, chat_id: int, message_id: int, *, caption: bool = False) -> bytes:
        """The same message as an edit of `message_id`: editMessageText, or editMessageCaption for a photo."""
        if caption and self.photo_parameters is not None:  # the caption the photo was sent with, new version
            parameters = {k: v for k, v in self.photo_parameters.items() if k != "allow_paid_broadcast"}
            edit = {"chat_id": chat_id, "message_id": message_id, **parameters}
            return json.dumps(edit, ensure_ascii=False, separators=(",", ":")).encode()
        tail = self.tail
        if caption:
            tail = _as_caption(tail)
        tail = tail.replace(b',"allow_paid_broadcast":true', b"")
        return self.head + str(chat_id).encode() + b',"message_id":' + str(message_id).encode() + tail


class _Stopped(Exception):
    """The broadcast was stopped (/cancel, a withdrawal) after this send was claimed: it is not made."""


class _Halted(Exception):
    """The token was refused: this send goes back to the queue unsent."""


class DeliveryEngine:
    """Sends the outbox at Telegram's limits, readers first, and survives faults and crashes."""

    def __init__(
        self,
        api: BotApi,
        limiter: TelegramRateLimiter,
        store: Store,
        renderer: Renderer,
        options: DeliveryOptions | None = None,
        *,
        notify_operators: OperatorNotice | None = None,
        clock: Callable[[], float] = time.time,
        photos: ArticlePhotos | None = None,
        role: Role | None = None,
    ) -> None:
        """Nothing runs until start(); the article renderer is registered by default.

        `clock` (unix time) is the fill moment readers' quiet hours are judged at; tests move it. `role`
        says whether this instance is the one that sends (bot/instances/); alone, it always is.
        """
        self.role: Role = role or Solo()
        self._term: int | None = None
        self.api = api
        self._clock = clock
        self.limiter = limiter
        self.store = store
        self.options = options or DeliveryOptions()
        self.photos = photos  # lead photos: downloaded and uploaded once per article (bot/photos/)
        self.owner = f"engine-{uuid.uuid4().hex[:12]}"
        self._notify_operators = notify_operators
        self._renderers: dict[str, BroadcastRenderer] = {}
        self._messages: OrderedDict[
            tuple[str, str, str, str | None, int], tuple[float, asyncio.Future[_Prepared | None]]
        ] = OrderedDict()
        self._busy_chats: Counter[int] = Counter()  # one send per chat at a time: a 403 stops the rest
        self._groups_inflight = 0
        self._deferred = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._fill_wake = asyncio.Event()
        self._slots: asyncio.Semaphore | None = None
        self._background: list[asyncio.Task[None]] = []
        self._writer = GroupCommit(store, self.owner, self.options.commit_linger, clock)
        self._sending = asyncio.Event()  # cleared while the token is refused or another instance polls
        self._sending.set()
        self._halt_reason: str | None = None
        self._halted_at = 0.0
        self._conflict_until = 0.0
        self._watcher: asyncio.Task[None] | None = None
        # broadcast id -> [outcomes here so far, outcomes at the last progress line, time of that line]
        self._touched: dict[int, list[float]] = {}
        self._stopped: set[int] = set()  # broadcasts stopped (/cancel, withdrawn): claimed sends are dropped
        self.sent = 0
        self.failed = 0
        self.register_renderer("article", article_renderer(store, renderer))
        self.register_renderer(EDIT, article_renderer(store, renderer))
        self.register_renderer(WITHDRAW, withdrawal_renderer(store, renderer))

    # ------------------------------------------------------------------ public API

    def register_renderer(self, kind: str, render: BroadcastRenderer) -> None:
        """Render broadcasts of `kind`: render(ref, lang) -> message, or None if there is nothing to send."""
        self._renderers[kind] = render
        self.wake()

    def stopped(self, broadcast_id: int) -> None:
        """A broadcast was stopped: sends already claimed for it but not yet made are dropped, not made."""
        self._stopped.add(broadcast_id)
        self.wake()

    def wake(self) -> None:
        """Look at the outbox now rather than at the next poll."""
        self._wake.set()
        self._fill_wake.set()

    @property
    def running(self) -> bool:
        """Whether the dispatcher is working the outbox."""
        return bool(self._background) and not self._background[0].done()

    @property
    def halted(self) -> str | None:
        """Why sending is paused (token refused, another instance), or None while sending."""
        return self._halt_reason

    @property
    def in_flight(self) -> int:
        """Sends in progress, for tests and stats."""
        return len(self._tasks)

    async def start(self) -> None:
        """Start working the outbox, including whatever was queued while the bot was down."""
        if self.running:
            return
        if self.role.sender:
            await self._take_over()
        self._slots = asyncio.Semaphore(self.options.concurrency)
        self.store.outbox.add_listener(self.wake)
        self.store.outbox.add_stop_listener(self.stopped)
        self._background = [
            asyncio.create_task(self._keep(self._work_outbox), name="delivery-dispatcher"),
            asyncio.create_task(self._keep(self._fill), name="delivery-filler"),
            asyncio.create_task(self._report(), name="delivery-progress"),
        ]
        log.info(
            "delivery engine started (%d in flight max%s)",
            self.options.concurrency,
            ", paid broadcast" if self.options.paid else "",
        )

    async def stop(self) -> None:
        """Stop taking work; sends in flight get stop_timeout to finish, the rest go back to the queue."""
        self.store.outbox.remove_listener(self.wake)
        self.store.outbox.remove_stop_listener(self.stopped)
        for task in [*self._background, self._watcher]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._background, self._watcher = [], None
        if self._tasks:
            _, unfinished = await asyncio.wait(set(self._tasks), timeout=self.options.stop_timeout)
            for task in unfinished:
                task.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)
            self._tasks.clear()  # those cancelled before they ever ran could not take themselves out
            if unfinished:
                log.info("delivery engine stopped; %d sends left queued for the next start", len(unfinished))
        await self._writer.drain()
        with contextlib.suppress(Exception):  # a refused write leaves them to reclaim_abandoned at start
            await self.store.outbox.release_all(self.owner)
        self._messages.clear()
        await self.api.close()

    def token_refused(self, detail: str) -> None:
        """Telegram refused the token (401/404): stop sending until a probe says it works again."""
        self._halt(f"Telegram refused the bot token ({detail})")

    def conflict(self) -> None:
        """Another instance uses the token (409): pause sending until conflicts have stopped a while."""
        self._conflict_until = time.monotonic() + self.options.conflict_hold
        self._halt("another instance is using this bot token (409 Conflict)")

    # ------------------------------------------------------------------ dispatching

    async def _take_over(self) -> None:
        """A new term as the sender: claims left by an engine that stopped (or lost the lease) go back."""
        term = self.role.term
        requeued = await self.store.outbox.reclaim_abandoned(self.owner)
        self._term = term
        if requeued:
            log.info("re-queued %d deliveries claimed by a process that stopped mid-send", requeued)

    async def _sending_here(self) -> None:
        """Wait until sending is allowed (token, conflicts) and this instance is the sender."""
        while True:
            await self._sending.wait()
            if not self.role.sender:
                await self.role.wait_sender()
                continue
            if self.role.term != self._term:
                await self._take_over()
            return

    async def _keep(self, work: Callable[[], Awaitable[None]]) -> None:
        """Keep a loop alive: a failure is logged and the work resumes from the outbox."""
        while True:
            try:
                await work()
            except StorageError as error:  # disk full, database locked: one line, and try again shortly
                log.warning("the delivery engine waits for the database: %s", error)
                await asyncio.sleep(self.options.idle_poll * 5)
            except Exception:
                log.exception("the delivery %s failed; it resumes from the outbox shortly", work.__name__)
                await asyncio.sleep(self.options.idle_poll * 5)

    async def _fill(self) -> None:
        """Queue whole audiences chunk by chunk, so no transaction holds the write lock for long."""
        while True:
            self._fill_wake.clear()
            await self.role.wait_sender()
            for broadcast_id in await self.store.outbox.filling():
                while not await self.store.outbox.fill(broadcast_id, minute=minute_of_day(self._clock())):
                    await asyncio.sleep(0)  # let claims, outcomes and readers' writes in between chunks
                self._wake.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._fill_wake.wait(), self.options.idle_poll)

    async def _work_outbox(self) -> None:
        """Walk the sendable deliveries page by page, claim and send them; when a pass is idle, wait."""
        cursor: tuple[int, int] | None = None
        dispatched = False
        loop = asyncio.get_running_loop()
        next_start = loop.time()
        while True:
            await self._sending_here()
            page = await self.store.outbox.due(
                tuple(self._renderers), after=cursor, limit=self.options.batch_size
            )
            if not page:
                again = cursor is not None and (dispatched or self._deferred)
                cursor, dispatched, self._deferred = None, False, False
                if not again:
                    await self._idle()
                continue
            cursor = (page[-1].broadcast_id, page[-1].chat_id)
            busy = self._busy_chats
            queue = [d for d in page if not busy.get(d.chat_id)]
            self._deferred |= len(queue) < len(page)  # a chat's other send finishes first; a later pass
            while queue:
                await self._sending_here()
                assert self._slots is not None
                # Claim only what free senders can start soon, so claims are never held long in memory.
                chunk: list[DueDelivery] = []
                chats: set[int] = set()
                while queue and len(chunk) < self.options.claim_size:
                    delivery = queue.pop(0)
                    if delivery.chat_id in chats or busy.get(delivery.chat_id):
                        self._deferred = True
                        continue
                    chats.add(delivery.chat_id)
                    chunk.append(delivery)
                if not chunk:
                    break
                claimed = await self.store.outbox.claim(
                    self.owner, [(d.broadcast_id, d.chat_id) for d in chunk]
                )
                for delivery in chunk:
                    if (delivery.broadcast_id, delivery.chat_id) not in claimed:
                        continue  # sent, rescheduled or dropped meanwhile
                    if self._groups_full(delivery.chat_id):
                        await self.store.outbox.release(
                            self.owner, [(delivery.broadcast_id, delivery.chat_id)]
                        )
                        self._deferred = True
                        continue
                    await self._slots.acquire()
                    # Start senders at the pace the limiter lets them through (plus 10%): a herd of a hundred
                    # tasks waking together would delay the granted send by tens of milliseconds, and a send
                    # that reaches Telegram that much later than it was counted can break its window.
                    now = loop.time()
                    # The limiter's rate now: this instance's share of the budget may change (bot/instances/).
                    interval = 1.0 / (1.1 * self.limiter.sends_per_second(paid=self.options.paid))
                    if next_start > now + PACING_SLACK:  # a few at once are no herd, and cost no timer
                        await asyncio.sleep(next_start - now)
                    # Make up for the time a claim or a page read kept the dispatcher (tens of milliseconds
                    # on a busy machine), not for idle time: else the limiter's queue drains while the
                    # dispatcher waits for SQLite, and the slots the empty queue leaves are lost for good.
                    next_start = max(next_start, now - PACING_CATCH_UP) + interval
                    busy[delivery.chat_id] += 1
                    self._groups_inflight += delivery.chat_id < 0
                    # The task takes itself out of _tasks when it ends (a done callback would cost each send
                    # one more turn of the event loop); stop() sweeps out any cancelled before they started.
                    self._tasks.add(asyncio.create_task(self._deliver(delivery)))
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

    # ------------------------------------------------------------------ sending

    async def _deliver(self, delivery: DueDelivery) -> None:
        """One claimed delivery: send, then commit its outcome before freeing the slot."""
        key = (delivery.broadcast_id, delivery.chat_id)
        try:
            try:
                outcome = await self._attempt(delivery)
            except _Halted:
                await self.store.outbox.release(self.owner, [key])
                return
            except StorageError as error:  # before the send: it was not sent, it goes again later
                log.warning("delivery %s to chat %s waits for the database: %s", *key, error)
                outcome = self._transient(delivery, delivery.chat_id, f"database: {error}"[:300])
            except asyncio.CancelledError:
                raise
            except Exception as error:  # a bug or a refused database write before the send finished
                log.exception("delivery %s to chat %s failed unexpectedly", *key)
                outcome = self._transient(delivery, delivery.chat_id, f"unexpected: {error!r}"[:300])
            if outcome is not None:
                await self._save(outcome)
        finally:
            self._tasks.discard(asyncio.current_task())  # type: ignore[arg-type]
            self._groups_inflight -= delivery.chat_id < 0
            busy = self._busy_chats
            if busy[delivery.chat_id] > 1:
                busy[delivery.chat_id] -= 1
            else:
                del busy[delivery.chat_id]
            assert self._slots is not None
            self._slots.release()
            if self._deferred:
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

    async def _attempt(self, delivery: DueDelivery) -> DeliveryOutcome | None:
        """Send until there is an outcome to record; None when the claim was handed on (migration)."""
        bid, chat_id = delivery.broadcast_id, delivery.chat_id
        if delivery.target is not None:
            return await self._follow_up(delivery)
        key = (delivery.kind, delivery.ref, _language(delivery), delivery.matched, delivery.revision)
        try:
            message = self._rendered(key)
            if message is _NOT_READY:
                message = await self._message(*key)
        except Exception as error:
            log.exception("rendering %s %s failed", delivery.kind, delivery.ref)
            return self._transient(delivery, chat_id, f"render: {error}")
        if message is None:
            return DeliveryOutcome(
                bid, chat_id, "failed", f"nothing to send for {delivery.kind} {delivery.ref}"
            )
        flood_waits = 0
        while True:
            if not self._sending.is_set() or not self.role.sender:
                raise _Halted  # paused or no longer the sender: give the claim back rather than hold it
            try:
                result = await self._send(message, chat_id, delivery.silent, bid)
                return DeliveryOutcome(
                    bid,
                    chat_id,
                    "sent",
                    message_id=_message_id(result),
                    photo=isinstance(result, dict) and "photo" in result,
                    revision=delivery.revision,
                )
            except _Stopped:
                return DeliveryOutcome(bid, chat_id, "failed", "stopped before it was sent")
            except TransportError as error:
                return self._transient(delivery, chat_id, str(error))
            except ApiError as error:
                verdict = await self._after_error(delivery, chat_id, error, flood_waits + 1)
                if verdict != "again":
                    return verdict
                flood_waits += 1

    async def _after_error(
        self, delivery: DueDelivery, chat_id: int, error: ApiError, flood_waits: int
    ) -> Any:
        """`_judge`'s verdict, but a 429 is "again" only max_flood_waits times in a row, then later."""
        verdict = await self._judge(delivery, chat_id, error)
        if verdict != "again" or flood_waits < self.options.max_flood_waits:
            return verdict
        wait = error.retry_after or 1.0
        return DeliveryOutcome(
            delivery.broadcast_id, chat_id, "retry", "flood control", time.time() + wait, count_attempt=False
        )

    async def _send(self, message: _Prepared, chat_id: int, silent: bool, broadcast_id: int = 0) -> Any:
        """One send within the limiter: the lead photo when the message has a usable one, else the text."""
        if message.photo is not None and self.photos is not None:
            sent = await self._send_photo(message, chat_id, silent, broadcast_id)
            if sent is not None:  # a photo: a later correction edits its caption
                return {"message_id": _message_id(sent), "photo": True}
        body = message.body(chat_id, silent)
        return await self.api.call(
            "sendMessage", body, self.options.send_timeout, gate=self._slot(chat_id, broadcast_id)
        )

    def _slot(self, chat_id: int, broadcast_id: int) -> Callable[[], Awaitable[None]]:
        """The limiter's slot for one send, taken by the Bot API client once its connection is ready."""

        async def slot() -> None:
            await self.limiter.acquire(chat_id, reader=False, paid=self.options.paid)
            if broadcast_id in self._stopped:
                raise _Stopped
            if not self.role.sender:  # the lease went while it waited for its slot: the next sender sends it
                raise _Halted

        return slot

    async def _send_photo(self, message: _Prepared, chat_id: int, silent: bool, broadcast_id: int = 0) -> Any:
        """sendPhoto by file_id, or the article's one upload; None when the text must go instead."""
        assert message.photo is not None and self.photos is not None
        parameters: dict[str, Any] = {"chat_id": chat_id, **(message.photo_parameters or {})}
        if silent:
            parameters["disable_notification"] = True
        timeout = self.options.send_timeout
        slot = self._slot(chat_id, broadcast_id)

        async def by_file_id(file_id: str) -> Any:
            body = json.dumps({**parameters, "photo": file_id}, ensure_ascii=False).encode()
            try:
                return await self.api.call("sendPhoto", body, timeout, gate=slot)
            except ApiError as error:
                if refuses_photo(error.status, error.description):
                    raise PhotoRefused(error.description) from None
                raise

        async def upload(picture: Any) -> tuple[Any, str]:
            fields = {
                key: value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                for key, value in parameters.items()
            }
            body, content_type = multipart(
                fields, "photo", picture.filename, picture.data, picture.content_type
            )
            try:
                result = await self.api.call(
                    "sendPhoto", body, max(timeout, 60.0), content_type=content_type, gate=slot
                )
            except ApiError as error:
                if refuses_photo(error.status, error.description):
                    raise PhotoRefused(error.description) from None
                raise
            sizes = result.get("photo") if isinstance(result, dict) else None
            if not sizes or not isinstance(sizes[-1], dict) or not sizes[-1].get("file_id"):
                raise PhotoRefused("no photo sizes in the answer")
            return result, str(sizes[-1]["file_id"])

        return await self.photos.send(message.photo, by_file_id=by_file_id, upload=upload)

    async def _judge(self, delivery: DueDelivery, chat_id: int, error: ApiError) -> Any:
        """What an error answer means for this delivery: an outcome, None (handed on) or "again"."""
        bid = delivery.broadcast_id
        reason = error.description
        if error.status == 429:
            seconds = error.retry_after if error.retry_after is not None else 1.0
            self.limiter.flood(chat_id, seconds, paid=self.options.paid)
            return "again"  # the limiter holds the next attempt until the pause is over
        if error.migrate_to_chat_id is not None:
            new_id = error.migrate_to_chat_id
            log.info("chat %s became supergroup %s; moving its subscription", chat_id, new_id)
            await self.store.outbox.migrate_chat(chat_id, new_id, owner=self.owner)
            self.wake()
            return None
        if error.status in TOKEN_REFUSED:
            self.token_refused(f"HTTP {error.status}")
            raise _Halted
        if error.status == CONFLICT:
            self.conflict()
            raise _Halted
        lowered = reason.lower()
        if error.status == 403 or (
            error.status == 400 and any(r in lowered for r in DEACTIVATING_BAD_REQUESTS)
        ):
            dropped = await self.store.outbox.deactivate_chat(chat_id, reason)
            self.failed += dropped
            log.info("chat %s is unreachable (%s); %d queued deliveries dropped", chat_id, reason, dropped)
            return DeliveryOutcome(bid, chat_id, "failed", reason)
        if error.status == 400:
            log.warning("broadcast %s to chat %s rejected: %s", bid, chat_id, reason)
            return DeliveryOutcome(bid, chat_id, "failed", reason)
        return self._transient(delivery, chat_id, f"HTTP {error.status}: {reason}")

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

    # ------------------------------------------------------------------ edits and withdrawals

    async def _follow_up(self, delivery: DueDelivery) -> DeliveryOutcome | None:
        """Edit or delete one message delivered earlier (delivery.target), with the limits of any send.

        An edit shows the article's current version; a withdrawal deletes a message younger than 48 hours
        and edits an older one (or one Telegram refuses to delete) to the short notice. A message that is
        already as it should be, or that the reader deleted, needs nothing more.
        """
        bid, chat_id, target = delivery.broadcast_id, delivery.chat_id, delivery.target
        assert target is not None
        delete = delivery.kind == WITHDRAW and (
            delivery.target_at is not None and self._clock() - delivery.target_at < DELETE_WINDOW
        )
        try:
            message = await self._message(delivery.kind, delivery.ref, _language(delivery), delivery.matched)
        except Exception as error:
            log.exception("rendering %s %s failed", delivery.kind, delivery.ref)
            return self._transient(delivery, chat_id, f"render: {error}")
        if message is None:
            nothing = f"nothing to send for {delivery.kind} {delivery.ref}"
            return DeliveryOutcome(bid, chat_id, "failed", nothing)
        flood_waits = 0
        while True:
            if not self._sending.is_set():
                raise _Halted
            slot = self._slot(chat_id, bid)
            try:
                if delete:
                    body = json.dumps({"chat_id": chat_id, "message_id": target}).encode()
                    await self.api.call("deleteMessage", body, self.options.send_timeout, gate=slot)
                else:
                    # A photo's caption is edited instead of its text (the photo send path sets `photo`).
                    method = "editMessageCaption" if delivery.target_photo else "editMessageText"
                    body = message.edit_body(chat_id, target, caption=delivery.target_photo)
                    await self.api.call(method, body, self.options.send_timeout, gate=slot)
                return DeliveryOutcome(bid, chat_id, "sent", message_id=target, photo=delivery.target_photo)
            except _Stopped:  # superseded by a newer edit, or the article was withdrawn meanwhile
                return DeliveryOutcome(bid, chat_id, "failed", "stopped before it was sent")
            except TransportError as error:
                return self._transient(delivery, chat_id, str(error))
            except ApiError as error:
                lowered = error.description.lower()
                if error.status == 400 and "message is not modified" in lowered:
                    return DeliveryOutcome(bid, chat_id, "sent", message_id=target)
                if error.status == 400 and any(reason in lowered for reason in GONE):
                    return DeliveryOutcome(bid, chat_id, "sent", f"already gone: {error.description}"[:300])
                if delete and error.status == 400 and "can't be deleted" in lowered:
                    delete = False  # too old after all, or not ours to delete: edit it to the notice
                    continue
                verdict = await self._after_error(delivery, chat_id, error, flood_waits + 1)
                if verdict != "again":
                    return verdict
                flood_waits += 1

    # ------------------------------------------------------------------ halting on a refused token

    def _halt(self, reason: str) -> None:
        if self._halt_reason is None:
            self._halt_reason = reason
            self._halted_at = time.monotonic()
            self._sending.clear()
            log.error("broadcasts paused: %s; the queue is kept and sending resumes by itself", reason)
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.create_task(self._watch_halt(), name="delivery-halt-watch")

    async def _watch_halt(self) -> None:
        """Check the token every token_probe seconds; resume and tell the operators when it works."""
        while True:
            wait = max(self.options.token_probe, self._conflict_until - time.monotonic())
            await asyncio.sleep(wait)
            if time.monotonic() < self._conflict_until:
                continue
            try:
                await self.api.call("getMe", b"{}", self.options.send_timeout)
            except ApiError as error:
                if error.status in TOKEN_REFUSED:
                    continue
            except TransportError:
                continue
            break
        reason, paused = self._halt_reason or "", time.monotonic() - self._halted_at
        self._halt_reason = None
        self._sending.set()
        self.wake()
        log.warning("broadcasts resumed after %.0f s (%s)", paused, reason)
        if self._notify_operators is not None:
            try:
                await self._notify_operators(reason, paused)
            except Exception:
                log.exception("could not tell the operators that broadcasts resumed")

    # ------------------------------------------------------------------ rendering

    def _rendered(self, key: tuple[str, str, str, str | None, int]) -> Any:
        """The message for `key` if it is rendered and fresh (every send of a broadcast but the first), else
        _NOT_READY: no coroutine and no wait for the common case."""
        cached = self._messages.get(key)
        if cached is None:
            return _NOT_READY
        at, future = cached
        if not future.done() or future.cancelled() or future.exception() is not None:
            return _NOT_READY
        if asyncio.get_running_loop().time() - at >= self.options.render_ttl:
            return _NOT_READY
        self._messages.move_to_end(key)
        return future.result()

    async def _message(
        self, kind: str, ref: str, lang: str, matched: str | None = None, revision: int = 1
    ) -> _Prepared | None:
        """The message for (kind, ref, lang, matched), rendered once per article version, for every sender."""
        key = (kind, ref, lang, matched, revision)
        loop = asyncio.get_running_loop()
        cached = self._messages.get(key)
        future = (
            cached[1] if cached is not None and loop.time() - cached[0] < self.options.render_ttl else None
        )
        if future is None:
            future = loop.create_future()
            self._messages[key] = (loop.time(), future)
            while len(self._messages) > 1024:
                self._messages.popitem(last=False)
            render = self._renderers[kind]
            try:
                rendered = await (
                    render(ref, lang) if matched is None else render(ref, lang, matched=matched)
                )
                future.set_result(self._prepare(rendered))
            except Exception as error:
                self._messages.pop(key, None)
                future.set_exception(error)
                future.exception()  # retrieved here; waiters re-raise it
        else:
            self._messages.move_to_end(key)
            if future.done():
                return future.result()
        return await asyncio.shield(future)

    def _prepare(self, message: RenderedMessage | None) -> _Prepared | None:
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
        rest = json.dumps(parameters, ensure_ascii=False, separators=(",", ":")).encode()
        prepared = _Prepared(b'{"chat_id":', b"," + rest[1:])
        if message.photo is not None:
            prepared.photo, prepared.photo_parameters = message.photo, self._photo_parameters(message)
        return prepared

    def _photo_parameters(self, message: RenderedMessage) -> dict[str, Any]:
        """sendPhoto's parameters but the chat and the picture: the caption and the same buttons."""
        assert message.photo is not None
        parameters: dict[str, Any] = {"caption": message.photo.caption, "parse_mode": "HTML"}
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


def article_renderer(store: Store, renderer: Renderer) -> BroadcastRenderer:
    """Broadcast kind "article": ref is the article id; a deleted article renders to None.

    Besides Read and Share, a pushed article has "🔕 <section>" (callback "mute:<section id>"); one that a
    followed phrase brought says so.
    """

    async def render(ref: str, lang: str, matched: str | None = None) -> RenderedMessage | None:
        ref = ref.split(":", 1)[0]  # an edit's ref is "<article>:<version>"
        article = await store.articles.get(int(ref)) if ref.isdigit() else None
        if article is None or article.withdrawn:
            return None
        route = await store.routing.article_route(article.id)
        return pushed_article(renderer, lang, article, route, matched=matched)

    return render


def withdrawal_renderer(store: Store, renderer: Renderer) -> BroadcastRenderer:
    """Broadcast kind "withdraw": ref is the article id; the notice that replaces a copy too old to delete."""

    async def render(ref: str, lang: str, matched: str | None = None) -> RenderedMessage | None:
        article = await store.articles.get(int(ref)) if ref.isdigit() else None
        if article is None:
            return None
        return RenderedMessage(renderer.message(lang, "article_withdrawn_notice", article=article))

    return render


def _message_id(result: Any) -> int | None:
    """The message id in a send's answer (None if Telegram's answer had none)."""
    if isinstance(result, dict) and isinstance(result.get("message_id"), int):
        return result["message_id"]
    return None


def _as_caption(tail: bytes) -> bytes:
    """A prepared text message's JSON tail as a caption edit (captions have no link preview)."""
    parameters = json.loads(b"{" + tail[1:])
    parameters["caption"] = parameters.pop("text", "")
    parameters.pop("link_preview_options", None)
    return b"," + json.dumps(parameters, ensure_ascii=False, separators=(",", ":")).encode()[1:]


def _language(delivery: DueDelivery) -> str:
    return language_for(delivery.language, delivery.language_code)


def _duration(seconds: float) -> str:
    if seconds == float("inf"):
        return "unknown time"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
