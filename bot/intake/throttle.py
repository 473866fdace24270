"""Per-sender flood guard: every update is counted as it arrives, before any work is done for it.

A sender (a user, or the chat an anonymous admin speaks for) may send ``limit`` updates in any ``period``
seconds. The update that goes over gets one short answer (``Verdict.NOTICE``); after it the sender is
ignored (``Verdict.DROP``: no database, no reply, no Bot API call) for ``quiet`` seconds, and then for as
long as their own rate, dropped updates included, stays over the limit. Only the first update after a
calm spell passes again, without a second notice for the same episode.
"""

from __future__ import annotations

import enum
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from contextvars import ContextVar

from telegram import Update

__all__ = ["UserThrottle", "Verdict", "notice_due", "sender_of"]

_NOTICE: ContextVar[bool] = ContextVar("newsbot_throttle_notice", default=False)


class Verdict(enum.Enum):
    """What becomes of one update."""

    PASS = "pass"
    NOTICE = "notice"  # just went over the limit: answer "slow down" once, do nothing else
    DROP = "drop"  # ignored: no work and no answer


def notice_due() -> bool:
    """True while the update being handled is the one that went over its sender's limit."""
    return _NOTICE.get()


def set_notice(value: bool) -> object:
    """Mark the current update (context) as due for the "slow down" answer; returns a reset token."""
    return _NOTICE.set(value)


def reset_notice(token: object) -> None:
    """Undo set_notice."""
    _NOTICE.reset(token)  # type: ignore[arg-type]


def sender_of(update: object) -> int | None:
    """Whose rate an update counts against; None for updates nobody typed (membership changes)."""
    if not isinstance(update, Update):
        return None
    if update.my_chat_member is not None or update.chat_member is not None:
        return None  # a block, a kick, a channel adding the bot: state that must never be lost
    sender = update.effective_sender  # the chat, for anonymous group admins (their user is shared)
    return sender.id if sender is not None else None


class _Sender:
    __slots__ = ("quiet_until", "times", "tripped")

    def __init__(self, limit: int) -> None:
        self.times: deque[float] = deque(maxlen=limit + 1)  # enough to tell "more than limit"
        self.quiet_until = float("-inf")
        self.tripped = False


class UserThrottle:
    """Counts each sender's updates in a sliding window and says which pass; O(1) per update."""

    __slots__ = ("_clock", "_exempt", "_senders", "limit", "period", "quiet")

    def __init__(
        self,
        limit: int,
        period: float,
        *,
        quiet: float = 30.0,
        exempt: Iterable[int] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``limit`` updates per ``period`` seconds, then ``quiet`` s of silence; ``exempt`` ids pass."""
        if limit < 1 or period <= 0 or quiet < 0:
            raise ValueError("limit must be >= 1, period > 0 and quiet >= 0")
        self.limit = limit
        self.period = period
        self.quiet = quiet
        self._exempt = frozenset(exempt)
        self._clock = clock
        self._senders: OrderedDict[int, _Sender] = OrderedDict()

    def __len__(self) -> int:
        """Senders currently tracked (those seen within the last period or still in their quiet time)."""
        return len(self._senders)

    def check(self, sender: int | None) -> Verdict:
        """Count one update from ``sender`` now and decide its fate."""
        if sender is None or sender in self._exempt:
            return Verdict.PASS
        now = self._clock()
        self._prune(now)
        state = self._senders.get(sender)
        if state is None:
            state = self._senders[sender] = _Sender(self.limit)
        else:
            self._senders.move_to_end(sender)
        times = state.times
        times.append(now)
        over = len(times) > self.limit and times[0] > now - self.period
        if now < state.quiet_until:
            return Verdict.DROP
        if over:
            if state.tripped:  # the quiet time is over but the flood is not: stay quiet, say nothing
                return Verdict.DROP
            state.quiet_until = now + self.quiet
            state.tripped = True
            return Verdict.NOTICE
        state.tripped = False
        return Verdict.PASS

    def _prune(self, now: float) -> None:
        """Forget up to two senders who have been calm for a whole period (oldest first)."""
        senders = self._senders
        for _ in range(2):
            if not senders:
                return
            sender, state = next(iter(senders.items()))
            if state.times[-1] > now - self.period or state.quiet_until > now:
                return
            del senders[sender]
