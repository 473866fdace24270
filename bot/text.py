"""Pure helpers for Telegram's text rules: UTF-16 lengths, visible text, cutting at boundaries."""

from __future__ import annotations

import html
import re
import unicodedata

MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024  # a photo's caption, counted like a message's text
# What one article may keep from a feed, page or file: a headline is a line, a body a long read (about
# 15,000 words). Anything longer is a broken or hostile source, and the rest only costs storage and search.
MAX_TITLE_CHARS = 500
MAX_BODY_CHARS = 100_000
_TAG = re.compile(r"<[^>]*>")
_SENTENCE_END = re.compile(r"[.!?…][\"'”’»)]*\s")
_SPACES = re.compile(r"[ \t\u00a0]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")


def utf16_len(text: str) -> int:
    """Telegram counts message length in UTF-16 code units, not code points."""
    return len(text.encode("utf-16-le")) // 2


def visible_text(telegram_html: str) -> str:
    """What a reader sees of an HTML message: tags removed, entities decoded."""
    return html.unescape(_TAG.sub("", telegram_html))


def visible_len(telegram_html: str) -> int:
    """The length Telegram checks against its 4096 limit."""
    return utf16_len(visible_text(telegram_html))


def normalize_text(text: str) -> str:
    """Tidy text from feeds, pages and users: NFC, no control characters, at most one blank line."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def cut_text(text: str, limit: int, ellipsis: str = "…") -> str:
    """Shorten to `limit` UTF-16 units at a sentence end, else a word boundary, never mid-word."""
    if utf16_len(text) <= limit:
        return text
    if limit <= utf16_len(ellipsis):
        return ""
    budget = limit - utf16_len(ellipsis)
    head = _prefix_within(text, budget)
    # The real next character decides whether the head ends a sentence, and a sentence starts with no
    # lowercase letter: "10. gün" (a Turkish ordinal) or "3.5" is no place to stop.
    probe = text[: len(head) + 1]
    sentence_ends = [m.end() for m in _SENTENCE_END.finditer(probe) if _starts_sentence(text, m.end())]
    if sentence_ends and sentence_ends[-1] >= len(head) * 0.6:
        return head[: sentence_ends[-1]].rstrip()
    space = max(head.rfind(" "), head.rfind("\n"))
    if space >= len(head) * 0.5:
        head = head[:space]
    return head.rstrip(" ,;:-–—\n") + ellipsis


def clip(text: str, limit: int) -> str:
    """Cap text from an untrusted source at `limit` UTF-16 units, cut like cut_text."""
    return text if len(text) <= limit // 2 or utf16_len(text) <= limit else cut_text(text, limit)


def _starts_sentence(text: str, index: int) -> bool:
    rest = text[index : index + 8].lstrip()
    return not rest or not rest[0].islower()


def _prefix_within(text: str, budget: int) -> str:
    units = 0
    for index, ch in enumerate(text):
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > budget:
            return text[:index]
    return text
