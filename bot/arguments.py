"""Pure parsers for command arguments; anything odd becomes None, never an exception."""

from __future__ import annotations

import re
from collections.abc import Sequence

_DIGITS = re.compile(r"#?(\d{1,9})")
DEEP_LINK_PAYLOAD = re.compile(r"[A-Za-z0-9_-]{1,64}")


def parse_count(args: Sequence[str], *, default: int, maximum: int) -> int | None:
    """`/latest`, `/latest 5`: a whole number from 1 to maximum, else None."""
    if not args:
        return default
    if len(args) != 1:
        return None
    match = _DIGITS.fullmatch(args[0])
    if match is None:
        return None
    value = int(match.group(1))
    return value if 1 <= value <= maximum else None


def parse_id(args: Sequence[str]) -> int | None:
    """`/article 12` or `/article #12`: a positive id, else None."""
    if len(args) != 1:
        return None
    match = _DIGITS.fullmatch(args[0])
    if match is None:
        return None
    value = int(match.group(1))
    return value if value >= 1 else None


def parse_deep_link(args: Sequence[str]) -> str | None:
    """`/start PAYLOAD`: Telegram's deep-link alphabet and length, else None."""
    if len(args) != 1 or DEEP_LINK_PAYLOAD.fullmatch(args[0]) is None:
        return None
    return args[0]


def parse_offset(text: str, *, maximum: int) -> int | None:
    """An inline query's paging offset: "" is the start, a number up to maximum, anything else None."""
    if not text:
        return 0
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        return None
    value = int(text)
    return value if value <= maximum else None
