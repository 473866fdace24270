"""Digest times and quiet hours as moments: the next slot to serve, whether a minute is quiet."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from bot.clock import ISTANBUL

MAX_DIGEST_TIMES = 3
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def parse_minute(text: str) -> int | None:
    """"08:00" -> 480 (minutes after Istanbul midnight); anything else -> None."""
    match = _HHMM.match(text.strip())
    if match is None:
        return None
    return int(match.group(1)) * 60 + int(match.group(2))


def format_minute(minute: int) -> str:
    """480 -> "08:00"."""
    return f"{minute // 60:02d}:{minute % 60:02d}"


def parse_digest_times(text: str) -> list[int] | None:
    """"08:00, 18:30" -> [480, 1110] (sorted, distinct, at most 3); None when any part is not HH:MM."""
    parts = [part for part in re.split(r"[,\s]+", text.strip()) if part]
    minutes = [parse_minute(part) for part in parts]
    if not parts or any(minute is None for minute in minutes):
        return None
    unique = sorted({minute for minute in minutes if minute is not None})
    return unique if len(unique) <= MAX_DIGEST_TIMES else None


def digest_times_text(minutes: list[int]) -> str:
    """The stored form of digest times: "08:00,18:30"."""
    return ",".join(format_minute(minute) for minute in sorted(minutes))


def stored_minutes(text: str | None) -> list[int]:
    """The stored "08:00,18:30" back to minutes; empty for None or junk."""
    if not text:
        return []
    return parse_digest_times(text) or []


def next_slot(minutes: list[int], after: float) -> float | None:
    """Unix time of the first of these Istanbul minutes strictly after `after`; None without minutes."""
    if not minutes:
        return None
    local = datetime.fromtimestamp(after, ISTANBUL)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    for day in range(3):
        for minute in sorted(minutes):
            naive = (midnight + timedelta(days=day)).replace(tzinfo=None) + timedelta(minutes=minute)
            moment = naive.replace(tzinfo=ISTANBUL).timestamp()
            if moment > after:
                return moment
    return None  # unreachable with at least one minute


def minute_of_day(moment: float) -> int:
    """Minutes after Istanbul midnight at unix time `moment`."""
    local = datetime.fromtimestamp(moment, ISTANBUL)
    return local.hour * 60 + local.minute


def is_quiet(start: int | None, end: int | None, minute: int) -> bool:
    """Whether an Istanbul minute falls in quiet hours [start, end), which may span midnight."""
    if start is None or end is None or start == end:
        return False
    if start < end:
        return start <= minute < end
    return minute >= start or minute < end


def next_quiet_end(start: int | None, end: int | None, after: float) -> float | None:
    """Unix time of the first end of quiet hours strictly after `after`; None without quiet hours."""
    if start is None or end is None or start == end:
        return None
    return next_slot([end], after)
