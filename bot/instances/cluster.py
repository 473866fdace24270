"""Several instances on one PostgreSQL database and one token: one sender, one shared budget.

**One sender.** The "sender" lease (storage/postgres/lease.py) decides which instance sends broadcasts and
runs the scheduled jobs; a dead holder is replaced within TTL + RETRY_EVERY (7 s).

**One budget.** Telegram allows a bot `total` messages per second (30; paid broadcasts have their own 1,000
and only the sender sends them), whatever instance sends them. Each instance's limiter (bot/delivery/
ratelimit.py) gets a share, and the shares never add up to more than `total`:

- Every instance renews a row in `instances` every BEAT_EVERY (1 s); a row not renewed for TTL (6 s, the
  database server's clock) is a dead instance.
- The sender grants the other live instances a fixed reply allowance (`allowance`, 5/s of 30) each, oldest
  first, as long as it keeps at least half the budget (30/s: 3 others, so 4 instances in all; an instance
  beyond that gets no allowance until one leaves, and says so). It never takes back a grant from a live
  instance; its own limit is `total - allowance x (live instances holding a grant)`.
- Ordering makes the sum safe: the sender lowers its own limit *before* it writes a new grant, and an
  instance starts using a grant ACTIVATE_AFTER (1.1 s, one window and its margin) after it first reads it,
  so the sends the sender made under its higher limit have left every window by then. A new sender also
  waits ACTIVATE_AFTER after taking the lease before it uses the sender's limit (the old one stopped
  MARGIN before the lease could change hands; the first term ever has no old one), and until its first
  allocation, right after taking the lease, counts every possible grant out.
- Giving back is the lease's rule: an instance believes its grant (and the sender its lease) until TTL -
  MARGIN after it *sent* its last successful heartbeat, on its own clock, then holds every send (limit 0)
  until a heartbeat works again; the sender counts a row out only once the server says its TTL has
  passed. A row that ran out loses its grant in the database too, so an instance cut off and back starts
  from nothing, as the newest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from bot.delivery.ratelimit import TelegramRateLimiter
from bot.instances import InstancesView
from storage.database import StorageError
from storage.postgres.database import PgDatabase
from storage.postgres.instances import Instances
from storage.postgres.lease import MARGIN, RENEW_EVERY, RETRY_EVERY, TTL, Lease, instance_id

log = logging.getLogger(__name__)

SENDER_LEASE = "sender"
BEAT_EVERY = 1.0  # seconds between heartbeats (and, on the sender, grants)
ACTIVATE_AFTER = 1.1  # seconds: one global window (1 s + send margin) and a little more
FORGET_AFTER = 3600.0  # seconds after which a dead instance's row is deleted


def reply_allowance(total: int) -> int:
    """The global sends per second a non-sending instance may use for replies: a sixth (30/s: 5)."""
    return max(1, total // 6)


class Cluster:
    """This instance among the others on one database: the sender lease, the heartbeat, the budget share."""

    def __init__(
        self,
        db: PgDatabase,
        limiter: TelegramRateLimiter,
        total: int,
        *,
        allowance: int | None = None,
        instance: str | None = None,
        ttl: float = TTL,
        margin: float = MARGIN,
        beat_every: float = BEAT_EVERY,
        renew_every: float = RENEW_EVERY,
        retry_every: float = RETRY_EVERY,
        activate_after: float = ACTIVATE_AFTER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.id = instance or instance_id()
        self._db = db
        self.lease = Lease(db, SENDER_LEASE, self.id, ttl=ttl, margin=margin)
        self.instances = Instances(db)
        self.limiter = limiter
        self.total = total
        self.allowance = min(allowance if allowance is not None else reply_allowance(total), total // 2)
        self.most_others = max(0, (total - total // 2) // max(1, self.allowance))
        self.ttl, self.margin = ttl, margin
        self._beat_every, self._renew_every, self._retry_every = beat_every, renew_every, retry_every
        self._activate_after = activate_after
        self._clock = clock
        self._granted = 0  # the allowance the sender granted this instance (as a non-sender)
        self._grant_from = float("inf")  # when this instance may start using it (its own clock)
        self._grant_until = float("-inf")  # until when it may (its last heartbeat + TTL - MARGIN)
        self._term: int | None = None  # the lease term this instance last saw itself hold
        self._sender_from = float("inf")  # when this term's sender limit applies
        self._sender_limit = total - self.allowance * self.most_others  # until its first allocation
        self._refused = False  # an instance beyond the most that can have an allowance (logged once)
        self._tasks: list[asyncio.Task[None]] = []
        self._timer: asyncio.TimerHandle | None = None

    # ------------------------------------------------------------------ Role

    @property
    def sender(self) -> bool:
        """This instance holds the sender lease now (checked against its own clock on every call)."""
        return self.lease.held

    @property
    def term(self) -> int | None:
        """The lease term while this instance holds it."""
        return self.lease.epoch if self.lease.held else None

    async def wait_sender(self) -> None:
        """Return once this instance holds the sender lease."""
        while not self.lease.held:
            await self.lease.acquired.wait()
            if not self.lease.held:
                await asyncio.sleep(min(self._retry_every, 0.1))

    async def start(self) -> None:
        """Hold nothing until the first heartbeat; then keep the lease and the heartbeat going."""
        self.limiter.set_overall_limit(0)
        self._tasks = [
            asyncio.create_task(
                self.lease.keep(renew_every=self._renew_every, retry_every=self._retry_every),
                name="sender-lease",
            ),
            asyncio.create_task(self._beat(), name="instance-heartbeat"),
        ]

    async def stop(self) -> None:
        """Release the lease (another instance takes over at its next try) and stop the heartbeat."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def overview(self) -> InstancesView:
        """How many instances are alive, which one sends, and this one's share of the budget."""
        live = await self.instances.live(self.ttl)
        return InstancesView(len(live), self.id, await self._holder(), self.limiter.overall_limit, self.total)

    async def _holder(self) -> str | None:
        state = await Lease.current(self._db, SENDER_LEASE)
        return state.holder if state is not None and state.running else None

    # ------------------------------------------------------------------ budget

    @property
    def limit(self) -> int:
        """The global sends per window this instance may make now (0: none)."""
        now = self._clock()
        if self.lease.held:
            if self.lease.epoch != self._term:
                self._term = self.lease.epoch
                # The first term ever has no predecessor whose sends could still be in the window.
                self._sender_from = now if self._term == 1 else now + self._activate_after
                self._sender_limit = self.total - self.allowance * self.most_others
                log.info("instance %s sends broadcasts and runs the jobs (term %s)", self.id, self._term)
            if now >= self._sender_from:
                return self._sender_limit
        if self._granted and self._grant_from <= now < self._grant_until:
            return self._granted
        return 0

    async def _beat(self) -> None:
        failing = False
        while True:
            sent = self._clock()
            try:
                async with asyncio.timeout(max(self._beat_every, 1.0)):
                    granted = await self.instances.beat(self.id, self.ttl)
                    if self.lease.held:
                        await self._allocate()
                failing = False
                self._believe(granted, sent)
            except (StorageError, TimeoutError) as error:
                if not failing:
                    log.warning("instance %s: heartbeat failed: %s", self.id, error)
                failing = True
            self._apply()
            await self._pause()

    async def _pause(self) -> None:
        """Until the next heartbeat, or until this instance takes the lease: then it allocates at once."""
        if self.lease.held or self.lease.acquired.is_set():
            await asyncio.sleep(self._beat_every)
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._beat_every):
                await self.lease.acquired.wait()

    def _believe(self, granted: int, sent: float) -> None:
        now = self._clock()
        valid = self._granted and self._grant_until > now
        if granted and (not valid or granted != self._granted):
            self._grant_from = now + self._activate_after  # the sender's own window empties meanwhile
        self._granted = granted
        self._grant_until = sent + self.ttl - self.margin

    async def _allocate(self) -> None:
        """As the sender: keep every live grant, grant newcomers what is left, lower its own limit first."""
        others = [row for row in await self.instances.live(self.ttl) if row.id != self.id]
        holding = [row.id for row in others if row.allowance > 0]
        waiting = [row.id for row in others if row.allowance == 0]
        newcomers = waiting[: max(0, self.most_others - len(holding))]
        if len(waiting) > len(newcomers) and not self._refused:
            log.warning(
                "%d instances get no reply allowance: at most %d besides the sender share %d msg/s",
                len(waiting) - len(newcomers), self.most_others, self.total,
            )  # fmt: skip
        self._refused = len(waiting) > len(newcomers)
        granted = holding + newcomers
        self._sender_limit = max(1, self.total - self.allowance * len(granted))
        self._apply()  # lower before granting: the newcomers start ACTIVATE_AFTER after reading it
        if newcomers:
            await self.instances.grant(self.id, granted, self.allowance, self.ttl)
        await self.instances.forget(FORGET_AFTER)

    def _apply(self) -> None:
        """Set the limiter to this instance's share, and look again when that share may change."""
        limit = self.limit
        if limit != self.limiter.overall_limit:
            log.debug("instance %s: global limit %d/s", self.id, limit)
            self.limiter.set_overall_limit(limit)
        now = self._clock()
        moments = [
            at
            for at in (self.lease.deadline, self._sender_from, self._grant_from, self._grant_until)
            if at > now
        ]
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if moments:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(min(moments) - now + 0.001, self._apply)
