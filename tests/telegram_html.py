"""Strict validator for Telegram's ``parse_mode=HTML`` subset, used by the fake Bot API.

It follows the rules in https://core.telegram.org/bots/api#html-style and is deliberately a
little *stricter* than Telegram itself, so escaping bugs surface in tests instead of in
production: a bare ``&`` that is not an entity is rejected (Telegram silently keeps it, but
it is still a bug that corrupts text like ``&copy``), and ``<a>`` requires ``href``.
Everything here is a pure function; the scanner is regex based so it stays fast on the
benchmark hot path.
"""

from __future__ import annotations

import re

__all__ = ["TelegramHTMLError", "utf16_len", "validate_telegram_html"]

#: Tags Telegram understands; values are the attributes that carry meaning for that tag.
ALLOWED_TAGS: dict[str, frozenset[str]] = {
    "b": frozenset(),
    "strong": frozenset(),
    "i": frozenset(),
    "em": frozenset(),
    "u": frozenset(),
    "ins": frozenset(),
    "s": frozenset(),
    "strike": frozenset(),
    "del": frozenset(),
    "span": frozenset({"class"}),
    "tg-spoiler": frozenset(),
    "a": frozenset({"href"}),
    "code": frozenset({"class"}),
    "pre": frozenset(),
    "blockquote": frozenset({"expandable"}),
    "tg-emoji": frozenset({"emoji-id"}),
}

_ATTRS = r"(?:\s+[A-Za-z_:][-A-Za-z0-9_:.]*(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s\"'<>=`]+))?)*"
# One token per match: entity (groups 1-3), end tag (4), start tag (5, 6) or a bare "<"/"&" (error).
_TOKEN_RE = re.compile(
    r"&(?:(lt|gt|amp|quot)|#([0-9]{1,8})|#[xX]([0-9a-fA-F]{1,8}));"
    r"|</([A-Za-z][A-Za-z0-9-]*)\s*>"
    rf"|<([A-Za-z][A-Za-z0-9-]*)({_ATTRS})\s*>"
    r"|[<&]"
)
_ENTITY_RE = re.compile(r"&(?:(lt|gt|amp|quot)|#([0-9]{1,8})|#[xX]([0-9a-fA-F]{1,8}));")
_ATTR_RE = re.compile(r"([A-Za-z_:][-A-Za-z0-9_:.]*)(?:\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s\"'<>=`]+)))?")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_LANGUAGE_CLASS_RE = re.compile(r"language-[A-Za-z0-9_+#.-]+")
_URL_SCHEME_RE = re.compile(r"(?:https?|tg|ftp|mailto)://|mailto:|tg:", re.IGNORECASE)


class TelegramHTMLError(ValueError):
    """Raised for markup Telegram would refuse; str(exc) is the reason after "can't parse entities: "."""


def utf16_len(s: str) -> int:
    """Length in UTF-16 code units, the unit Telegram uses for every text limit."""
    if s.isascii():
        return len(s)
    return len(s.encode("utf-16-le")) // 2


def _byte_offset(text: str, index: int) -> int:
    """Telegram reports positions as UTF-8 byte offsets; only computed on the error path."""
    return len(text[:index].encode("utf-8"))


def _decode_entity(match: re.Match[str], text: str) -> str:
    """Turn one matched character reference into its character, rejecting impossible code points."""
    named, dec, hexa = match.group(1, 2, 3)
    if named:
        return _NAMED[named]
    code = int(dec) if dec else int(hexa, 16)
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        offset = _byte_offset(text, match.start())
        raise TelegramHTMLError(f"Invalid character reference {match.group(0)!r} at byte offset {offset}")
    return chr(code)


def _unescape_attr(value: str, text: str, base: int) -> str:
    """Decode entities inside an attribute value with the same strictness as body text."""
    if "&" not in value:
        return value
    out: list[str] = []
    pos = 0
    while (amp := value.find("&", pos)) != -1:
        out.append(value[pos:amp])
        m = _ENTITY_RE.match(value, amp)
        if m is None:
            raise TelegramHTMLError(
                f'Character "&" at byte offset {_byte_offset(text, base + amp)} must be escaped as "&amp;"'
            )
        out.append(_decode_entity(m, text))
        pos = m.end()
    out.append(value[pos:])
    return "".join(out)


def _check_start_tag(name: str, attrs_src: str, text: str, start: int, attrs_base: int) -> None:
    """Validate the attributes a tag requires (href, spoiler class, emoji id ...)."""
    meaningful = ALLOWED_TAGS[name]
    attrs: dict[str, str | None] = {}
    if attrs_src:
        for am in _ATTR_RE.finditer(attrs_src):
            attr = am.group(1).lower()
            if attr not in meaningful:
                continue  # Telegram ignores unknown attributes
            raw = am.group(2) if am.group(2) is not None else am.group(3)
            if raw is None:
                raw = am.group(4)
            attrs[attr] = None if raw is None else _unescape_attr(raw, text, attrs_base + am.start())
    def where() -> str:
        return f"at byte offset {_byte_offset(text, start)}"

    if name == "a":
        href = attrs.get("href")
        if not href:
            raise TelegramHTMLError(f'Tag "a" must have a non-empty attribute "href" {where()}')
        if not _URL_SCHEME_RE.match(href) and "." not in href:
            raise TelegramHTMLError(f'Wrong URL "{href}" in tag "a" {where()}')
    elif name == "span":
        if attrs.get("class") != "tg-spoiler":
            raise TelegramHTMLError(f'Tag "span" must have class "tg-spoiler" {where()}')
    elif name == "code":
        cls = attrs.get("class")
        if cls is not None and not _LANGUAGE_CLASS_RE.fullmatch(cls):
            raise TelegramHTMLError(f'Tag "code" class must look like "language-python" {where()}')
    elif name == "tg-emoji":
        emoji_id = attrs.get("emoji-id")
        if not emoji_id or not emoji_id.isdigit():
            raise TelegramHTMLError(f"Custom emoji entity must have a valid emoji-id {where()}")


def validate_telegram_html(text: str) -> str:
    """Parse Telegram HTML and return the visible text, so callers can apply length limits to it."""
    if "<" not in text and "&" not in text:
        return text
    out: list[str] = []
    append = out.append
    stack: list[str] = []
    pos = 0
    for m in _TOKEN_RE.finditer(text):
        i = m.start()
        if i > pos:
            append(text[pos:i])
        pos = m.end()
        kind = m.lastindex
        if kind is None:  # bare "<" or "&"
            offset = _byte_offset(text, i)
            if text[i] == "&":
                raise TelegramHTMLError(f'Character "&" at byte offset {offset} must be escaped as "&amp;"')
            if text.startswith("</", i):
                raise TelegramHTMLError(f"Unclosed end tag at byte offset {offset}")
            raise TelegramHTMLError(
                f'Unsupported start tag or bare "<" at byte offset {offset}; escape it as "&lt;"'
            )
        if kind <= 3:
            append(_NAMED[m.group(1)] if kind == 1 else _decode_entity(m, text))
        elif kind == 4:
            name = m.group(4).lower()
            if not stack:
                raise TelegramHTMLError(f'Unexpected end tag "{name}" at byte offset {_byte_offset(text, i)}')
            open_name = stack.pop()
            if open_name != name:
                raise TelegramHTMLError(
                    f"Unmatched end tag at byte offset {_byte_offset(text, i)}, "
                    f'expected "</{open_name}>", found "</{name}>"'
                )
        else:
            name = m.group(5).lower()
            meaningful = ALLOWED_TAGS.get(name)
            if meaningful is None:
                offset = _byte_offset(text, i)
                raise TelegramHTMLError(f'Unsupported start tag "{name}" at byte offset {offset}')
            if meaningful:
                _check_start_tag(name, m.group(6), text, i, m.start(6))
            stack.append(name)
    if stack:
        raise TelegramHTMLError(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    append(text[pos:])
    return "".join(out)
