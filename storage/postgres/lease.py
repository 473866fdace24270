"""One holder at a time across instances: a lease row with a term (epoch), renewed before it expires.

Issue 14: exactly one instance sends broadcasts at a time; if it dies, another takes over within 10 s.

Why a lease row and not a session advisory lock: an advisory lock is freed when the server notices its
session is gone, which for a machine that vanished (power, network) is TCP keepalive time, two hours by
default, unless every holder tunes keepalives; and a holder cut off from the server cannot tell when the
others may take over. A lease bounds both sides by the same numbers, whatever failed:

- **Taking it.** One statement inserts the row, renews it (same holder, term still running), or takes it
  over once `expires_at` has passed on the database server's clock; anything else changes nothing. The
  term (`epoch`) grows with every new holder, so work done under an old term can be refused (fencing).
- **Holding it.** The holder believes it holds the lease until `TTL - MARGIN` after it *sent* its last
  successful renewal, on its own monotonic clock: that is before the server lets anyone else take it, so
  two instances never both believe they hold it (clocks may differ in rate by far less than MARGIN/TTL).
  Whoever acts on the lease checks `held` before each piece of work (a batch of sends).
- **Taking over.** `keep()` renews every `RENEW_EVERY` and, while another holds the lease, tries every
  `RETRY_EVERY`. An instance that dies renewed at most RENEW_EVERY before; its term ends TTL after that
  renewal, and another instance's next try takes it: at most TTL + RETRY_EVERY (plus one statement's
  latency) after the death, 7 s with the defaults, inside the 10 s of issue 14. A holder that stops
  cleanly releases the lease and another takes it at its next try.

Times are unix seconds; tests inject one clock for both the server's time and the holder's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from storage.database import StorageError
from storage.postgres.database import PgDatabase, PgTransaction

log = logging.getLogger(__name__)

TTL = 6.0  # seconds a term lasts after its last renewal
MARGIN = 1.0  # the holder stops believing this much before the server lets another take over
RENEW_EVERY = 2.0  # the holder renews this often: two renewals may fail before the term is at risk
RETRY_EVERY = 1.0  # an instance without the lease tries this often

# The database server's clock, unless the caller passes the time ($3, tests).
_NOW = "coalesce($3::double precision, extract(epoch FROM clock_timestamp())::double precision)"
_TAKE = f"""
WITH now AS (SELECT {_NOW} AS t)
INSERT INTO leases AS l (name, holder, epoch, acquired_at, expires_at)
SELECT $1, $2, 1, now.t, now.t + $4 FROM now
ON CONFLICT (name) DO UPDATE SET
    holder = EXCLUDED.holder,
    epoch = CASE WHEN l.holder = EXCLUDED.holder AND l.expires_at > EXCLUDED.acquired_at
                 THEN l.epoch ELSE l.epoch + 1 END,
    acquired_at = CASE WHEN l.holder = EXCLUDED.holder AND l.expires_at > EXCLUDED.acquired_at
                       THEN l.acquired_at ELSE EXCLUDED.acquired_at END,
    expires_at = EXCLUDED.expires_at
WHERE l.holder = EXCLUDED.holder OR l.expires_at <= EXCLUDED.acquired_at
RETURNING epoch
"""
_RELEASE = "UPDATE leases SET expires_at = 0 WHERE name = $1 AND holder = $2 AND epoch = $3"
_CURRENT = f"""
SELECT holder, epoch, expires_at, expires_at > {_NOW.replace("$3", "$2")} AS running
FROM leases WHERE name = $1
"""


@dataclass(frozen=True)
class LeaseState:
    """Who holds a lease, in which term, until when (unix time), and whether that term is still running."""

    holder: str
    epoch: int
    expires_at: float
    running: bool


def instance_id() -> str:
    """This process among all instances: host, pid, and a random part (a pid is reused after a restart)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class Lease:
    """One named lease as seen by one holder; see the module doc."""

    def __init__(
        self,
        db: PgDatabase,
        name: str,
        holder: str | None = None,
        *,
        ttl: float = TTL,
        margin: float = MARGIN,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if not 0 < margin < ttl:
            raise ValueError("the margin must be positive and shorter than the term")
        self._db = db
        self.name = name
        self.holder = holder or instance_id()
        self.ttl = ttl
        self.margin = margin
        self._clock = clock  # None: the server's clock in SQL, time.monotonic for the holder's own belief
        self._deadline = float("-inf")
        self.epoch: int | None = None
        self.acquired = asyncio.Event()  # set on taking the lease, cleared when `keep` sees it lost

    def _now(self) -> float:
        return self._clock() if self._clock is not None else time.monotonic()

    @property
    def deadline(self) -> float:
        """Until when, on this holder's clock, it may act on the lease (-inf when it does not hold it)."""
        return self._deadline

    @property
    def held(self) -> bool:
        """Whether this holder may act now: its last renewal is recent enough (checked on every call)."""
        return self._now() < self._deadline

    async def try_acquire(self) -> bool:
        """Take the lease, renew it, or learn that another holds it; True when this holder holds it now."""
        sent = self._now()
        server_now = self._clock() if self._clock is not None else None
        row = await self._db.write_fetchone(_TAKE, (self.name, self.holder, server_now, self.ttl))
        if row is None:
            if self.epoch is not None:
                log.warning("lease %s lost by %s: another instance holds it", self.name, self.holder)
                self.epoch = None
            self._lose()
            return False
        epoch = row["epoch"]
        if epoch != self.epoch:
            log.info("lease %s taken by %s (term %d)", self.name, self.holder, epoch)
        self.epoch = epoch
        self._deadline = sent + self.ttl - self.margin
        self.acquired.set()
        return self.held

    async def release(self) -> None:
        """Give the lease up now, so another instance takes it at its next try instead of after the term."""
        epoch, self.epoch = self.epoch, None
        self._lose()
        if epoch is not None:
            await self._db.execute(_RELEASE, (self.name, self.holder, epoch))

    async def verify(self, tx: PgTransaction) -> bool:
        """Inside a transaction: the lease is still this holder's, in this term (fencing for its writes)."""
        if self.epoch is None or not self.held:
            return False
        server_now = self._clock() if self._clock is not None else None
        row = await tx.fetchone(
            f"SELECT 1 FROM leases WHERE name = $1 AND holder = $2 AND epoch = $4 AND expires_at > {_NOW}",
            (self.name, self.holder, server_now, self.epoch),
        )
        return row is not None

    async def keep(
        self,
        *,
        renew_every: float = RENEW_EVERY,
        retry_every: float = RETRY_EVERY,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """Hold the lease while this task runs: renew it or try to take it over; release it when cancelled."""
        failing = False
        try:
            while True:
                try:
                    # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that arrives as
                    # the statement completes, and the loop would never stop.
                    async with asyncio.timeout(max(renew_every, retry_every)):
                        await self.try_acquire()
                    failing = False
                except (StorageError, TimeoutError) as error:
                    if not failing:  # one line per outage, not one per try
                        log.warning("lease %s: cannot reach the database: %s", self.name, error)
                    failing = True
                if not self.held:
                    self.acquired.clear()
                await sleep(renew_every if self.held else retry_every)
        finally:
            if self.epoch is not None:
                with contextlib.suppress(StorageError, TimeoutError, OSError):
                    async with asyncio.timeout(retry_every):
                        await self.release()

    def _lose(self) -> None:
        self._deadline = float("-inf")
        self.acquired.clear()

    @staticmethod
    async def current(db: PgDatabase, name: str, *, now: float | None = None) -> LeaseState | None:
        """Who holds `name` now, for operators (/stats) and tests; None if nobody ever took it."""
        row = await db.fetchone(_CURRENT, (name, now))
        if row is None:
            return None
        return LeaseState(row["holder"], row["epoch"], row["expires_at"], row["running"])
