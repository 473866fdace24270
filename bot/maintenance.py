"""Retention: the outbox keeps finished deliveries for NEWSBOT_RETENTION_DAYS, then only their daily counts.

One pass a minute after start, then one every 24 hours:
* finished deliveries (sent or failed) older than the retention are counted into `delivery_days` (per UTC
  day, kind and outcome) and deleted in the same transaction, a few thousand at a time: a write
  transaction lasts milliseconds, and after each one the pass rests as long as it took, so replies,
  outcomes and other processes get the database in between;
* broadcasts older than the retention with no deliveries left go too;
* operators' /post and /edit drafts past their expiry (pressed or not) are deleted (bot/news/previews.py);
* the freed pages go back to the file system (incremental vacuum), again in small transactions.
Anything not finished (pending, or being sent) is never touched. A pass interrupted by shutdown or an error
leaves a consistent database, and the next pass carries on where it stopped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from telegram.ext import JobQueue

from bot.context import NewsbotContext
from bot.instances import sender_only
from storage import Store
from storage.database import StorageError

log = logging.getLogger(__name__)

RETENTION_JOB = "retention"
FIRST_PASS_AFTER = 60.0  # seconds after start: a bot restarted daily still prunes
RUNNING = "retention_running"  # Services.extras flag: a long pass is never overlapped by the next
DAY = 24 * 3600.0
T = TypeVar("T")


@dataclass(frozen=True)
class RetentionOptions:
    """How much to keep and how gently to delete; the defaults suit 100,000 readers (bench/retention.py)."""

    days: int = 14
    batch_rows: int = 2_000  # deliveries per write transaction: about 15 ms on the 2-core development VM
    broadcast_rows: int = 500  # broadcasts per write transaction
    vacuum_pages: int = 64  # pages given back per write transaction: about 15 ms
    rest: float = 1.0  # pause after each write transaction, as a multiple of its duration
    min_rest: float = 0.002  # seconds: even a fast transaction lets the others in


@dataclass(frozen=True)
class RetentionReport:
    """What one pass did, for its log line and the benchmark."""

    rolled_up: int
    deleted: int
    broadcasts: int
    pages_freed: int
    page_size: int
    seconds: float
    transactions: int
    write_seconds: float  # inside write transactions; the rest of `seconds` is rests between them
    longest_write: float
    complete: bool  # False when the pass stopped early (shutdown); the next one goes on
    drafts: int = 0  # expired /post and /edit drafts deleted

    def summary(self) -> str:
        """The one log line per pass."""
        return (
            f"retention: rolled up {self.rolled_up} deliveries into daily counts, deleted {self.deleted} "
            f"deliveries, {self.broadcasts} broadcasts and {self.drafts} expired drafts, "
            f"freed {self.pages_freed} pages "
            f"({self.pages_freed * self.page_size / 1e6:.1f} MB) in {self.seconds:.1f} s "
            f"({self.transactions} write transactions, {self.write_seconds:.1f} s writing, "
            f"longest {self.longest_write * 1000:.0f} ms)" + ("" if self.complete else ", stopped early")
        )


async def prune(
    store: Store,
    options: RetentionOptions,
    now: float,
    *,
    keep_going: Callable[[], bool] = lambda: True,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> RetentionReport:
    """One retention pass at unix time `now`; idempotent, and safe to interrupt between transactions."""
    cutoff = now - options.days * DAY
    started = time.perf_counter()
    rolled_up = deleted = broadcasts = drafts = freed = transactions = 0
    longest = writing = 0.0
    complete = False

    async def step(work: Callable[[], Awaitable[T]]) -> T:
        nonlocal transactions, longest, writing
        began = time.perf_counter()
        done = await work()
        took = time.perf_counter() - began
        transactions += 1
        writing += took
        longest = max(longest, took)
        await sleep(max(options.min_rest, took * options.rest))  # others first: replies, outcomes, imports
        return done

    retention = store.retention
    while keep_going():
        batch = await step(lambda: retention.prune_batch(cutoff, options.batch_rows))
        if batch.rolled_up == 0:
            break
        rolled_up += batch.rolled_up
        deleted += batch.deleted
    while keep_going():
        removed = await step(lambda: retention.prune_broadcasts(cutoff, options.broadcast_rows))
        broadcasts += removed
        if removed < options.broadcast_rows:
            break
    if keep_going():
        drafts = await step(lambda: store.post_drafts.prune(now))
    while keep_going():
        pages = await step(lambda: retention.incremental_vacuum(options.vacuum_pages))
        freed += pages
        if pages == 0:
            complete = True
            break
    if freed:
        await retention.checkpoint()  # the file shrinks when the WAL is copied back
    return RetentionReport(
        rolled_up=rolled_up,
        deleted=deleted,
        broadcasts=broadcasts,
        pages_freed=freed,
        page_size=(await retention.pages()).page_size,
        seconds=time.perf_counter() - started,
        transactions=transactions,
        write_seconds=writing,
        longest_write=longest,
        complete=complete,
        drafts=drafts,
    )


async def retention_job(context: NewsbotContext) -> None:
    """The JobQueue tick: one pass with the operator's retention, unless one is still running."""
    services = context.services
    if services.store is None or services.settings is None or services.extras.get(RUNNING):
        return
    services.extras[RUNNING] = True
    try:
        report = await prune(
            services.store,
            RetentionOptions(days=services.settings.retention_days),
            now=services.clock().timestamp(),
            keep_going=lambda: context.application.running,
        )
    except StorageError as error:  # full disk, locked or damaged database: the next pass tries again
        log.warning("retention pass stopped: %s", error)
        return
    finally:
        services.extras.pop(RUNNING, None)
    log.info("%s", report.summary())


def schedule_retention(job_queue: JobQueue) -> None:
    """Once FIRST_PASS_AFTER seconds after start, then daily; the pass yields, so the hour does not matter."""
    # Several instances: the sender runs it (bot/instances/).
    job_queue.run_repeating(
        sender_only(retention_job), interval=DAY, first=FIRST_PASS_AFTER, name=RETENTION_JOB
    )
