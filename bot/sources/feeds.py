"""RSS/Atom parsing that keeps Turkish text intact and refuses hostile or non-feed bodies."""

from __future__ import annotations

import calendar
import datetime as dt
import io
import re
import time
import unicodedata
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser

__all__ = ["FeedEntry", "FeedParseError", "ParsedFeed", "html_to_text", "parse_feed"]

_ROOT_START = re.compile(rb"<[A-Za-z_]")
_LOOKS_HTML = re.compile(rb"<(!doctype\s+html|html[\s>]|head[\s>]|body[\s>])", re.IGNORECASE)
_WESTERN = frozenset({"windows-1252", "cp1252", "iso-8859-1", "latin-1", "latin1"})
_TURKISH_MOJIBAKE = re.compile("[ÝýÞþÐð]")  # ı ş ğ İ Ş Ğ read as windows-1252
_WEB_SCHEMES = frozenset({"http", "https"})
_BLOCK_TAGS = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote"})
_SKIP_TAGS = frozenset({"script", "style", "noscript", "template"})


class FeedParseError(Exception):
    """A body that is not a usable feed; str(error) says why in a few words."""


@dataclass
class FeedEntry:
    """One feed item reduced to what the bot needs to find and announce the article."""

    guid: str | None
    link: str | None
    title: str
    summary: str
    published: dt.datetime | None
    language: str | None = None  # the item's own xml:lang (Atom), as written


@dataclass
class ParsedFeed:
    """A feed's title and usable entries; bozo_reason notes recoverable feed errors."""

    title: str
    entries: list[FeedEntry]
    bozo_reason: str | None
    language: str | None = None  # <language>, dc:language or xml:lang, as written


class _TextCollector(HTMLParser):
    """Collect text from an HTML fragment without executing or trusting any of it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skipping += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_to_text(fragment: str) -> str:
    """Turn an HTML snippet from a feed into plain text with entities decoded."""
    if "<" not in fragment and "&" not in fragment:
        text = fragment
    else:
        collector = _TextCollector()
        collector.feed(fragment)
        collector.close()
        text = "".join(collector.parts)
    text = unicodedata.normalize("NFC", text)
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def _prolog(body: bytes) -> str:
    """Return the text before the root element, decoded enough to spot a DOCTYPE in any encoding."""
    if body.startswith((b"\xff\xfe", b"\xfe\xff")) or body[:4].count(b"\x00") >= 2:
        for codec in ("utf-16", "utf-16-le", "utf-16-be", "utf-32"):
            try:
                text = body[:65536].decode(codec, errors="ignore").replace("\x00", "")
            except UnicodeError:
                continue
            if "<" in text:
                end = re.search(r"<[A-Za-z_]", text)
                return text[: end.start()] if end else text
    match = _ROOT_START.search(body)
    return (body[: match.start()] if match else body).decode("latin-1")


def _check_safe(body: bytes) -> None:
    """Refuse entity declarations before any XML parser sees them (billion laughs, external entities)."""
    prolog = _prolog(body).upper()
    if "<!ENTITY" in prolog or ("<!DOCTYPE" in prolog and "[" in prolog.split("<!DOCTYPE", 1)[1]):
        raise FeedParseError("XML entity declarations are not allowed")


def _headers(charset: str | None, content_type: str | None, force_charset: str | None) -> dict[str, str]:
    """Build the response header feedparser uses to pick the encoding."""
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    charset = force_charset or charset
    if not mime or (mime.startswith("text/") and mime != "text/html" and not charset):
        # No header, or RFC 3023's "text/xml means US-ASCII" rule: let the XML declaration decide.
        mime = "application/xml"
    # No content-location on purpose: feedparser would then "resolve" opaque guids into URLs.
    return {"content-type": f"{mime}; charset={charset}" if charset else mime}


def _run_feedparser(body: bytes, headers: dict[str, str]) -> Any:
    """Call feedparser on the bytes as a stream (given raw bytes it would try them as a file name)."""
    try:
        return feedparser.parse(io.BytesIO(body), response_headers=headers)
    except Exception as exc:  # feedparser catches most errors itself; this is the backstop
        raise FeedParseError(f"feed parser failed: {type(exc).__name__}") from exc


def _looks_misdecoded(parsed: Any) -> bool:
    """Spot a Turkish feed decoded as windows-1252 (ş→þ, ı→ý, ğ→ð), which happens when no charset is given."""
    if str(parsed.get("encoding", "")).lower() not in _WESTERN:
        return False
    sample = [parsed.feed.get("title", "")]
    sample += [e.get("title", "") + e.get("summary", "") for e in parsed.entries[:20]]
    return bool(_TURKISH_MOJIBAKE.search("".join(sample)))


def _to_datetime(entry: Any) -> dt.datetime | None:
    """Take the publication (else update) time feedparser normalised to UTC."""
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if isinstance(value, time.struct_time):
            try:
                return dt.datetime.fromtimestamp(calendar.timegm(value), tz=dt.UTC)
            except (OverflowError, ValueError, OSError):
                continue
    return None


def _link(raw: Any, base_url: str) -> str | None:
    """Resolve the entry link against the feed URL; drop links that are not http(s) web pages."""
    link = (raw.get("link") or "").strip()
    if not link or (raw.get("guidislink") and urlsplit(link).scheme.lower() not in _WEB_SCHEMES):
        return None  # feedparser copies a permalink guid into link even when it is no URL at all
    try:
        link = urljoin(base_url, link) if base_url else link
        return link if urlsplit(link).scheme.lower() in _WEB_SCHEMES else None
    except ValueError:
        return None


def _entry(raw: Any, base_url: str) -> FeedEntry | None:
    """Convert one feedparser entry, or None when it has nothing to identify an article by."""
    title = html_to_text(raw.get("title", "") or "")
    link = _link(raw, base_url)
    guid = (raw.get("id") or "").strip() or None
    if not (title or link or guid):
        return None
    summary = raw.get("summary") or ""
    if not summary and raw.get("content"):
        summary = raw["content"][0].get("value", "")
    summary = html_to_text(summary)
    published = _to_datetime(raw)
    return FeedEntry(guid, link, title, summary, published, language=_language(raw))


def _language(raw: Any) -> str | None:
    """The xml:lang feedparser saw on the item's title or text (inherited from the feed's when unset)."""
    for key in ("title_detail", "summary_detail"):
        detail = raw.get(key)
        language = detail.get("language") if isinstance(detail, dict) else None
        if isinstance(language, str) and language.strip():
            return language.strip()[:64]
    return None


def _bozo_reason(parsed: Any) -> str | None:
    """Describe feedparser's bozo exception briefly."""
    if not parsed.get("bozo"):
        return None
    exc = parsed.get("bozo_exception")
    message = str(exc).strip() if exc is not None else ""
    name = type(exc).__name__ if exc is not None else "error"
    return f"{name}: {message}"[:200] if message else name


def parse_feed(body: bytes, *, charset: str | None, content_type: str | None, url: str) -> ParsedFeed:
    """Parse an RSS 0.9x/1.0/2.0 or Atom body; raises FeedParseError for unsafe or non-feed bodies."""
    if not body or not body.strip():
        raise FeedParseError("empty body")
    _check_safe(body)
    parsed = _run_feedparser(body, _headers(charset, content_type, None))
    if _looks_misdecoded(parsed):
        parsed = _run_feedparser(body, _headers(charset, content_type, "windows-1254"))
    if not parsed.entries and not parsed.get("version"):
        if _LOOKS_HTML.search(body[:4096]) or (content_type or "").lower().startswith("text/html"):
            raise FeedParseError("not a feed: looks like an HTML page")
        raise FeedParseError(f"not a feed: {_bozo_reason(parsed) or 'no entries and no feed version'}")
    entries = [entry for raw in parsed.entries if (entry := _entry(raw, url)) is not None]
    title = html_to_text(parsed.feed.get("title", "") or "")
    declared = parsed.feed.get("language")
    language = (declared.strip()[:64] or None) if isinstance(declared, str) else None
    return ParsedFeed(title=title, entries=entries, bozo_reason=_bozo_reason(parsed), language=language)
