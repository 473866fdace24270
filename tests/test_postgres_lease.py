"""The single-sender lease on a real PostgreSQL server: one holder at a time, and a takeover within 10 s.

Time: most tests inject one clock into every holder (the server's time in the lease's SQL and each holder's
own), so "within 10 s" is checked on that clock, never on the wall clock. One test runs on real time with
short terms and asserts only order and state.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import AsyncIterator, Callable

import pytest

from storage.database import StorageUnavailable
from storage.postgres import Lease, PgDatabase
from storage.postgres.lease import RENEW_EVERY, RETRY_EVERY, TTL

START = 1_800_000_000.0  # unix seconds; any positive instant works
TAKEOVER_BOUND = 10.0  # issue 14: if the sender dies, another takes over within 10 s
WAIT = 30.0  # bounds a hang only


class Clock:
    """A clock a test moves by hand."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class SteppedClock(Clock):
    """Virtual time for loops that also do real I/O: it moves only once every loop waits in `sleep`.

    A loop's database round trip takes real time while virtual time stands still; when all `loops` are
    parked in `sleep`, `step` jumps to the earliest wake-up and wakes that loop alone.
    """

    def __init__(self, now: float = START) -> None:
        super().__init__(now)
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._count = 0

    async def sleep(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        self._count += 1
        heapq.heappush(self._timers, (self.now + seconds, self._count, future))
        await future

    def _parked(self) -> int:
        return sum(1 for _, _, future in self._timers if not future.done())

    async def step(self, loops: int) -> None:
        async with asyncio.timeout(WAIT):
            while self._parked() < loops:
                await asyncio.sleep(0.001)
        while True:
            at, _, future = heapq.heappop(self._timers)
            if not future.done():  # a cancelled loop's timer is skipped
                break
        self.now = at
        future.set_result(None)

    async def run_until(self, done: Callable[[], bool], loops: int, *, limit: float) -> None:
        """Step until `done()`; fail if virtual time passes `limit` first."""
        while not done():
            assert self.now <= limit, "virtual time ran past the limit"
            await self.step(loops)


@pytest.fixture
async def two_instances(pg_url: str) -> AsyncIterator[tuple[PgDatabase, PgDatabase]]:
    """Two instances' own pools on one database, as two newsbot processes would have."""
    first = await PgDatabase.open(pg_url)
    second = await PgDatabase.open(pg_url)
    try:
        yield first, second
    finally:
        await asyncio.gather(first.close(), second.close())


async def test_one_holder_at_a_time_and_a_takeover_when_the_term_ends(
    two_instances: tuple[PgDatabase, PgDatabase],
) -> None:
    db_a, db_b = two_instances
    clock = Clock()
    a = Lease(db_a, "sender", "instance-a", clock=clock)
    b = Lease(db_b, "sender", "instance-b", clock=clock)

    assert await a.try_acquire() and a.held and a.epoch == 1
    assert not await b.try_acquire() and not b.held
    clock.now += RENEW_EVERY
    assert await a.try_acquire() and a.epoch == 1  # a renewal: the same term
    clock.now += TTL - 0.001
    assert not await b.try_acquire()  # the renewed term still runs

    # A dies: its connections are dropped as a killed process's are, and it never renews again.
    db_a.terminate()
    died = clock.now
    with pytest.raises(StorageUnavailable):
        await a.try_acquire()
    clock.now += 0.001  # the term renewed at START + RENEW_EVERY ends now
    assert await b.try_acquire() and b.held and b.epoch == 2
    assert clock.now - died <= TAKEOVER_BOUND
    assert not a.held  # A stopped believing before B began
    state = await Lease.current(db_b, "sender", now=clock.now)
    assert state is not None and (state.holder, state.epoch, state.running) == ("instance-b", 2, True)


async def test_exactly_one_of_many_racing_instances_wins(pg_url: str) -> None:
    databases = [await PgDatabase.open(pg_url, writers=2, readers=1) for _ in range(5)]
    try:
        clock = Clock()
        leases = [Lease(db, "sender", f"instance-{n}", clock=clock) for n, db in enumerate(databases)]
        for _ in range(3):  # at the start, and twice more when the term has run out
            won = await asyncio.gather(*(lease.try_acquire() for lease in leases))
            assert won.count(True) == 1
            clock.now += TTL
    finally:
        await asyncio.gather(*(db.close() for db in databases))


async def test_the_sender_dies_and_another_takes_over_within_ten_seconds(
    two_instances: tuple[PgDatabase, PgDatabase],
) -> None:
    """Both instances run `keep()` with the default timing on one virtual clock; A is killed mid-term."""
    db_a, db_b = two_instances
    clock = SteppedClock()
    a = Lease(db_a, "sender", "instance-a", clock=clock)
    b = Lease(db_b, "sender", "instance-b", clock=clock)
    keep_a = asyncio.create_task(a.keep(sleep=clock.sleep))
    async with asyncio.timeout(WAIT):
        await a.acquired.wait()
    keep_b = asyncio.create_task(b.keep(sleep=clock.sleep))
    try:
        # Run both for a while: A renews, B keeps trying, nobody else ever holds it.
        await clock.run_until(lambda: clock.now >= START + 3 * TTL + 0.5, loops=2, limit=START + 60)
        assert a.held and not b.held and a.epoch == 1

        db_a.terminate()  # killed: no release, no renewals
        keep_a.cancel()
        died = clock.now
        await clock.run_until(lambda: b.held, loops=1, limit=died + 60)
        took_over = clock.now
        assert took_over - died <= TAKEOVER_BOUND
        assert took_over - died <= TTL + RETRY_EVERY  # the bound the module doc derives
        assert not a.held and b.epoch == 2
    finally:
        keep_a.cancel()
        keep_b.cancel()
        await asyncio.gather(keep_a, keep_b, return_exceptions=True)


async def test_a_holder_cut_off_from_the_database_stops_before_another_starts(
    two_instances: tuple[PgDatabase, PgDatabase],
) -> None:
    """A keeps running but cannot reach the server: its belief ends before B's term begins."""
    db_a, db_b = two_instances
    clock = SteppedClock()
    a = Lease(db_a, "sender", "instance-a", clock=clock)
    b = Lease(db_b, "sender", "instance-b", clock=clock)
    keep_a = asyncio.create_task(a.keep(sleep=clock.sleep))
    async with asyncio.timeout(WAIT):
        await a.acquired.wait()
    keep_b = asyncio.create_task(b.keep(sleep=clock.sleep))
    try:
        await clock.run_until(lambda: clock.now >= START + 5, loops=2, limit=START + 60)
        db_a.terminate()  # every renewal fails from now on; A's loop goes on
        cut = clock.now
        lapsed_at: list[float] = []

        def b_holds() -> bool:
            if not a.held and not lapsed_at:
                lapsed_at.append(clock.now)
            return b.held

        await clock.run_until(b_holds, loops=2, limit=cut + 60)
        assert lapsed_at and lapsed_at[0] <= clock.now  # A let go no later than B took it
        assert clock.now - cut <= TAKEOVER_BOUND
        assert not a.held and not a.acquired.is_set() and b.epoch == 2
    finally:
        keep_a.cancel()
        keep_b.cancel()
        await asyncio.gather(keep_a, keep_b, return_exceptions=True)


async def test_a_clean_stop_hands_over_at_the_next_try(two_instances: tuple[PgDatabase, PgDatabase]) -> None:
    db_a, db_b = two_instances
    clock = Clock()
    a = Lease(db_a, "sender", "instance-a", clock=clock)
    b = Lease(db_b, "sender", "instance-b", clock=clock)
    assert await a.try_acquire()
    await a.release()
    assert not a.held
    assert await b.try_acquire() and b.epoch == 2  # at the same instant: no term to wait out


async def test_stopping_keep_releases_the_lease(two_instances: tuple[PgDatabase, PgDatabase]) -> None:
    db_a, db_b = two_instances
    clock = Clock()
    a = Lease(db_a, "sender", "instance-a", clock=clock)
    keep_a = asyncio.create_task(a.keep())
    async with asyncio.timeout(WAIT):
        await a.acquired.wait()
    keep_a.cancel()
    await asyncio.gather(keep_a, return_exceptions=True)
    assert await Lease(db_b, "sender", "instance-b", clock=clock).try_acquire()


async def test_fencing_refuses_work_under_an_old_term(two_instances: tuple[PgDatabase, PgDatabase]) -> None:
    """A paused process wakes up still believing its term runs: the database says otherwise."""
    db_a, db_b = two_instances
    paused = Clock()  # A's clock stood still while the process was frozen
    real = Clock()
    a = Lease(db_a, "sender", "instance-a", clock=paused)
    b = Lease(db_b, "sender", "instance-b", clock=real)
    assert await a.try_acquire()
    async with db_a.transaction() as tx:
        assert await a.verify(tx)
    real.now += TTL + 1
    assert await b.try_acquire() and b.epoch == 2
    assert a.held  # by its own stale clock
    async with db_a.transaction() as tx:
        assert not await a.verify(tx)
    async with db_b.transaction() as tx:
        assert await b.verify(tx)
    assert not await a.try_acquire()  # its next renewal learns the truth
    assert not a.held and a.epoch is None


async def test_real_time_takeover_on_the_servers_clock(two_instances: tuple[PgDatabase, PgDatabase]) -> None:
    """No injected clock: the server's clock_timestamp() and monotonic time, with a 1 s term."""
    db_a, db_b = two_instances
    a = Lease(db_a, "sender", "instance-a", ttl=1.0, margin=0.3)
    b = Lease(db_b, "sender", "instance-b", ttl=1.0, margin=0.3)
    keep_a = asyncio.create_task(a.keep(renew_every=0.2, retry_every=0.1))
    async with asyncio.timeout(WAIT):
        await a.acquired.wait()
    keep_b = asyncio.create_task(b.keep(renew_every=0.2, retry_every=0.1))
    try:
        await asyncio.sleep(0.3)
        assert a.held and not b.held
        db_a.terminate()
        keep_a.cancel()
        async with asyncio.timeout(WAIT):
            await b.acquired.wait()
        assert not a.held and b.held and b.epoch == 2
        state = await Lease.current(db_b, "sender")
        assert state is not None and state.holder == "instance-b" and state.running
    finally:
        keep_a.cancel()
        keep_b.cancel()
        await asyncio.gather(keep_a, keep_b, return_exceptions=True)


def test_a_term_needs_room_for_its_margin() -> None:
    with pytest.raises(ValueError, match="margin"):
        Lease(None, "sender", ttl=1.0, margin=1.0)  # type: ignore[arg-type]
