"""Article extraction from the outlet's HTML pages: headline, date and body without the page furniture."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

import lxml.html
import trafilatura
from lxml import etree
from trafilatura.utils import decode_file

from bot.sources.images import page_image
from bot.sources.links import fold_text
from bot.text import MAX_BODY_CHARS, MAX_TITLE_CHARS, clip

__all__ = [
    "ExtractedArticle",
    "ExtractionError",
    "clean_text",
    "extract_article",
    "parse_date_line",
    "strip_site_suffix",
]

MIN_TEXT_CHARS = 80  # shorter bodies are error pages, teasers or cookie walls, not articles

# The outlet's weather widget lists every province; a line made of these is never article text.
_PROVINCE_NAMES = (
    "Adana Adıyaman Afyon Ağrı Aksaray Amasya Ankara Antalya Ardahan Artvin Aydın Balıkesir Bartın "
    "Batman Bayburt Bilecik Bingöl Bitlis Bolu Burdur Bursa Çanakkale Çankırı Çorum Denizli Diyarbakır "
    "Düzce Edirne Elazığ Erzincan Erzurum Eskişehir Gaziantep Giresun Gümüşhane Hakkari Hatay Iğdır "
    "Isparta İstanbul İzmir K.Maraş Kahramanmaraş Maraş Karabük Karaman Kars Kastamonu Kayseri Kırıkkale "
    "Kırklareli Kırşehir Kilis Kocaeli Konya Kütahya Malatya Manisa Mardin Mersin Muğla Muş Nevşehir "
    "Niğde Ordu Osmaniye Rize Sakarya Samsun Siirt Sinop Sivas Şanlıurfa Şırnak Tekirdağ Tokat Trabzon "
    "Tunceli Uşak Van Yalova Yozgat Zonguldak"
)
PROVINCES = frozenset(word for name in _PROVINCE_NAMES.split() for word in fold_text(name).split())

# Social/share widget sentences, matched against whole short lines only.
_WIDGET_LINES = re.compile(
    r"(recommend (it|this) (among|to) your friends|^be the first to (like|recommend|comment)"
    r"|^share (this|on)\b|^(follow us|subscribe)\b|ilk öneren siz olun|^paylaş\b|^(bizi )?takip edin)",
    re.IGNORECASE,
)
_TEMPERATURE_WIDGET = re.compile(r"^[^\W\d_][\w .'’-]{0,30}\s*-?\d*\s*°\s*[CF]?$")
_ERROR_TITLE = re.compile(
    r"^\s*(\d{3}\b|error\b|not found|page not found|access denied|forbidden|sayfa bulunamadı|hata\b)",
    re.IGNORECASE,
)
_SITE_SEPARATORS = (" | ", " - ", " – ", " — ", " :: ", " » ", " « ", " · ")

_MONTHS: dict[str, int] = {}
for _number, _names in enumerate(
    (
        "january jan ocak oca yanvar",
        "february feb şubat şub fevral",
        "march mar mart",
        "april apr nisan nis aprel",
        "may mayıs",
        "june jun haziran haz iyun",
        "july jul temmuz tem iyul",
        "august aug ağustos ağu avqust",
        "september sep sept eylül eyl sentyabr",
        "october oct ekim eki oktyabr",
        "november nov kasım kas noyabr",
        "december dec aralık ara dekabr",
    ),
    start=1,
):
    for _name in _names.split():
        _MONTHS[fold_text(_name)] = _number

_ISO_DATE = re.compile(r"(?<!\d)(\d{4})-(\d{1,2})-(\d{1,2})(?!\d)")
_NUMERIC_DATE = re.compile(r"(?<!\d)(\d{1,2})[./-](\d{1,2})[./-](\d{4})(?!\d)")
_DAY_MONTH_YEAR = re.compile(r"(?<!\d)(\d{1,2})\.?\s+([^\W\d_]{3,})\.?,?\s+(\d{4})(?!\d)")
_MONTH_DAY_YEAR = re.compile(r"(?<![^\W\d_])([^\W\d_]{3,})\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})(?!\d)")
_MAX_DATE_LINE = 80
_MAX_DATE_LINE_EXTRA_WORDS = 4  # "Monday,", "14:20", "Published:" around the date itself


class ExtractionError(Exception):
    """A page has no usable article; str(error) is a short reason for logs and admins."""


@dataclass
class ExtractedArticle:
    """One article's headline, publication day and body text, ready to be stored and posted."""

    title: str
    published: dt.date | None
    text: str
    url: str | None
    language: str | None = None  # as the page declares it (`<html lang>`, ...), not yet normalised
    image_url: str | None = None  # og:image / twitter:image


def clean_text(text: str) -> str:
    """Normalise whitespace and Unicode so stored text compares and renders the same everywhere."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    lines = [re.sub(r"[^\S\n]+", " ", line).strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _make_date(year: int, month: int, day: int) -> dt.date | None:
    """Build a date only if it is real and plausible for a news page."""
    if not 1990 <= year <= 2100:
        return None
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _find_date(text: str) -> tuple[dt.date, re.Match[str]] | None:
    """Find the first date in a line in any format the outlet uses."""
    for pattern in (_ISO_DATE, _NUMERIC_DATE, _DAY_MONTH_YEAR, _MONTH_DAY_YEAR):
        for m in pattern.finditer(text):
            a, b, c = m.groups()
            if pattern is _ISO_DATE:
                found = _make_date(int(a), int(b), int(c))
            elif pattern is _NUMERIC_DATE:  # day first, as in Turkey and Europe
                found = _make_date(int(c), int(b), int(a))
            elif pattern is _DAY_MONTH_YEAR:
                month = _MONTHS.get(fold_text(b))
                found = _make_date(int(c), month, int(a)) if month else None
            else:
                month = _MONTHS.get(fold_text(a))
                found = _make_date(int(c), month, int(b)) if month else None
            if found is not None:
                return found, m
    return None


def parse_date_line(line: str) -> dt.date | None:
    """Read a short visible date line ("31 July, 2023", "31 Temmuz 2023", "31.07.2023", ISO), else None.

    Long lines are refused so that dates quoted inside article sentences are not taken for the dateline.
    """
    line = line.strip()
    if not line or len(line) > _MAX_DATE_LINE:
        return None
    found = _find_date(line)
    if found is None:
        return None
    date, match = found
    rest = (line[: match.start()] + " " + line[match.end() :]).split()
    return date if len(rest) <= _MAX_DATE_LINE_EXTRA_WORDS else None


def strip_site_suffix(title: str, site_names: Iterable[str] = ()) -> str:
    """Drop " - Site Name" (or "Site Name | ") from a <title>, but only when that part is the site's name."""
    title = clean_text(title)
    names = {fold_text(n) for n in site_names if n and fold_text(n)}
    if not names:
        return title
    for sep in _SITE_SEPARATORS:
        head, found, tail = title.rpartition(sep)
        if found and head.strip() and fold_text(tail) in names:
            return head.strip()
        head, found, tail = title.partition(sep)
        if found and tail.strip() and fold_text(head) in names:
            return tail.strip()
    return title


def _decode(html: str | bytes, charset: str | None) -> str:
    """Turn page bytes into text using the HTTP charset when known, else trafilatura's detection."""
    if isinstance(html, str):
        return html
    if charset:
        try:
            return html.decode(charset, errors="replace")
        except LookupError:
            pass
    return decode_file(html)


def _parse_tree(text: str) -> lxml.html.HtmlElement | None:
    """Parse the page once for our own fallbacks (trafilatura mutates the tree it gets)."""
    try:
        parser = lxml.html.HTMLParser(encoding="utf-8", remove_comments=True)
        return lxml.html.document_fromstring(text.encode("utf-8", errors="replace"), parser=parser)
    except (etree.ParserError, ValueError):
        return None


def _visible_lines(tree: lxml.html.HtmlElement | None) -> list[str]:
    """List the page's text nodes in reading order, skipping scripts and styles."""
    if tree is None:
        return []
    lines: list[str] = []
    for el in tree.iter():
        if el.tag in ("script", "style", "noscript", "template") or not isinstance(el.tag, str):
            if isinstance(el.tail, str) and el.tail.strip():
                lines.append(clean_text(el.tail))
            continue
        for chunk in (el.text, el.tail):
            if chunk and chunk.strip():
                lines.append(clean_text(chunk))
    return lines


def _first_text(tree: lxml.html.HtmlElement | None, xpath: str) -> str:
    """Return the first non-empty string an XPath yields, or ""."""
    if tree is None:
        return ""
    for found in tree.xpath(xpath):
        value = clean_text(found.text_content() if hasattr(found, "text_content") else str(found))
        if value:
            return value
    return ""


def _pick_title(meta_title: str, tree: lxml.html.HtmlElement | None, site_names: list[str]) -> str:
    """Choose the headline: trafilatura's, else <h1>, og:title, then <title> without the site name."""
    for candidate in (
        meta_title,
        _first_text(tree, "//h1"),
        _first_text(tree, "//meta[@property='og:title']/@content"),
        _first_text(tree, "//title"),
    ):
        title = strip_site_suffix(candidate, site_names)
        if title and fold_text(title) not in {fold_text(n) for n in site_names}:
            return title
    return ""


def _is_boilerplate(line: str) -> bool:
    """Recognise widget lines (province list, temperature, share buttons) that trafilatura can keep."""
    if len(line) <= 80 and _WIDGET_LINES.search(line):
        return True
    if len(line) <= 40 and "°" in line and _TEMPERATURE_WIDGET.match(line):
        return True
    words = fold_text(line).split()
    if len(words) >= 8:
        provinces = sum(1 for w in words if w in PROVINCES)
        return provinces >= 0.8 * len(words)
    return False


def _clean_body(raw: str, title: str) -> list[str]:
    """Keep the article's paragraphs: no widget lines, no repeated headline, no leading dateline."""
    folded_title = fold_text(title)
    paragraphs = [p for p in clean_text(raw).split("\n") if p and not _is_boilerplate(p)]
    paragraphs = [p for p in paragraphs if not folded_title or fold_text(p) != folded_title]
    while paragraphs and parse_date_line(paragraphs[0]) is not None:
        paragraphs.pop(0)
    return paragraphs


def _find_visible_date(lines: list[str], title: str) -> dt.date | None:
    """Find the dateline the reader sees, preferring the first one after the headline."""
    folded_title = fold_text(title)
    start = 0
    if folded_title:
        start = next((i for i, line in enumerate(lines) if fold_text(line) == folded_title), 0)
    for line in lines[start:] + lines[:start]:
        date = parse_date_line(line)
        if date is not None:
            return date
    return None


def _metadata_date(value: object) -> dt.date | None:
    """Read trafilatura's YYYY-MM-DD date string."""
    if not isinstance(value, str):
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


def extract_article(
    html: str | bytes, url: str | None = None, *, charset: str | None = None
) -> ExtractedArticle:
    """Extract one article from a page; raises ExtractionError when the page holds no article."""
    text = _decode(html, charset)
    if not text.strip():
        raise ExtractionError("empty page")
    # Only markup-level date search: the extensive search picks dates quoted in the body
    # (e.g. "the July 28, 2023 statement") when the dateline is not marked up.
    date_params = {"original_date": True, "extensive_search": False, "max_date": dt.date.today().isoformat()}
    try:
        doc = trafilatura.bare_extraction(
            text,
            url=url,
            favor_precision=True,
            include_comments=False,
            include_tables=False,
            include_images=False,
            with_metadata=True,
            date_extraction_params=date_params,
        )
    except Exception as exc:  # trafilatura/lxml raise assorted errors on hostile markup
        raise ExtractionError(f"extractor failed: {type(exc).__name__}") from exc
    if doc is None or not (doc.text or "").strip():
        raise ExtractionError("no article text found")

    tree = _parse_tree(text)
    site_names = [n for n in (doc.sitename, doc.hostname) if n]
    title = _pick_title(doc.title or "", tree, site_names)
    if _ERROR_TITLE.match(title):
        raise ExtractionError(f"looks like an error page: {title[:60]!r}")
    paragraphs = _clean_body(doc.text, title)
    if not title and paragraphs and len(paragraphs[0]) <= 200:
        title = paragraphs.pop(0)  # the outlet's headline is the first short line
        paragraphs = _clean_body("\n".join(paragraphs), title)
    body = "\n\n".join(paragraphs)
    if len(body) < MIN_TEXT_CHARS:
        raise ExtractionError(f"article text too short ({len(body)} characters)")
    if not title:
        raise ExtractionError("no headline found")

    published = _metadata_date(doc.date) or _find_visible_date(_visible_lines(tree), title)
    title, body = clip(title, MAX_TITLE_CHARS), clip(body, MAX_BODY_CHARS)
    url = url or doc.url or None
    image = page_image(tree, url)
    return ExtractedArticle(
        title=title, published=published, text=body, url=url, image_url=image, language=_page_language(tree)
    )


_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def _page_language(tree: lxml.html.HtmlElement | None) -> str | None:
    """The language the page declares: `<html lang>`, else its content-language or og:locale meta."""
    if tree is None:
        return None
    declared = tree.get("lang") or tree.get(_XML_LANG) or tree.get("xml:lang")
    if declared and declared.strip():
        return declared.strip()[:64]
    for xpath in (
        "//meta[translate(@http-equiv, 'CONTENTLAGU', 'contentlagu')='content-language']/@content",
        "//meta[@property='og:locale']/@content",
    ):
        found = _first_text(tree, xpath)
        if found:
            return found.split(",")[0].strip()[:64]
    return None
