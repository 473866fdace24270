"""Time in the outlet's zone: dates shown to readers and morning pushes follow Istanbul time."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

ISTANBUL = ZoneInfo("Europe/Istanbul")


def utc_now() -> datetime:
    """Aware UTC now; every stored timestamp is UTC."""
    return datetime.now(UTC)


def as_utc(moment: datetime | date) -> datetime:
    """Naive times and bare dates are taken as Istanbul time, the outlet's own zone."""
    if not isinstance(moment, datetime):
        moment = datetime.combine(moment, time(0, 0))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ISTANBUL)
    return moment.astimezone(UTC)


def in_istanbul(moment: datetime) -> datetime:
    """For display: the date a Turkish reader expects."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(ISTANBUL)
