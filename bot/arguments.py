"""Pure parsers for command arguments; anything odd becomes None, never an exception."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_DIGITS = re.compile(r"#?(\d{1,9})")
DEEP_LINK_PAYLOAD = re.compile(r"[A-Za-z0-9_-]{1,64}")
_COMMAND = re.compile(r"\s*/\S*")


def parse_count(args: Sequence[str], *, default: int, maximum: int) -> int | None:
    """`/latest`, `/latest 5`: a whole number from 1 to maximum, else None."""
    if not args:
        return default
    value = _single_number(args)
    return value if value is not None and 1 <= value <= maximum else None


def parse_id(args: Sequence[str]) -> int | None:
    """`/article 12` or `/article #12`: a positive id, else None."""
    value = _single_number(args)
    return value if value is not None and value >= 1 else None


def _single_number(args: Sequence[str]) -> int | None:
    if len(args) != 1:
        return None
    match = _DIGITS.fullmatch(args[0])
    return None if match is None else int(match.group(1))


def parse_deep_link(args: Sequence[str]) -> str | None:
    """`/start PAYLOAD`: Telegram's deep-link alphabet and length, else None."""
    if len(args) != 1 or DEEP_LINK_PAYLOAD.fullmatch(args[0]) is None:
        return None
    return args[0]


POST_TITLE_MAX = 300
POST_BODY_MAX = 3500


@dataclass(frozen=True)
class PostText:
    """An admin's statement written in Telegram: the first line is the headline, the rest the body."""

    title: str
    body: str


def parse_post(message_text: str) -> PostText | None:
    """`/post Headline` then body lines: None when the headline or body is empty or too long."""
    command = _COMMAND.match(message_text)
    rest = message_text[command.end() :] if command else message_text
    title, _newline, body = rest.strip().partition("\n")
    title, body = " ".join(title.split()), body.strip()
    if not title or not body or len(title) > POST_TITLE_MAX or len(body) > POST_BODY_MAX:
        return None
    return PostText(title, body)


def parse_offset(text: str, *, maximum: int) -> int | None:
    """An inline query's paging offset: "" is the start, a number up to maximum, anything else None."""
    if not text:
        return 0
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        return None
    value = int(text)
    return value if value <= maximum else None
