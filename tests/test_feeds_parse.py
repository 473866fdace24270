"""Feed parsing: every RSS/Atom flavour, Turkish encodings, and bodies that must be refused."""

import asyncio
import codecs
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.sources.feeds import FeedEntry, FeedParseError, ParsedFeed, html_to_text, parse_feed
from bot.text import MAX_BODY_CHARS, MAX_TITLE_CHARS
from tests.news_site import NewsSite

FIXTURES = Path(__file__).parent / "fixtures"
FEED_URL = "https://caspianherald.example/en/rss"
UTC = dt.UTC


def _parse(name: str, content_type: str | None = "application/xml", charset: str | None = None) -> ParsedFeed:
    body = (FIXTURES / name).read_bytes()
    return parse_feed(body, charset=charset, content_type=content_type, url=FEED_URL)


def test_rss20() -> None:
    feed = _parse("rss20.xml", "application/rss+xml")
    assert feed.title == "Caspian Herald & Hazar Haber — Gündem"
    assert feed.bozo_reason is None
    first, second, guid_only = feed.entries  # the item with neither link, guid nor title is skipped
    assert first == FeedEntry(
        guid="news-10231",
        link="https://caspianherald.example/en/news/politics/2023/07/31/diaspora-statement"
        "?utm_source=rss&utm_medium=feed",
        title="Azerbaijani diaspora organizations issued a statement",
        summary="Azerbaijani diaspora organizations issued a statement regarding the situation around the "
        "Lachin road.\nThe statement reads “double standards” & more.",
        published=dt.datetime(2023, 7, 31, 10, 20, tzinfo=UTC),
    )
    assert second.title == "İstanbul'da şiddetli yağış uyarısı"
    assert (
        second.summary
        == "Meteoroloji'den Şişli ve Üsküdar için uyarı: ağaçlar devrilebilir & çığ riski sürüyor."
    )
    assert second.published == dt.datetime(2023, 8, 5, 11, 30, tzinfo=UTC)
    # A relative <link> is resolved against the feed URL, the permalink guid is kept verbatim.
    assert second.link == "https://caspianherald.example/tr/haber/istanbul-yagis"
    assert guid_only.guid == "only-guid-1"
    assert guid_only.link is None  # a permalink guid that is not a URL does not become a link
    assert guid_only.published is None


def test_summary_has_no_markup_or_script() -> None:
    summary = _parse("rss20.xml").entries[0].summary
    assert "<" not in summary and "alert" not in summary and "&nbsp;" not in summary


def test_rss091_with_netscape_doctype() -> None:
    feed = _parse("rss091.xml", "text/xml")
    assert feed.title == "Caspian Herald 0.91"
    assert [(e.title, e.link, e.guid) for e in feed.entries] == [
        ("Baku hosts international energy forum", "https://caspianherald.example/en/news/energy-forum", None)
    ]
    assert feed.entries[0].summary == "Ministers from 30 countries attended."


def test_rss092() -> None:
    feed = _parse("rss092.xml", None)
    assert [e.title for e in feed.entries] == ["New metro station opens next month"]
    assert feed.entries[0].summary == "The station will serve 50,000 passengers a day."


def test_rss10_rdf() -> None:
    feed = _parse("rss10.rdf", "application/rdf+xml")
    (entry,) = feed.entries
    assert entry.title == "Ganja hosts a book fair"
    assert entry.link == "https://caspianherald.example/en/news/rdf-1"
    assert entry.summary == "Publishers from Türkiye and Azerbaijan took part."
    assert entry.published == dt.datetime(2023, 7, 30, 5, 15, tzinfo=UTC)


def test_atom10() -> None:
    feed = _parse("atom10.xml", "application/atom+xml", "utf-8")
    assert feed.title == "Caspian Herald Atom"
    festival, updated_only = feed.entries
    assert festival.title == "Şuşa festival begins"
    assert festival.guid == "tag:caspianherald.example,2023:shusha"
    assert festival.link == "https://caspianherald.example/en/news/shusha-festival"
    assert festival.summary == "The Kharibulbul festival opened in Şuşa."
    assert festival.published == dt.datetime(2023, 7, 29, 14, 0, tzinfo=UTC)
    assert updated_only.published == dt.datetime(2023, 7, 31, 10, 0, tzinfo=UTC)


def _assert_turkish(feed: ParsedFeed) -> None:
    assert feed.title == "Hazar Haber - Gündem"
    first, second = feed.entries
    assert first.title == "Şanlıurfa'da İğdır yolu yeniden açıldı"
    assert first.summary.startswith("Ağır kış şartları")
    assert "ıslak zemine" in first.summary
    assert second.title == "İzmir'de Şükrü Saracoğlu sergisi"
    assert first.guid == "hh-1001"
    assert first.published == dt.datetime(2023, 7, 31, 11, 20, tzinfo=UTC)


@pytest.mark.parametrize("content_type", ["application/rss+xml", "text/xml", "application/xml", None])
def test_windows_1254_declared_in_xml(content_type: str | None) -> None:
    feed = _parse("rss_windows1254_declared.xml", content_type)
    _assert_turkish(feed)
    assert feed.bozo_reason is None


@pytest.mark.parametrize("content_type", ["application/rss+xml", "text/xml"])
def test_windows_1254_only_in_http_header(content_type: str) -> None:
    _assert_turkish(_parse("rss_windows1254_undeclared.xml", content_type, "windows-1254"))


def test_windows_1254_with_no_charset_anywhere_is_recovered() -> None:
    # feedparser falls back to windows-1252 (ş→þ, ı→ý); the Turkish mojibake check re-reads it as 1254.
    _assert_turkish(_parse("rss_windows1254_undeclared.xml", "application/rss+xml", None))


def test_http_charset_wins_over_wrong_xml_declaration() -> None:
    body = (FIXTURES / "rss_windows1254_declared.xml").read_bytes()
    body = body.replace(b'encoding="windows-1254"', b'encoding="utf-8"')
    feed = parse_feed(body, charset="windows-1254", content_type="application/rss+xml", url=FEED_URL)
    _assert_turkish(feed)


@pytest.mark.parametrize("name", ["entity_bomb.xml", "external_entity.xml"])
def test_entity_declarations_refused(name: str) -> None:
    with pytest.raises(FeedParseError, match=r"^XML entity declarations are not allowed$"):
        _parse(name)


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"])
def test_entity_declarations_refused_in_wide_encodings(codec: str) -> None:
    text = '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "b">]><rss version="2.0"/>'
    with pytest.raises(FeedParseError, match="entity declarations"):
        parse_feed(text.encode(codec), charset=None, content_type=None, url=FEED_URL)


def test_entity_declarations_refused_after_comments_and_processing_instructions() -> None:
    body = (
        b'<?xml version="1.0"?>\n<!-- generated -->\n<?xml-stylesheet href="s.xsl"?>\n'
        b'<!DOCTYPE rss [<!ENTITY x SYSTEM "http://127.0.0.1:1/steal">]>\n'
        b'<rss version="2.0"><channel><item><title>&x;</title></item></channel></rss>'
    )
    with pytest.raises(FeedParseError, match="entity declarations"):
        parse_feed(body, charset=None, content_type="application/rss+xml", url=FEED_URL)


@pytest.mark.parametrize(
    ("name", "content_type"), [("article_semantic.html", "text/html"), ("error_404.html", None)]
)
def test_html_page_is_not_a_feed(name: str, content_type: str | None) -> None:
    with pytest.raises(FeedParseError, match=r"^not a feed: looks like an HTML page$"):
        _parse(name, content_type, "utf-8")


@pytest.mark.parametrize("body", [b"", b"  \n\t", b"\n"])
def test_empty_body(body: bytes) -> None:
    with pytest.raises(FeedParseError, match=r"^empty body$"):
        parse_feed(body, charset=None, content_type="application/rss+xml", url=FEED_URL)


def test_garbage_is_not_a_feed() -> None:
    with pytest.raises(FeedParseError, match=r"^not a feed"):
        parse_feed(b"just some words", charset=None, content_type="text/plain", url=FEED_URL)


def test_bytes_are_never_treated_as_a_file_name(tmp_path: Path) -> None:
    # feedparser.parse(bytes) would open() a body that happens to be a path; we pass a stream instead.
    secret = tmp_path / "secret.xml"
    secret.write_text("<rss version='2.0'><channel><item><title>leak</title></item></channel></rss>")
    with pytest.raises(FeedParseError):
        parse_feed(str(secret).encode(), charset=None, content_type=None, url=FEED_URL)


def test_bozo_feed_with_entries_is_used() -> None:
    feed = _parse("bozo_rss.xml")
    assert feed.bozo_reason
    assert [e.title for e in feed.entries] == ["Trade & transit talks resume", "Second item survives"]


def test_valid_feed_without_entries() -> None:
    body = b"<?xml version='1.0'?><rss version='2.0'><channel><title>Quiet day</title></channel></rss>"
    feed = parse_feed(body, charset=None, content_type="application/rss+xml", url=FEED_URL)
    assert feed == ParsedFeed(title="Quiet day", entries=[], bozo_reason=None)


@pytest.mark.parametrize(
    ("fragment", "expected"),
    [
        ("plain text", "plain text"),
        ("<p>One</p><p>Two &amp; three</p>", "One\nTwo & three"),
        ("a<br>b", "a\nb"),
        ("<script>alert(1)</script><style>p{}</style>Safe", "Safe"),
        ("Tom &amp; Jerry &#8212; &quot;x&quot; &lt;b&gt;", 'Tom & Jerry — "x" <b>'),
        ("<img src=x onerror=alert(1)>caption", "caption"),
        ("  lots   of\n\n  space ", "lots of\nspace"),
        ("", ""),
    ],
)
def test_html_to_text(fragment: str, expected: str) -> None:
    assert html_to_text(fragment) == expected


@given(st.binary(max_size=400) | st.text(max_size=200).map(lambda t: f"<rss version='2.0'>{t}".encode()))
@settings(max_examples=200, deadline=None)
def test_arbitrary_bytes_give_a_feed_or_feed_parse_error(body: bytes) -> None:
    try:
        parsed = parse_feed(body, charset=None, content_type=None, url=FEED_URL)
    except FeedParseError as err:
        assert str(err)
    else:
        assert all(e.title or e.link or e.guid for e in parsed.entries)


# --- Hostile XML: the check is expat itself, so nothing before the DOCTYPE can hide it -------------------

ITEM = b'<rss version="2.0"><channel><title>T</title><item><title>%s</title><link>https://x.example/1</link>'
ITEM += b"<description>%s</description></item></channel></rss>"
LAUGHS = b"".join(
    b'<!ENTITY l%d "%s">\n' % (n, (b"&l%d;" % (n - 1)) * 10 if n else b"x" * 100) for n in range(5)
)  # &l4; is 1,000,000 characters
HOSTILE = {
    "billion laughs": (b"<!DOCTYPE rss [\n" + LAUGHS + b"]>\n", b"&l4;"),
    "quadratic blowup": (b'<!DOCTYPE rss [<!ENTITY a "' + b"x" * 20_000 + b'">]>\n', b"&a;" * 500),
    "external file": (b'<!DOCTYPE rss [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n', b"&x;"),
    "unparsed entity": (b'<!DOCTYPE rss [<!NOTATION n SYSTEM "n"><!ENTITY u SYSTEM "x" NDATA n>]>\n', b"u"),
}
PREFIXES = {  # what comes before the DOCTYPE
    "nothing": b"",
    "comment trick": b"<!-- <a -->\n",
    "comment with markup": b"<!-- <rss><item><title>fake</title></item></rss> -->\n",
    "processing instruction": b'<?xml-stylesheet href="<b.xsl"?>\n',
    "blank lines": b"\n\n",
}


def hostile(prefix: bytes, prolog: bytes, title: bytes) -> bytes:
    return b'<?xml version="1.0"?>\n' + prefix + prolog + ITEM % (title, title)


@pytest.mark.parametrize("attack", HOSTILE)
@pytest.mark.parametrize("prefix", PREFIXES)
def test_entity_declarations_are_refused_whatever_precedes_the_doctype(attack: str, prefix: str) -> None:
    body = hostile(PREFIXES[prefix], *HOSTILE[attack])
    assert len(body) < 60_000
    with pytest.raises(FeedParseError, match=r"^XML entity declarations are not allowed$"):
        parse_feed(body, charset=None, content_type="application/rss+xml", url=FEED_URL)


def test_the_comment_trick_no_longer_yields_a_megabyte_title() -> None:
    # The reproduction: a 500-byte feed whose comment hid the DOCTYPE from a text scan.
    body = hostile(b"<!-- <a -->\n", *HOSTILE["billion laughs"])
    assert len(body) < 800
    with pytest.raises(FeedParseError, match="entity declarations"):
        parse_feed(body, charset=None, content_type=None, url=FEED_URL)


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be", "utf-32"])
def test_entity_declarations_are_refused_behind_the_comment_trick_in_wide_encodings(codec: str) -> None:
    body = hostile(b"<!-- <a -->\n", *HOSTILE["quadratic blowup"]).decode().encode(codec)
    with pytest.raises(FeedParseError, match="entity declarations"):
        parse_feed(body, charset=None, content_type=None, url=FEED_URL)


@pytest.mark.parametrize(
    "prolog",
    [
        b'<!-- \n<!DOCTYPE rss>\n<!ENTITY a "%s">\n -->\n',  # feedparser's own prolog regexes see these
        b'<?pi \n<!DOCTYPE rss>\n<!ENTITY a "%s">\n ?>\n',
    ],
)
def test_declarations_inside_comments_are_never_expanded(prolog: bytes) -> None:
    big = b"y" * 20_000
    body = b'<?xml version="1.0"?>\n' + prolog % big + ITEM % (b"&a;" * 50, b"&a;" * 50)
    try:
        feed = parse_feed(body, charset=None, content_type=None, url=FEED_URL)
    except FeedParseError:
        return
    assert all(len(e.title) < 1000 and len(e.summary) < 1000 for e in feed.entries)


def test_a_root_element_feedparser_cannot_find_is_refused() -> None:
    # feedparser looks for the root with <\w; a non-ASCII root would let its prolog scan run into the content.
    body = '<?xml version="1.0"?>\n<örss><!--\n<!DOCTYPE r>\n<!ENTITY a "zzz">\n--><item/></örss>'.encode()
    with pytest.raises(FeedParseError, match="not a feed"):
        parse_feed(body, charset=None, content_type=None, url=FEED_URL)


@pytest.mark.parametrize(
    "doctype",
    [
        b"<!DOCTYPE rss>",
        b'<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" "rss-0.91.dtd">',
        b"<!DOCTYPE rss [<!ELEMENT rss ANY><!ATTLIST rss version CDATA #IMPLIED>]>",
        b"<!-- <a --><!DOCTYPE rss>",
    ],
)
def test_a_doctype_without_entities_still_parses(doctype: bytes) -> None:
    body = b'<?xml version="1.0"?>\n' + doctype + b"\n" + ITEM % (b"Fine &amp; dandy", b"Plain")
    (entry,) = parse_feed(body, charset=None, content_type="text/xml", url=FEED_URL).entries
    assert (entry.title, entry.summary) == ("Fine & dandy", "Plain")


@pytest.fixture
async def lure() -> AsyncIterator[NewsSite]:
    """A server a hostile feed points at; the parser must never ask it for anything."""
    async with NewsSite() as site:
        site.raw("/evil.dtd", b'<!ENTITY x "stolen">', content_type="application/xml-dtd")
        site.raw("/secret", b"stolen", content_type="text/plain")
        yield site


@pytest.mark.parametrize(
    "prolog",
    [
        b'<!DOCTYPE rss [<!ENTITY x SYSTEM "{secret}">]>',
        b'<!DOCTYPE rss [<!ENTITY % p SYSTEM "{dtd}"> %p;]>',
        b'<!-- <a --><!DOCTYPE rss [<!ENTITY % p SYSTEM "{dtd}"> %p;]>',
    ],
)
async def test_external_entities_are_refused_and_never_fetched(lure: NewsSite, prolog: bytes) -> None:
    prolog = prolog.replace(b"{secret}", lure.url("/secret").encode()).replace(
        b"{dtd}", lure.url("/evil.dtd").encode()
    )
    body = b'<?xml version="1.0"?>\n' + prolog + b"\n" + ITEM % (b"&x;", b"&x;")
    with pytest.raises(FeedParseError, match=r"^XML entity declarations are not allowed$"):
        await asyncio.to_thread(parse_feed, body, charset=None, content_type=None, url=FEED_URL)
    assert lure.requests == []


async def test_an_external_dtd_is_never_fetched(lure: NewsSite) -> None:
    body = b'<?xml version="1.0"?>\n<!DOCTYPE rss SYSTEM "' + lure.url("/evil.dtd").encode() + b'">\n'
    body += ITEM % (b"&x;Plain", b"Text")
    feed = await asyncio.to_thread(parse_feed, body, charset=None, content_type=None, url=FEED_URL)
    assert [e.title for e in feed.entries] in ([""], ["Plain"], ["&x;Plain"])
    assert "stolen" not in repr(feed)
    assert lure.requests == []


# --- Encodings: a BOM decides, a declared single-byte Turkish charset is honoured ----------------------

TURKISH = "Şanlıurfa'da İğdır yolu açıldı"


def turkish_feed(declared: str | None) -> str:
    declaration = f'<?xml version="1.0" encoding="{declared}"?>' if declared else '<?xml version="1.0"?>'
    return (
        declaration + f'\n<rss version="2.0"><channel><title>Gündem</title><item><title>{TURKISH}</title>'
        "<link>https://x.example/1</link></item></channel></rss>"
    )


@pytest.mark.parametrize("declared", [None, "UTF-16"])
@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("charset", [None, "utf-8"])  # a BOM beats a wrong HTTP charset
def test_utf16_feeds(declared: str | None, codec: str, charset: str | None) -> None:
    bom = {"utf-16": b"", "utf-16-le": codecs.BOM_UTF16_LE, "utf-16-be": codecs.BOM_UTF16_BE}[codec]
    body = bom + turkish_feed(declared).encode(codec)
    feed = parse_feed(body, charset=charset, content_type="application/rss+xml", url=FEED_URL)
    assert feed.title == "Gündem"
    assert [e.title for e in feed.entries] == [TURKISH]


@pytest.mark.parametrize("content_type", [None, "text/xml", "application/rss+xml"])
def test_iso_8859_9_declared(content_type: str | None) -> None:
    body = turkish_feed("ISO-8859-9").encode("iso-8859-9")
    feed = parse_feed(body, charset=None, content_type=content_type, url=FEED_URL)
    assert [e.title for e in feed.entries] == [TURKISH]


@pytest.mark.parametrize("lead", [b"\n\n", b"  \r\n", codecs.BOM_UTF8 + b"\n"])
def test_blank_lines_before_the_declaration_are_forgiven(lead: bytes) -> None:
    body = lead + turkish_feed("windows-1254").encode("windows-1254")
    feed = parse_feed(body, charset=None, content_type="application/rss+xml", url=FEED_URL)
    assert [e.title for e in feed.entries] == [TURKISH]


def test_blank_lines_before_a_wide_declaration_are_forgiven() -> None:
    body = codecs.BOM_UTF16_LE + ("\n\n" + turkish_feed("UTF-16")).encode("utf-16-le")
    feed = parse_feed(body, charset=None, content_type=None, url=FEED_URL)
    assert [e.title for e in feed.entries] == [TURKISH]


def test_a_declared_codec_that_decodes_nothing_is_a_parse_error() -> None:
    body = turkish_feed("undefined").encode()
    with pytest.raises(FeedParseError, match="not a feed"):
        parse_feed(body, charset=None, content_type=None, url=FEED_URL)


# --- Caps: no field grows beyond what one article can use -----------------------------------------------


def test_titles_and_texts_are_capped() -> None:
    word = b"kelime "
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>' + word * 10_000 + b"</title>"
        b"<item><title>" + word * 200_000 + b"</title><description>" + word * 200_000 + b"</description>"
        b"<guid>" + b"g" * 100_000 + b"</guid></item></channel></rss>"
    )
    feed = parse_feed(body, charset=None, content_type=None, url=FEED_URL)
    (entry,) = feed.entries
    assert len(feed.title) <= MAX_TITLE_CHARS and feed.title.endswith("…")
    assert len(entry.title) <= MAX_TITLE_CHARS and entry.title.startswith("kelime kelime")
    assert len(entry.summary) <= MAX_BODY_CHARS and entry.summary.endswith("kelime…")
    assert entry.guid is not None and len(entry.guid) <= 2048


# --- Property: whatever the prolog, parse_feed answers with a feed or FeedParseError, never an expansion --

PROLOG_PARTS = st.sampled_from(
    [
        b"<!-- <a -->",
        b"<!--",
        b"-->",
        b"<?pi x?>",
        b"<?xml version='1.0'?>",
        b"<!DOCTYPE rss>",
        b"<!DOCTYPE rss [",
        b"]>",
        b'<!ENTITY a "aaaaaaaaaaaaaaaaaaaa">',
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">',
        b'<!ENTITY % p "x">',
        b'<!ENTITY e SYSTEM "file:///etc/passwd">',
        b"<!ELEMENT rss ANY>",
        b"\n",
        b"\xef\xbb\xbf",
        b"\xff\xfe",
        b"\x00",
        b"<rss version='2.0'>",
        b"<channel><item><title>&b;&b;&e;</title><link>https://x.example/</link></item></channel>",
        b"</rss>",
    ]
)


@given(st.lists(PROLOG_PARTS | st.binary(max_size=8), max_size=14).map(b"".join))
@settings(max_examples=400, deadline=None)
def test_any_prolog_gives_a_feed_or_feed_parse_error_and_never_expands(body: bytes) -> None:
    try:
        feed = parse_feed(body, charset=None, content_type=None, url=FEED_URL)
    except FeedParseError as err:
        assert str(err)
        return
    texts = [feed.title] + [text for e in feed.entries for text in (e.title, e.summary, e.guid or "")]
    assert all(len(text) <= len(body) for text in texts), "nothing comes out longer than what went in"
