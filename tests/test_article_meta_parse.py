"""Options operators give articles and feeds: language codes, section labels, /post and /feeds syntax."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.arguments import (
    ArticleOptions,
    FeedsCommand,
    OptionError,
    PostText,
    parse_feeds,
    parse_post,
)
from bot.news.languages import AUTO, ISO_639_1, normalize_language
from bot.news.sections import SECTION_LABEL_MAX, SectionLabel, parse_section_label
from bot.settings import Settings, SettingsError


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("tr", "tr"),
        ("tr-TR", "tr"),
        ("en-us", "en"),
        ("EN_GB", "en"),
        (" de-DE-1996 ", "de"),
        ("tur", "tr"),
        ("xx", None),
        ("xx-<script>", None),
        ("en-<script>", None),
        ("", None),
        ("english", None),
        ("e" * 1000, None),
        (None, None),
        (42, None),
    ],
)
def test_language_codes_are_normalised_and_junk_ignored(value, code):
    assert normalize_language(value) == code


@given(st.text(max_size=60))
def test_any_language_value_is_a_known_code_or_none(value):
    code = normalize_language(value)
    assert code is None or code in ISO_639_1


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Ekonomi/Economy", SectionLabel("Ekonomi", "Economy", both=True)),
        ("  Dünya  /  World ", SectionLabel("Dünya", "World", both=True)),
        ("Spor", SectionLabel("Spor", "Spor", both=False)),
        ("Bilim  ve\tTeknoloji", SectionLabel("Bilim ve Teknoloji", "Bilim ve Teknoloji", both=False)),
        ("a/b/c", None),
        ("Ekonomi/", None),
        ("/", None),
        ("", None),
        ("---", None),
        ("x" * (SECTION_LABEL_MAX + 1), None),
        ("x" * 10_000, None),
    ],
)
def test_section_labels(text, label):
    assert parse_section_label(text) == label


def test_the_default_language_setting():
    assert Settings.from_mapping({}).default_language == "tr"
    assert Settings.from_mapping({"NEWSBOT_DEFAULT_LANGUAGE": "EN"}).default_language == "en"
    for bad in ("xx", "tr-TR", "english", "<b>"):
        with pytest.raises(SettingsError, match="NEWSBOT_DEFAULT_LANGUAGE"):
            Settings.from_mapping({"NEWSBOT_DEFAULT_LANGUAGE": bad})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/post Başlık\nMetin", PostText("Başlık", "Metin")),
        ("/post! Son dakika\nMetin", PostText("Son dakika", "Metin", ArticleOptions(breaking=True))),
        (
            "/post@newsbot_bot! Son dakika\nMetin",
            PostText("Son dakika", "Metin", ArticleOptions(breaking=True)),
        ),
        (
            '/post --breaking lang=en section="Spor/Sports" Derby tonight\nText',
            PostText(
                "Derby tonight", "Text", ArticleOptions("en", SectionLabel("Spor", "Sports", both=True), True)
            ),
        ),
        (  # phones: smart quotes and a dash for --
            "/post —breaking section=“Dünya/World” lang=EN-us Headline\nText",
            PostText(
                "Headline", "Text", ArticleOptions("en", SectionLabel("Dünya", "World", both=True), True)
            ),
        ),
        (
            "/post --lang en --section Spor\nHeadline\nText",
            PostText("Headline", "Text", ArticleOptions("en", SectionLabel("Spor", "Spor", both=False))),
        ),
        ("/post Breaking news: the bridge\nText", PostText("Breaking news: the bridge", "Text")),
        ("/post -5 derece bekleniyor\nMetin", PostText("-5 derece bekleniyor", "Metin")),
        ("/post\nDolar=40 TL\nMetin", PostText("Dolar=40 TL", "Metin")),
        ("/post lang=xx-<script> Headline\nText", OptionError("language", "xx-<script>")),
        ("/post lang=auto Headline\nText", OptionError("language", "auto")),
        ("/post lng=en Headline\nText", OptionError("option", "lng=en")),
        ("/post --urgent Headline\nText", OptionError("option", "--urgent")),
        ("/post Dolar=40 TL\nMetin", OptionError("option", "Dolar=40")),
        ("/post section=" + "x" * 10_000 + " Headline\nText", OptionError("section", "x" * 39 + "…")),
        ("/post --breaking\n\nText only", None),
        ("/post lang=en", None),
    ],
)
def test_post_options(text, expected):
    assert parse_post(text) == expected


def old_parse_post(message_text: str) -> tuple[str, str] | None:
    """parse_post before options existed: a message without options must mean what it meant."""
    command = re.match(r"\s*/\S*", message_text)
    rest = message_text[command.end() :] if command else message_text
    title, _newline, body = rest.strip().partition("\n")
    title, body = " ".join(title.split()), body.strip()
    if not title or not body or len(title) > 300 or len(body) > 3500:
        return None
    return title, body


plain_word = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters='=-—–"“”„‟«»″'), min_size=1
)


@given(st.text(max_size=400))
def test_any_post_text_parses_without_crashing(text):
    result = parse_post(text)
    assert result is None or isinstance(result, PostText | OptionError)
    if isinstance(result, OptionError):
        assert len(result.value) <= 40


@given(st.lists(plain_word, min_size=1, max_size=6), st.text(max_size=200))
def test_a_post_without_options_means_what_it_meant_before(words, body):
    text = "/post " + " ".join(words) + "\n" + body
    result = parse_post(text)
    old = old_parse_post(text)
    if old is None:
        assert result is None
    else:
        assert isinstance(result, PostText) and (result.title, result.body) == old
        assert result.options == ArticleOptions()


label = st.text(
    st.characters(whitelist_categories=("L", "N"), whitelist_characters=" '&.,"),
    min_size=1,
    max_size=SECTION_LABEL_MAX,
).filter(lambda s: s.strip() and any(c.isalnum() for c in s) and len(" ".join(s.split())) == len(s.strip()))
headline = st.text(st.characters(whitelist_categories=("L", "N")), min_size=1, max_size=40)


def tidy(label: str) -> str:
    """A label as stored: NFC (compatibility ideographs become their unified forms), spaces collapsed."""
    return " ".join(unicodedata.normalize("NFC", label).split())


@given(
    st.sampled_from(sorted(ISO_639_1)),
    st.sampled_from(["", "-TR", "_us", "-Latn-RS"]),
    st.none() | st.tuples(label, st.none() | label),
    st.sampled_from(["", "/post!", "--breaking", "—breaking"]),
    headline,
    st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=100).filter(str.strip),
)
def test_post_options_round_trip(code, region, section, breaking, title, body):
    parts = [f"lang={code}{region}"]
    if section is not None:
        tr, en = section
        parts.append(f'section="{tr}/{en}"' if en is not None else f'section="{tr}"')
    if breaking in ("--breaking", "—breaking"):
        parts.append(breaking)
    command = "/post!" if breaking == "/post!" else "/post"
    result = parse_post(f"{command} {' '.join(reversed(parts))} {title}\n{body}")
    assert isinstance(result, PostText)
    assert (result.title, result.body) == (title, body.strip())
    assert result.options.language == code
    assert result.options.breaking is (True if breaking else None)
    if section is None:
        assert result.options.section is None
    else:
        tr, en = section
        tr, en = tidy(tr), tidy(en if en is not None else tr)
        assert result.options.section == SectionLabel(tr, en, both=section[1] is not None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/feeds", FeedsCommand("list")),
        ("/feeds add https://x.example/rss", FeedsCommand("add", "https://x.example/rss")),
        ("/feeds remove https://x.example/rss", FeedsCommand("remove", "https://x.example/rss")),
        (
            '/feeds add https://x.example/rss language=en section="Ekonomi/Economy" breaking',
            FeedsCommand(
                "add",
                "https://x.example/rss",
                ArticleOptions("en", SectionLabel("Ekonomi", "Economy", True), True),
            ),
        ),
        (
            "/feeds add https://x.example/rss breaking=off language=auto",
            FeedsCommand("add", "https://x.example/rss", ArticleOptions(AUTO, None, False)),
        ),
        ("/feeds add https://x.example/rss lang=xx-<script>", OptionError("language", "xx-<script>")),
        ("/feeds add https://x.example/rss tomorrow", OptionError("option", "tomorrow")),
        ("/feeds add https://x.example/rss breaking=maybe", OptionError("option", "breaking=maybe")),
        ("/feeds delete everything", None),
        ("/feeds remove https://x.example/rss now", None),
        ("/feeds add", None),
    ],
)
def test_feeds_options(text, expected):
    assert parse_feeds(text) == expected


@given(st.text(max_size=300))
def test_any_feeds_text_parses_without_crashing(text):
    result = parse_feeds("/feeds " + text)
    assert result is None or isinstance(result, FeedsCommand | OptionError)
