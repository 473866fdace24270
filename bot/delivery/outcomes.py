"""Group commit of delivery outcomes: each commit at once, those arriving meanwhile share the next one."""

from __future__ import annotations

import asyncio
import logging

from storage import Store
from storage.models import DeliveryOutcome

log = logging.getLogger(__name__)


class GroupCommit:
    """Commits outcomes at once; those arriving during a commit share the next one (no waiting window)."""

    def __init__(self, store: Store, owner: str) -> None:
        """`owner` is the engine whose claims these outcomes settle."""
        self._store = store
        self._owner = owner
        self._queue: list[tuple[DeliveryOutcome, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def write(self, outcome: DeliveryOutcome) -> None:
        """Return once the outcome is committed (raises if the commit failed)."""
        future = asyncio.get_running_loop().create_future()
        self._queue.append((outcome, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await future  # each outcome has its own future: cancelling this wait cancels nothing shared

    async def _flush(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                await self._store.outbox.record(self._owner, [outcome for outcome, _ in batch])
            except Exception as error:
                log.warning("could not record %d outcomes (%s); they stay claimed", len(batch), error)
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
