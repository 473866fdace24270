"""RSS/Atom parsing that keeps Turkish text intact and refuses hostile or non-feed bodies."""

from __future__ import annotations

import calendar
import codecs
import datetime as dt
import io
import re
import time
import unicodedata
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit
from xml.parsers import expat

import feedparser
from feedparser.encodings import convert_to_utf8

from bot.sources.images import feed_image
from bot.text import MAX_BODY_CHARS, MAX_TITLE_CHARS, clip

__all__ = ["FeedEntry", "FeedParseError", "ParsedFeed", "html_to_text", "parse_feed"]

_ROOT_NAME_START = re.compile(rb"<[A-Za-z_]")
_UTF8_DECLARATION = b"<?xml version='1.0' encoding='utf-8'?>"  # what feedparser's convert_to_utf8 writes
_STALE_DECLARATION = re.compile(rb"\A<\?xml\s[^>]*\?>")
_AS_UTF8 = {"content-type": "application/xml; charset=utf-8"}
MAX_GUID_CHARS = 2048
_ASCII_SPACE = b" \t\r\n"
_WIDE_PREFIXES = (  # longest first: a UTF-32-LE BOM starts like a UTF-16-LE one
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00?\x00", "utf-16-le"),
    (b"\x00<\x00?", "utf-16-be"),
)
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
    image_url: str | None = None  # media:content, media:thumbnail or an image enclosure


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


class _NotXML(FeedParseError):
    """The body is not well-formed XML up to its root element (it may still be an HTML page)."""


class _RootReached(Exception):
    """Raised by the prolog scan at the root element's start tag, so the rest is never scanned."""

    def __init__(self, offset: int) -> None:
        super().__init__(offset)
        self.offset = offset


class _Refused(Exception):
    """Raised by the prolog scan at the first entity declaration or external entity reference."""


def _to_utf8(body: bytes, headers: dict[str, str]) -> tuple[bytes, str, Exception | None]:
    """Decode the body as feedparser would (BOM, HTTP charset, XML declaration) and re-encode it as UTF-8."""
    result: dict[str, Any] = {}
    try:
        data = convert_to_utf8(headers, body, result)
    except Exception as exc:  # e.g. a declared codec that is not a text codec ("undefined")
        raise _NotXML(f"not a feed: undecodable ({type(exc).__name__})") from exc
    encoding = str(result.get("encoding") or "")
    if not encoding or not data.startswith(_UTF8_DECLARATION):
        raise _NotXML("not a feed: unknown character encoding")
    rest = data[len(_UTF8_DECLARATION) :].lstrip(_ASCII_SPACE)
    # Blank lines before a wide "<?xml" leave the original declaration after feedparser's new one.
    rest = _STALE_DECLARATION.sub(b"", rest, count=1)
    return _UTF8_DECLARATION + b"\n" + rest, encoding, result.get("bozo_exception")


def _root_offset(data: bytes) -> int:
    """Read the prolog with expat and return where the root element starts; refuse entity declarations.

    The handlers are the ones defusedxml installs: any entity declaration (internal, external, parameter,
    unparsed) is refused where it is declared, before it can be expanded, and external entities and the
    external DTD subset are never loaded. Scanning stops at the root element's start tag: after it no
    declaration can follow in well-formed XML.
    """
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)

    def refuse_entity(*_args: object) -> None:
        raise _Refused("XML entity declarations are not allowed")

    def refuse_external(*_args: object) -> int:
        raise _Refused("external XML entities are not allowed")

    def root(_name: str, _attributes: object) -> None:
        raise _RootReached(parser.CurrentByteIndex)

    parser.EntityDeclHandler = refuse_entity
    parser.UnparsedEntityDeclHandler = refuse_entity
    parser.ExternalEntityRefHandler = refuse_external
    parser.StartElementHandler = root
    try:
        parser.Parse(data, True)
    except _RootReached as reached:
        return reached.offset
    except _Refused as refused:
        raise FeedParseError(str(refused)) from None
    except expat.ExpatError as error:
        raise _NotXML(
            f"not a feed: malformed XML before the root element ({expat.errors.messages[error.code]}, "
            f"line {error.lineno})"
        ) from None
    raise _NotXML("not a feed: no root element")


def _vetted(body: bytes, headers: dict[str, str]) -> tuple[bytes, str, Exception | None]:
    """The only bytes feedparser gets: a UTF-8 declaration and the document from its root element on.

    The prolog (DOCTYPE, comments, processing instructions) is dropped once it has passed the check, so
    no DTD, and none of feedparser's own text scans of the prolog (which the comment trick misleads), can
    bring entities back: the strict parser finds no declarations and the loose one no "safe entities".
    """
    data, encoding, bozo = _to_utf8(body, headers)
    offset = _root_offset(data)
    if not _ROOT_NAME_START.match(data, offset):  # feedparser finds the root by this pattern too
        raise _NotXML("not a feed: the root element's name is not ASCII")
    return _UTF8_DECLARATION + b"\n" + data[offset:], encoding, bozo


def _unwrap(body: bytes) -> tuple[bytes, str | None]:
    """Return the body from its first "<" and the codec a BOM or a wide "<?" proves (it beats any header).

    Blank lines before "<?xml" are a common CMS slip; without them the declared encoding is found again.
    """
    for prefix, codec in _WIDE_PREFIXES:
        if body.startswith(prefix):
            return body, codec
    if body.startswith(codecs.BOM_UTF8):
        return body[len(codecs.BOM_UTF8) :].lstrip(_ASCII_SPACE), "utf-8"
    return body.lstrip(_ASCII_SPACE), None


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


def _looks_misdecoded(parsed: Any, encoding: str) -> bool:
    """Spot a Turkish feed decoded as windows-1252 (ş→þ, ı→ý, ğ→ð), which happens when no charset is given."""
    if encoding.lower() not in _WESTERN:
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
    title = clip(html_to_text(raw.get("title", "") or ""), MAX_TITLE_CHARS)
    link = _link(raw, base_url)
    guid = (raw.get("id") or "").strip()[:MAX_GUID_CHARS] or None
    if not (title or link or guid):
        return None
    summary = raw.get("summary") or ""
    if not summary and raw.get("content"):
        summary = raw["content"][0].get("value", "")
    summary = clip(html_to_text(summary), MAX_BODY_CHARS)
    return FeedEntry(
        guid=guid,
        link=link,
        title=title,
        summary=summary,
        published=_to_datetime(raw),
        image_url=feed_image(raw, base_url),
        language=_language(raw),
    )


def _language(raw: Any) -> str | None:
    """The xml:lang feedparser saw on the item's title or text (inherited from the feed's when unset)."""
    for key in ("title_detail", "summary_detail"):
        detail = raw.get(key)
        language = detail.get("language") if isinstance(detail, dict) else None
        if isinstance(language, str) and language.strip():
            return language.strip()[:64]
    return None


def _describe(exc: object) -> str | None:
    """Describe a feedparser bozo exception briefly."""
    if exc is None:
        return None
    message = str(exc).strip()
    name = type(exc).__name__
    return f"{name}: {message}"[:200] if message else name


def _bozo_reason(parsed: Any, decoding: Exception | None) -> str | None:
    """The parser's complaint, else the decoder's (which the parser never sees: it gets UTF-8)."""
    if parsed.get("bozo"):
        return _describe(parsed.get("bozo_exception")) or "error"
    return _describe(decoding)


def _parse(body: bytes, headers: dict[str, str]) -> tuple[Any, str, Exception | None]:
    """Vet the body, then let feedparser parse only the vetted UTF-8 document."""
    vetted, encoding, decoding = _vetted(body, headers)
    return _run_feedparser(vetted, _AS_UTF8), encoding, decoding


def parse_feed(body: bytes, *, charset: str | None, content_type: str | None, url: str) -> ParsedFeed:
    """Parse an RSS 0.9x/1.0/2.0 or Atom body; raises FeedParseError for unsafe or non-feed bodies."""
    if not body or not body.strip():
        raise FeedParseError("empty body")
    looks_html = bool(_LOOKS_HTML.search(body[:4096])) or (content_type or "").lower().startswith("text/html")
    body, proven = _unwrap(body)
    try:
        parsed, encoding, decoding = _parse(body, _headers(charset, content_type, proven))
        if _looks_misdecoded(parsed, encoding):
            parsed, encoding, decoding = _parse(body, _headers(charset, content_type, "windows-1254"))
    except _NotXML:
        if looks_html:
            raise FeedParseError("not a feed: looks like an HTML page") from None
        raise
    if not parsed.entries and not parsed.get("version"):
        if looks_html:
            raise FeedParseError("not a feed: looks like an HTML page")
        reason = _bozo_reason(parsed, decoding) or "no entries and no feed version"
        raise FeedParseError(f"not a feed: {reason}")
    entries = [entry for raw in parsed.entries if (entry := _entry(raw, url)) is not None]
    title = clip(html_to_text(parsed.feed.get("title", "") or ""), MAX_TITLE_CHARS)
    declared = parsed.feed.get("language")
    language = (declared.strip()[:64] or None) if isinstance(declared, str) else None
    bozo_reason = _bozo_reason(parsed, decoding)
    return ParsedFeed(title=title, entries=entries, bozo_reason=bozo_reason, language=language)
