"""Article extraction on pages shaped like the outlet's: widget, repeated headline, dateline, share box."""

import datetime as dt
import html
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.sources.extract import (
    ExtractedArticle,
    ExtractionError,
    clean_text,
    extract_article,
    parse_date_line,
    strip_site_suffix,
)
from bot.text import MAX_BODY_CHARS, MAX_TITLE_CHARS

FIXTURES = Path(__file__).parent / "fixtures"
HEADLINE = "Azerbaijani diaspora organizations issued a statement"
TURKISH_HEADLINE = "İstanbul'da şiddetli yağış uyarısı: Ağaçlar devrildi, çığ riski sürüyor"
FURNITURE = [
    "Adana",
    "Adıyaman",
    "Zonguldak",
    "K.Maraş",
    "°C",
    "recommend it among your friends",
    "All rights reserved",
    "About us",
    "Most read",
    "Latest news",
    "Baku hosts international energy forum",
    "Facebook",
]


def _read(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def _seed_as_plain_divs() -> str:
    """The seed text page rendered as anonymous divs, the worst markup the outlet could serve."""
    seed = _read("seed_000_aa6268dce0c44e0c.txt")
    rows = "".join(f"<div>{html.escape(line)}</div>\n" for line in seed.splitlines())
    return f"<html><head><meta charset='utf-8'></head><body>{rows}</body></html>"


def _assert_outlet_article(article: ExtractedArticle) -> None:
    assert article.title == HEADLINE
    assert article.published == dt.date(2023, 7, 31)
    assert "The statement reads" in article.text
    assert "double standards" in article.text
    assert "303 Azerbaijanis, including two journalists" in article.text
    for junk in FURNITURE:
        assert junk not in article.text, junk
    first = article.text.split("\n")[0]
    assert first.startswith("Azerbaijani diaspora organizations issued a statement regarding")
    assert HEADLINE not in article.text.split("\n")
    assert "31 July, 2023" not in article.text
    assert "\n\n\n" not in article.text
    assert article.text == article.text.strip()


@pytest.mark.parametrize("name", ["article_semantic.html", "article_divs.html"])
def test_outlet_pages(name: str) -> None:
    _assert_outlet_article(extract_article(_read(name), url="https://caspianherald.example/en/news/1"))


def test_seed_text_as_unstyled_divs() -> None:
    _assert_outlet_article(extract_article(_seed_as_plain_divs()))


def test_paragraphs_are_separated_by_blank_lines() -> None:
    article = extract_article(_read("article_divs.html"))
    paragraphs = article.text.split("\n\n")
    assert len(paragraphs) == 7
    assert paragraphs[1].startswith("The statement reads:")


def test_url_is_kept_or_taken_from_canonical() -> None:
    given = extract_article(_read("article_semantic.html"), url="https://caspianherald.example/x?id=1")
    assert given.url == "https://caspianherald.example/x?id=1"
    canonical = extract_article(_read("article_semantic.html"))
    assert canonical.url == "https://caspianherald.example/en/news/politics/2023/07/31/diaspora-statement"
    assert extract_article(_read("article_divs.html")).url is None


def test_turkish_page() -> None:
    article = extract_article(_read("article_turkish.html"))
    assert article.title == TURKISH_HEADLINE
    assert article.published == dt.date(2023, 8, 5)  # from the "5 Ağustos 2023 14:30" line
    assert "Şişli, Beşiktaş, Üsküdar ve Sarıyer" in article.text
    assert "ığdır ve Ağrı'dan" in article.text
    assert unicodedata.is_normalized("NFC", article.text)
    for junk in ("Adana", "°C", "ilk öneren siz olun", "Tüm hakları saklıdır", "Anasayfa"):
        assert junk not in article.text


@pytest.mark.parametrize("charset", ["windows-1254", None])
def test_turkish_page_as_windows_1254_bytes(charset: str | None) -> None:
    page = _read("article_turkish.html").replace('charset="utf-8"', 'charset="windows-1254"')
    article = extract_article(page.encode("cp1254"), charset=charset)
    assert article.title == TURKISH_HEADLINE
    assert "Şoförlerin ıslak zeminde" in article.text


@pytest.mark.parametrize(
    "dateline",
    ["31 Temmuz 2023", "31.07.2023", "2023-07-31", "Pazartesi, 31 Temmuz 2023 14:20", "July 31, 2023"],
)
def test_dateline_fallback_when_trafilatura_finds_no_date(dateline: str) -> None:
    # An unhelpful class name hides the dateline from trafilatura's markup heuristics.
    page = _read("article_divs.html").replace(
        '<div class="news-date">31 July, 2023</div>', f'<div class="info">{dateline}</div>'
    )
    article = extract_article(page)
    assert article.published == dt.date(2023, 7, 31)
    assert dateline not in article.text


def test_dates_quoted_in_the_body_are_not_taken_for_the_dateline() -> None:
    # trafilatura's extensive date search would answer 2023-07-28 ("the July 28, 2023 statement").
    page = _read("article_divs.html").replace('<div class="news-date">31 July, 2023</div>', "")
    assert extract_article(page).published is None


@pytest.mark.parametrize(
    ("page", "reason"),
    [
        ("", "empty page"),
        (b"", "empty page"),
        ("   \n\t ", "empty page"),
        ("<html></html>", "no article text"),
        ("<html><body><p>Hi</p></body></html>", "too short"),
        ('{"error": "not found"}', "no article text|too short"),
    ],
)
def test_pages_without_article_raise(page: str | bytes, reason: str) -> None:
    with pytest.raises(ExtractionError, match=reason):
        extract_article(page)


def test_error_page_raises() -> None:
    with pytest.raises(ExtractionError):
        extract_article(_read("error_404.html"))


def test_error_page_with_long_text_is_recognised_by_title() -> None:
    filler = "The page you requested could not be found. It may have been moved or deleted. " * 3
    head = "<head><title>404 Not Found</title></head>"
    page = f"<html>{head}<body><h1>404 Not Found</h1><p>{filler}</p></body></html>"
    with pytest.raises(ExtractionError, match="error page"):
        extract_article(page)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("31 July, 2023", dt.date(2023, 7, 31)),
        ("31 July 2023", dt.date(2023, 7, 31)),
        ("July 31, 2023", dt.date(2023, 7, 31)),
        ("Jul 31st, 2023", dt.date(2023, 7, 31)),
        ("Monday, 31 July 2023 14:20", dt.date(2023, 7, 31)),
        ("31 Temmuz 2023", dt.date(2023, 7, 31)),
        ("31 TEMMUZ 2023 PAZARTESİ", dt.date(2023, 7, 31)),
        ("5 Ağustos 2023 14:30", dt.date(2023, 8, 5)),
        ("14 Şubat 2024", dt.date(2024, 2, 14)),
        ("1 Mayıs 2023", dt.date(2023, 5, 1)),
        ("3 Aralık 2023", dt.date(2023, 12, 3)),
        ("31 İyul 2023", dt.date(2023, 7, 31)),
        ("31.07.2023", dt.date(2023, 7, 31)),
        ("31/07/2023 14:20", dt.date(2023, 7, 31)),
        ("Yayınlanma: 31.07.2023", dt.date(2023, 7, 31)),
        ("2023-07-31", dt.date(2023, 7, 31)),
        ("2023-07-31T14:20:00+04:00", dt.date(2023, 7, 31)),
        ("", None),
        ("31.13.2023", None),
        ("30 February 2023", None),
        ("31 Julember 2023", None),
        ("2023", None),
        ("İstanbul °C", None),
        (HEADLINE, None),
        ("The statement by the Secretary General on July 28, 2023 contradicts the Charter.", None),
    ],
)
def test_parse_date_line(line: str, expected: dt.date | None) -> None:
    assert parse_date_line(line) == expected


def test_clean_text() -> None:
    assert clean_text("  a  \r\n\r\n\r\n\n b\u00a0\u00a0c \n\n\n\n d ") == "a\n\nb c\n\nd"
    assert clean_text("s\u0327ehir") == "şehir"  # NFC
    assert clean_text("\n\n   \n") == ""


@pytest.mark.parametrize(
    ("title", "names", "expected"),
    [
        (f"{HEADLINE} - Caspian Herald", ["Caspian Herald"], HEADLINE),
        (f"{HEADLINE} | caspian herald", ["Caspian Herald"], HEADLINE),
        ("Erdoğan - Aliyev görüşmesi", ["Hazar Haber"], "Erdoğan - Aliyev görüşmesi"),
        ("Erdoğan - Aliyev görüşmesi - Hazar Haber", ["Hazar Haber"], "Erdoğan - Aliyev görüşmesi"),
        (f"{HEADLINE} - Caspian Herald", [], f"{HEADLINE} - Caspian Herald"),
        ("Caspian Herald", ["Caspian Herald"], "Caspian Herald"),
        ("Caspian Herald » Ganja hosts a book fair", ["Caspian Herald"], "Ganja hosts a book fair"),
    ],
)
def test_strip_site_suffix(title: str, names: list[str], expected: str) -> None:
    assert strip_site_suffix(title, names) == expected


def test_title_falls_back_to_title_tag_without_site_suffix() -> None:
    body = "".join(f"<p>{p}</p>" for p in ["Paragraph one of the story, long enough to count as text."] * 4)
    page = (
        "<html><head><title>Caspian Herald | Ganja hosts a book fair</title>"
        '<meta property="og:site_name" content="Caspian Herald"></head>'
        f"<body><div>{body}</div></body></html>"
    )
    article = extract_article(page)
    assert article.title == "Ganja hosts a book fair"  # trafilatura itself answers "Caspian Herald" here
    page = page.replace(
        "Caspian Herald | Ganja hosts a book fair", "Ganja hosts a book fair - Caspian Herald"
    )
    assert extract_article(page).title == "Ganja hosts a book fair"


def test_headline_and_text_are_capped() -> None:
    sentence = "The council met again today and discussed the new bridge over the river at length. "
    page = (
        f"<html><head><title>x</title></head><body><article><h1>{'Headline word ' * 2_000}</h1>"
        + "".join(f"<p>{sentence * 20}</p>" for _ in range(120))
        + "</article></body></html>"
    )
    article = extract_article(page)
    assert article.title.startswith("Headline word") and len(article.title) <= MAX_TITLE_CHARS
    assert "The council met" in article.text and len(article.text) <= MAX_BODY_CHARS
    assert article.text.endswith(".")  # cut at a sentence end


@given(st.text(max_size=300) | st.binary(max_size=300))
@settings(max_examples=100, deadline=None)
def test_arbitrary_input_gives_article_or_extraction_error(page: str | bytes) -> None:
    try:
        article = extract_article(page)
    except ExtractionError as err:
        assert str(err)
    else:
        assert article.title and article.text
