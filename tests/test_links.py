"""URL normalisation and text folding: the keys that keep one article from being posted twice."""

from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.sources.links import fold_text, normalize_url


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("HTTP://Example.COM/News/", "http://example.com/News"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("http://example.com:8080/a", "http://example.com:8080/a"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com/", "https://example.com/"),
        ("https://example.com/a/b/#comments", "https://example.com/a/b"),
        (
            "https://example.com/a?utm_source=rss&utm_medium=feed&id=5&fbclid=abc&gclid=1&yclid=2"
            "&mc_cid=3&mc_eid=4&igshid=5&ref=tw&ref_src=x&_ga=1.2&UTM_Campaign=z",
            "https://example.com/a?id=5",
        ),
        ("https://example.com/a?b=2&a=1&a=0", "https://example.com/a?a=0&a=1&b=2"),
        ("https://example.com/a?utm_source=x", "https://example.com/a"),
        ("https://example.com/%7Euser/%61bc", "https://example.com/~user/abc"),
        ("https://example.com/a%2fb", "https://example.com/a%2Fb"),
        ("https://example.com/haber/şehir", "https://example.com/haber/%C5%9Fehir"),
        ("https://example.com/a b", "https://example.com/a%20b"),
        ("https://Türkiye.EXAMPLE/haber", "https://xn--trkiye-3ya.example/haber"),
        ("https://XN--TRKIYE-3YA.example/haber", "https://xn--trkiye-3ya.example/haber"),
        ("http://[::1]:80/x", "http://[::1]/x"),
        ("  https://example.com/a  ", "https://example.com/a"),
    ],
)
def test_normalize_url_examples(raw: str, expected: str) -> None:
    assert normalize_url(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["", "not a url", "mailto:editor@example.com", "/relative/path", "ftp://example.com/x", "http://[::1"],
)
def test_normalize_url_leaves_non_web_input_alone(raw: str) -> None:
    assert normalize_url(raw) == raw.strip()


def test_same_article_different_links_normalise_equal() -> None:
    a = "https://Example.com/en/news/1/?utm_source=telegram&b=2&a=1#top"
    b = "https://example.com:443/en/news/1?a=1&b=2&fbclid=XYZ"
    assert normalize_url(a) == normalize_url(b)


_hosts = st.sampled_from(
    ["example.com", "EXAMPLE.com", "Türkiye.example", "xn--trkiye-3ya.example", "127.0.0.1"]
)
_ports = st.sampled_from(["", ":80", ":443", ":8080"])
_plain = st.characters(exclude_characters="?#&=/", exclude_categories=("Cs",))
_segments = st.lists(st.text(_plain, max_size=8), max_size=4)
_params = st.lists(
    st.tuples(
        st.sampled_from(["utm_source", "id", "ref", "q", "fbclid", "page", "x y"]),
        st.text(_plain, max_size=6),
    ),
    max_size=5,
)


@st.composite
def _urls(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["http", "https", "HTTPS"]))
    path = "/".join(draw(_segments))
    query = "&".join(f"{k}={v}" for k, v in draw(_params))
    fragment = draw(st.text(max_size=5))
    return f"{scheme}://{draw(_hosts)}{draw(_ports)}/{path}?{query}#{fragment}"


@given(st.text())
@settings(max_examples=500)
def test_normalize_url_never_raises_and_is_idempotent_on_any_text(text: str) -> None:
    once = normalize_url(text)
    assert isinstance(once, str)
    assert normalize_url(once) == once


@given(_urls())
@settings(max_examples=500)
def test_normalize_url_idempotent_on_urls(url: str) -> None:
    once = normalize_url(url)
    assert normalize_url(once) == once
    parts = urlsplit(once)
    assert parts.fragment == ""
    assert not {k for k, _ in parse_qsl(parts.query)} & {"utm_source", "fbclid", "ref"}


def test_fold_text_is_turkish_aware() -> None:
    assert fold_text("İSTANBUL'DA YAĞIŞ") == fold_text("istanbul'da yağış") == "istanbul da yagis"
    assert fold_text("  Şırnak\n\tIĞDIR ") == "sirnak igdir"

