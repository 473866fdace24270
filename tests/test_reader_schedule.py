"""Digest slots and quiet hours: parsing, the next slot after a moment, minutes spanning midnight."""

from __future__ import annotations

from datetime import datetime

from hypothesis import given
from hypothesis import strategies as st

from bot.clock import ISTANBUL
from bot.readers.schedule import (
    digest_times_text,
    is_quiet,
    minute_of_day,
    next_quiet_end,
    next_slot,
    parse_digest_times,
    parse_minute,
)


def _ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ISTANBUL).timestamp()


def test_parse_digest_times_sorts_dedupes_and_caps_at_three() -> None:
    assert parse_digest_times("18:30, 08:00") == [480, 1110]
    assert parse_digest_times("8:00 8:00") == [480]
    assert parse_digest_times("08:00,12:00,18:00,21:00") is None
    assert parse_digest_times("25:00") is None
    assert parse_digest_times("") is None
    assert digest_times_text([1110, 480]) == "08:00,18:30"


def test_next_slot_is_strictly_after_and_rolls_to_tomorrow() -> None:
    assert next_slot([480, 1080], _ts("2026-11-29T07:59")) == _ts("2026-11-29T08:00")
    assert next_slot([480, 1080], _ts("2026-11-29T08:00")) == _ts("2026-11-29T18:00")
    assert next_slot([480], _ts("2026-11-29T23:00")) == _ts("2026-11-30T08:00")
    assert next_slot([], _ts("2026-11-29T23:00")) is None


def test_quiet_hours_may_span_midnight() -> None:
    assert is_quiet(22 * 60, 7 * 60, 23 * 60)
    assert is_quiet(22 * 60, 7 * 60, 6 * 60 + 59)
    assert not is_quiet(22 * 60, 7 * 60, 7 * 60)
    assert is_quiet(13 * 60, 14 * 60, 13 * 60 + 30)
    assert not is_quiet(None, None, 0)
    assert next_quiet_end(22 * 60, 7 * 60, _ts("2026-11-29T23:00")) == _ts("2026-11-30T07:00")


@given(st.text(max_size=40))
def test_parse_minute_never_raises(text: str) -> None:
    minute = parse_minute(text)
    assert minute is None or 0 <= minute < 1440


@given(st.lists(st.integers(0, 1439), min_size=1, max_size=3), st.floats(1.7e9, 1.9e9))
def test_next_slot_lands_on_a_chosen_minute_within_a_day(minutes: list[int], after: float) -> None:
    slot = next_slot(minutes, after)
    assert slot is not None and after < slot <= after + 86400 + 3600
    assert minute_of_day(slot) in minutes
