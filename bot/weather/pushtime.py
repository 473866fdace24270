"""Parsing what readers type after /weathertime and /weatheralerts."""

from __future__ import annotations

import re
from typing import NamedTuple

from bot.weather.provinces import turkish_fold

OFF_WORDS = frozenset({"off", "stop", "none", "kapat", "kapali", "iptal", "yok"})
SWITCH_OFF_WORDS = OFF_WORDS | {"0", "no", "hayir"}  # /weatheralerts, /weathermap: on/off answers
ON_WORDS = frozenset({"on", "start", "yes", "ac", "acik", "evet", "1"})
_TIME = re.compile(r"([0-9]{1,2})[:.]([0-9]{2})")


class PushTime(NamedTuple):
    """A valid choice: "HH:MM", or None to switch the morning forecast off."""

    time: str | None


def parse_push_time(text: str) -> PushTime | None:
    """ "08:30", "8:30", "08.30" (Turkish style) or "off"/"kapat"; anything else is None."""
    text = text.strip()
    if turkish_fold(text) in OFF_WORDS:
        return PushTime(None)
    match = _TIME.fullmatch(text)
    if match is None:
        return None
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour > 23 or minute > 59:
        return None
    return PushTime(f"{hour:02d}:{minute:02d}")


def parse_switch(text: str) -> bool | None:
    """ "on"/"aç" -> True, "off"/"kapat" -> False, anything else None."""
    folded = turkish_fold(text)
    if folded in ON_WORDS:
        return True
    if folded in SWITCH_OFF_WORDS:
        return False
    return None
