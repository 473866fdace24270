"""Feed parsing: every RSS/Atom flavour, Turkish encodings, and bodies that must be refused."""

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.sources.feeds import FeedEntry, FeedParseError, ParsedFeed, html_to_text, parse_feed

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
