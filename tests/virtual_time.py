"""An asyncio event loop on a virtual clock, so timing tests are exact and never wait in real time.

Why: wall-clock assertions ("elapsed < 0.25") flake on a loaded CI machine. On this loop ``loop.time()``
is a number that only moves when every task is waiting for a timer: the loop then jumps straight to the
next timer instead of sleeping. ``asyncio.sleep(0.3)`` returns "0.3 s later" at once, and code that takes
its clock from ``loop.time`` sees exactly the instants its timers asked for.

Only public asyncio APIs are used: ``SelectorEventLoop(selector=...)`` with a selector that polls a real
selector without blocking, and an overridden ``time()``. Real I/O readiness (sockets, the loop's self-pipe)
is still delivered. Not for code that waits on threads or other processes: while they work the loop sees
nothing ready and races ahead to the next timer.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

__all__ = ["VirtualTimeLoop", "run_virtual"]

T = TypeVar("T")


class _VirtualSelector(selectors.BaseSelector):
    """Delegates to a real selector but never blocks: an idle wait advances the loop's clock instead."""

    def __init__(self, loop: VirtualTimeLoop) -> None:
        self._real = selectors.DefaultSelector()
        self._loop = loop

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.modify(fileobj, events, data)

    def get_key(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.get_key(fileobj)

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._real.get_map()

    def close(self) -> None:
        self._real.close()

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        """Report ready I/O at once; when there is none and a timer is due in ``timeout`` s, jump there."""
        ready = self._real.select(0)
        if ready:
            return ready
        if timeout is None:  # no timer at all: only real I/O (another thread, a signal) can wake the loop
            return self._real.select(None)
        if timeout > 0:
            self._loop.advance(timeout)
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """A selector event loop whose ``time()`` is virtual and jumps to the next timer when idle."""

    def __init__(self, start: float = 0.0) -> None:
        """Start the virtual clock at ``start`` seconds (0 keeps test numbers readable)."""
        self._virtual_now = float(start)
        super().__init__(selector=_VirtualSelector(self))

    def time(self) -> float:
        """The virtual clock; asyncio schedules every timer against it."""
        return self._virtual_now

    def advance(self, seconds: float) -> None:
        """Move the virtual clock forward (the selector does this when every task waits for a timer)."""
        if seconds < 0:
            raise ValueError("virtual time cannot go backwards")
        self._virtual_now += seconds


def run_virtual(coro: Coroutine[Any, Any, T], *, start: float = 0.0, limit: float = 3600.0) -> T:
    """Run ``coro`` to completion on a fresh :class:`VirtualTimeLoop` and close it, like ``asyncio.run``.

    ``limit`` virtual seconds bound a scenario that never finishes (a deadlock fails at once, in real time,
    instead of hanging the test run).
    """

    async def guarded() -> T:
        deadline = asyncio.timeout(limit)
        try:
            async with deadline:
                return await coro
        except TimeoutError:
            if deadline.expired():
                raise AssertionError(f"scenario still running after {limit} virtual seconds") from None
            raise

    loop = VirtualTimeLoop(start)
    try:
        return loop.run_until_complete(guarded())
    finally:
        try:
            leftovers = asyncio.all_tasks(loop)
            for task in leftovers:
                task.cancel()
            if leftovers:
                loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()
