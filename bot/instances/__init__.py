"""Which instance sends: one `Role` for the delivery engine and the jobs, whatever the backend.

On SQLite there is one instance and it is always the sender (`Solo`). On PostgreSQL several instances share
one token (`bot/instances/cluster.py`): the holder of the "sender" lease sends broadcasts and runs the
scheduled jobs; every instance answers readers within its share of Telegram's global budget.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from bot.context import NewsbotContext
    from bot.delivery.ratelimit import TelegramRateLimiter


@dataclass(frozen=True)
class InstancesView:
    """What /stats tells operators about the instances: how many, who sends, this one's share."""

    live: int
    this: str
    sender: str | None  # the lease holder now, None while nobody holds it (a takeover)
    limit: int  # this instance's global sends per second now
    total: int


class Role(Protocol):
    """This instance's part: whether it may send broadcasts and run jobs now, and its term as sender."""

    @property
    def sender(self) -> bool:
        """True while this instance may start broadcast sends and run the scheduled jobs."""
        ...

    @property
    def term(self) -> int | None:
        """A number that changes with every new term as sender (None while not the sender)."""
        ...

    async def wait_sender(self) -> None:
        """Return once this instance is the sender."""
        ...

    async def start(self) -> None:
        """Take part: try for the sender lease, register with the other instances."""
        ...

    async def stop(self) -> None:
        """Leave: give the lease up so another instance takes over at its next try."""
        ...

    async def overview(self) -> InstancesView | None:
        """The instances as operators see them in /stats; None for a single instance."""
        ...


class Solo:
    """The one instance of a SQLite bot: always the sender, in one term, with the whole budget."""

    sender = True
    term = 1

    async def wait_sender(self) -> None:
        """Always the sender already."""

    async def start(self) -> None:
        """Nothing to register with."""

    async def stop(self) -> None:
        """Nothing to give up."""

    async def overview(self) -> InstancesView | None:
        """One instance: nothing to tell."""
        return None


Job = Callable[["NewsbotContext"], Awaitable[None]]


def sender_only(job: Job) -> Job:
    """A JobQueue callback that runs on the sender only: every instance schedules it, one runs it."""

    @functools.wraps(job)
    async def run(context: NewsbotContext) -> None:
        role = context.services.role
        if role is not None and not role.sender:
            return
        await job(context)

    return run


def role_for(db: object, limiter: TelegramRateLimiter, total: int) -> Role:
    """The role that suits the database: alone on SQLite, among others on PostgreSQL."""
    from storage.postgres.database import PgDatabase

    if isinstance(db, PgDatabase):
        from bot.instances.cluster import Cluster

        return Cluster(db, limiter, total)
    return Solo()
