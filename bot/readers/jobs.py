"""The readers' per-minute job: digests at their times and what quiet hours held, when they end."""

from __future__ import annotations

import logging
import sqlite3

from telegram.ext import JobQueue

from bot.context import NewsbotContext
from bot.instances import sender_only
from bot.readers.digests import queue_due_digests, release_quiet
from storage.database import StorageError

log = logging.getLogger(__name__)

READERS_JOB = "reader-digests"
EVERY_MINUTE = 60.0
RUNNING = "reader_digests_running"  # Services.extras flag: a long run is never overlapped by the next


async def digests_and_quiet_hours(context: NewsbotContext) -> None:
    """Queue due digests and quiet-hours releases; with nobody due, one index-only read and nothing else."""
    services = context.services
    store = services.store
    if store is None or services.extras.get(RUNNING):
        return
    now = services.clock().timestamp()
    services.extras[RUNNING] = True
    try:
        if not await store.routing.anyone_due(now):
            return
        digests = await queue_due_digests(store, now)
        released = await release_quiet(store, now)
    except (StorageError, sqlite3.Error) as error:  # full disk, locked: the readers stay due for the next run
        log.warning("digests and quiet hours wait for the database: %s", error)
        return
    finally:
        services.extras.pop(RUNNING, None)
    if services.delivery is not None and (digests.queued or released.queued):
        services.delivery.wake()
    log.info(
        "digests: %d readers due, %d queued as %d messages; quiet hours ended for %d readers, %d queued",
        digests.readers,
        digests.queued,
        digests.broadcasts,
        released.readers,
        released.queued,
    )


def schedule_reader_jobs(job_queue: JobQueue) -> None:
    """Once at start (slots missed while the bot was down) and then every minute."""
    job = sender_only(digests_and_quiet_hours)  # several instances: the sender runs it (bot/instances/)
    job_queue.run_once(job, when=0, name=READERS_JOB, job_kwargs={"misfire_grace_time": None})
    job_queue.run_repeating(job, interval=EVERY_MINUTE, first=EVERY_MINUTE, name=READERS_JOB)
