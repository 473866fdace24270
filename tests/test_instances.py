"""Several instances on one PostgreSQL database: one sender at a time, jobs once, one shared 30 msg/s budget.

Real server, real time, the production numbers (a 6 s term, 1 s heartbeats, 30 msg/s). Nothing asserts how
long anything took: the budget test counts sends per second on the limiters' own clock, and waits only
bound a hang. The lease's takeover bound (7 s) is proven on virtual time in tests/test_postgres_lease.py.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

from bot.app import rate_limiter
from bot.delivery.ratelimit import TelegramRateLimiter
from bot.instances import Solo, role_for, sender_only
from bot.instances.cluster import Cluster, reply_allowance
from bot.settings import Settings
from storage.postgres import PgDatabase
from tests.conftest import running
from tests.test_delivery import add_subscribers, engine_of, publish_article, settle

TOTAL = 30
WAIT = 60.0  # bounds a hang only
_chats = itertools.count(10_000)


@dataclass
class Instance:
    """One newsbot process as far as the budget goes: its pools, its limiter, its cluster role, its sends."""

    name: str
    db: PgDatabase
    limiter: TelegramRateLimiter
    cluster: Cluster
    sends: list[tuple[float, str]]
    load: list[asyncio.Task[None]] = field(default_factory=list)

    async def send_flat_out(self, *, reader: bool, workers: int = 40) -> None:
        """As many sends as the limiter lets through: broadcasts (the sender) or replies (readers)."""

        async def worker() -> None:
            while True:
                await self.limiter.acquire(next(_chats), reader=reader)
                self.sends.append((time.monotonic(), self.name))

        self.load = [asyncio.create_task(worker()) for _ in range(workers)]

    async def die(self) -> None:
        """kill -9: no more sends, no heartbeat, no clean release of the lease."""
        for task in self.load:
            task.cancel()
        self.db.terminate()
        await self.cluster.stop()


async def until(condition, what: str) -> None:
    async with asyncio.timeout(WAIT):
        while not condition():
            await asyncio.sleep(0.05)
    assert condition(), what


@pytest.fixture
async def cluster_of(pg_url: str) -> AsyncIterator:
    started: list[Instance] = []
    sends: list[tuple[float, str]] = []

    async def start(name: str, **options: float) -> Instance:
        db = await PgDatabase.open(pg_url, writers=2, readers=2)
        limiter = rate_limiter(Settings(token="1:x", broadcast_rate=TOTAL))
        instance = Instance(name, db, limiter, Cluster(db, limiter, TOTAL, instance=name, **options), sends)
        await instance.cluster.start()
        started.append(instance)
        return instance

    start.sends = sends  # type: ignore[attr-defined]
    yield start
    for instance in started:
        for task in instance.load:
            task.cancel()
        await instance.cluster.stop()
        await instance.db.close()


def most_in_one_second(times: list[float], period: float = 1.0) -> int:
    """The largest number of sends in any window of one second (or `period`)."""
    times = sorted(times)
    most, start = 0, 0
    for end, at in enumerate(times):
        while times[start] <= at - period:
            start += 1
        most = max(most, end - start + 1)
    return most


async def test_the_sum_of_all_instances_sends_never_exceeds_30_a_second(cluster_of) -> None:
    """A sends broadcasts flat out, B answers readers flat out; B joins, then A is killed and B takes over."""
    a = await cluster_of("a")
    await until(
        lambda: a.cluster.sender and a.limiter.overall_limit == TOTAL, "A alone uses the whole budget"
    )
    await a.send_flat_out(reader=False)
    await asyncio.sleep(1.5)

    # B reads its grant within 50 ms of A writing it, when A's window is still full of its sends at 30/s.
    b = await cluster_of("b", beat_every=0.05)
    await b.send_flat_out(reader=True)
    allowance = reply_allowance(TOTAL)
    await until(lambda: b.limiter.overall_limit == allowance, "B gets its reply allowance")
    assert a.limiter.overall_limit == TOTAL - allowance and not b.cluster.sender
    await asyncio.sleep(2.0)
    b_before = sum(1 for _, name in cluster_of.sends if name == "b")

    killed_at = time.monotonic()
    await a.die()
    await until(
        lambda: b.cluster.sender and b.limiter.overall_limit == TOTAL, "B takes over the whole budget"
    )
    took_over = time.monotonic()
    for task in b.load:
        task.cancel()
    await b.send_flat_out(reader=False)  # now B broadcasts too
    await asyncio.sleep(2.0)

    times = [at for at, _ in cluster_of.sends]
    # Each limiter keeps its share per second plus the send margin (bot/app.py), and so does the sum.
    assert most_in_one_second(times, 1.0 + Settings().send_margin) <= TOTAL
    a_alone = [at for at, name in cluster_of.sends if name == "a"]
    # The budget is used, not just respected: more than the sender's share beside another instance (a busy
    # machine may leave a few slots of a second unused).
    assert most_in_one_second(a_alone) > TOTAL - reply_allowance(TOTAL)
    assert b_before > 0  # readers on B were answered while A broadcast
    b_gap = [at for at, name in cluster_of.sends if name == "b" and killed_at <= at <= took_over]
    assert b_gap, "B kept answering readers while nobody held the lease"
    b_after = [at for at, name in cluster_of.sends if name == "b" and at > took_over]
    assert most_in_one_second(b_after) > TOTAL - reply_allowance(TOTAL)  # the whole budget again


async def test_a_dead_non_sender_gives_its_allowance_back(cluster_of) -> None:
    a = await cluster_of("a")
    await until(lambda: a.cluster.sender, "A is the sender")
    b = await cluster_of("b")
    await until(lambda: b.limiter.overall_limit == reply_allowance(TOTAL), "B gets its allowance")
    await b.die()
    await until(lambda: a.limiter.overall_limit == TOTAL, "A gets the whole budget back")
    assert a.cluster.sender


async def test_one_sender_and_jobs_run_on_it_alone(cluster_of) -> None:
    instances = [await cluster_of(name) for name in ("a", "b", "c")]
    await until(lambda: sum(i.cluster.sender for i in instances) == 1, "one sender")
    await until(lambda: sum(i.limiter.overall_limit for i in instances) == TOTAL, "the budget is shared out")
    runs: list[str] = []

    for instance in instances:

        async def job(context, name=instance.name) -> None:
            runs.append(name)

        await sender_only(job)(SimpleNamespace(services=SimpleNamespace(role=instance.cluster)))
    sender = next(i for i in instances if i.cluster.sender)
    assert runs == [sender.name]

    await sender.die()
    rest = [i for i in instances if i is not sender]
    await until(lambda: sum(i.cluster.sender for i in rest) == 1, "another sender")
    await until(lambda: sum(i.limiter.overall_limit for i in rest) == TOTAL, "the budget shared again")
    assert sorted(i.limiter.overall_limit for i in rest) == [
        reply_allowance(TOTAL),
        TOTAL - reply_allowance(TOTAL),
    ]


async def test_a_clean_stop_hands_the_lease_over_at_the_next_try(cluster_of) -> None:
    a = await cluster_of("a")
    await until(lambda: a.cluster.sender, "A is the sender")
    b = await cluster_of("b")
    await until(lambda: b.limiter.overall_limit > 0, "B takes part")
    await a.cluster.stop()  # a clean stop releases the lease
    await until(lambda: b.cluster.sender, "B takes over")
    assert a.cluster.lease.epoch is None


async def test_sqlite_has_one_instance_and_it_is_always_the_sender(tmp_path) -> None:
    limiter = rate_limiter(Settings(token="1:x"))
    role = role_for(object(), limiter, TOTAL)
    assert isinstance(role, Solo) and role.sender and role.term == 1
    await role.start()
    await role.wait_sender()
    assert limiter.overall_limit == TOTAL


class Switch:
    """A role a test hands to the engine and takes back, as the lease would."""

    def __init__(self) -> None:
        self.sender = False
        self.term: int | None = None
        self._held = asyncio.Event()

    def take(self, term: int) -> None:
        self.sender, self.term = True, term
        self._held.set()

    def lose(self) -> None:
        self.sender, self.term = False, None
        self._held.clear()

    async def wait_sender(self) -> None:
        await self._held.wait()

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@pytest.fixture
async def alone(settings: Settings, telegram) -> AsyncIterator:
    """A SQLite bot with Telegram's real per-chat pace (as tests/test_delivery.py's `strict`)."""
    telegram.limits.per_chat_per_second = 1
    async with running(settings, private_chat_interval=1.0, send_margin=0.05) as application:
        yield application


async def test_the_engine_sends_only_while_its_instance_is_the_sender(alone, telegram) -> None:
    strict = alone
    engine = engine_of(strict)
    await engine.stop()
    role = Switch()
    engine.role = role
    await engine.start()
    store = strict.bot_data.store
    readers = list(range(20_001, 20_061))
    await add_subscribers(store, readers)
    await publish_article(store)
    await asyncio.sleep(1.5)  # several outbox polls: not the sender, so nothing is queued or sent
    assert telegram.sent == []

    role.take(term=1)
    await until(lambda: len(telegram.sent) >= 10, "the sender sends")
    role.lose()
    await asyncio.sleep(0.5)  # sends in flight finish; no new one starts
    stopped_at = len(telegram.sent)
    await asyncio.sleep(1.0)
    assert len(telegram.sent) == stopped_at < len(readers)

    role.take(term=2)  # a new term: claims of the last one go back to the queue first
    await settle(store, engine)
    assert sorted(m.chat_id for m in telegram.sent) == readers  # each once


async def test_stats_tells_operators_which_instance_sends(settings, telegram, pg_url) -> None:
    from dataclasses import replace

    from tests.conftest import ADMIN_ID
    from tests.conversation import Reader

    async with running(replace(settings, database_url=pg_url)) as app:
        role = app.bot_data.role
        await until(lambda: role.sender and role.limiter.overall_limit == TOTAL, "alone, it sends")
        admin = Reader(app, telegram, ADMIN_ID, language_code="en", first_name="Operator")
        report = (await admin.send("/stats"))[0].plain
        assert f"Instances: 1 alive; this one ({role.id}) sends the broadcasts and runs the jobs" in report
        assert "its share: 30 of 30 msg/s" in report


async def test_stats_on_sqlite_says_nothing_about_instances(app, telegram) -> None:
    from tests.conftest import ADMIN_ID
    from tests.conversation import Reader

    admin = Reader(app, telegram, ADMIN_ID, language_code="en", first_name="Operator")
    report = (await admin.send("/stats"))[0].plain
    assert "Instances" not in report and "Send rate now" in report


async def test_a_lowered_limit_holds_for_sends_already_woken() -> None:
    """A share lowered while sends are woken but not yet running: only what fits the new limit goes."""
    now = [0.0]
    limiter = TelegramRateLimiter(overall_per_second=5, smooth=False, reader_reserve=0, clock=lambda: now[0])
    granted: list[int] = []

    async def send(chat: int) -> None:
        await limiter.acquire(chat, reader=True)
        granted.append(chat)

    first = [asyncio.create_task(send(chat)) for chat in range(1, 6)]
    await asyncio.gather(*first)  # the window is full at t=0
    waiting = [asyncio.create_task(send(chat)) for chat in range(6, 9)]
    await asyncio.sleep(0)  # all three queue for the next window
    now[0] = 1.0  # the window has emptied
    limiter.set_overall_limit(5)  # same limit: the gate looks again and wakes all three
    limiter.set_overall_limit(2)  # lowered before they run
    for _ in range(10):
        await asyncio.sleep(0)
    assert granted[5:] == [6, 7], "the third no longer fits and waits for the next window"
    assert limiter.overall_limit == 2
    for task in waiting:
        task.cancel()
    await limiter.shutdown()
