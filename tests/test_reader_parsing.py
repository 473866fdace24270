"""What readers type for their choices, and the settings buttons' data: any input, no crash, exact meaning."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.readers.panel import (
    PanelAction,
    parse_mute_data,
    parse_panel_data,
)
from bot.readers.parsing import (
    MAX_PHRASE_CHARS,
    MAX_PHRASE_WORDS,
    parse_digest,
    parse_languages,
    parse_phrases,
    parse_quiet,
    parse_time,
)
from bot.readers.service import follow_key
from bot.render import language_for
from storage.folding import fold_text
from storage.readers import INTERFACE_LANGUAGE

# Text as readers type it: Turkish letters, punctuation, digits, separators, emoji and control characters.
typed = st.text(
    alphabet=st.one_of(
        st.sampled_from("çÇğĞıIİiöÖşŞüÜ:.,-–;/ 0123456789\n\t<>&\"'#*"),
        st.characters(codec="utf-8"),
    ),
    max_size=80,
)


# --- languages -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "languages"),
    [
        ("en", ("en",)),
        ("TR", ("tr",)),
        ("Türkçe", ("tr",)),
        ("İngilizce", ("en",)),
        ("both", ("en", "tr")),
        ("İkisi de", ("en", "tr")),
        ("her ikisi", ("en", "tr")),
        ("tr, en", ("en", "tr")),
        ("en tr", ("en", "tr")),
        ("de", None),
        ("klingon", None),
        ("", None),
        ("ve", None),
        ("tr " * 10, None),
    ],
)
def test_languages_are_named_in_either_language(text: str, languages: tuple[str, ...] | None) -> None:
    assert parse_languages(text) == languages


@given(typed)
def test_any_language_text_is_known_languages_or_none(text: str) -> None:
    languages = parse_languages(text)
    assert languages is None or (
        languages and set(languages) <= {"tr", "en"} and list(languages) == sorted(languages)
    )


# --- followed phrases ----------------------------------------------------------------------------


def test_commas_separate_phrases_and_spaces_join_words() -> None:
    phrases = parse_phrases("Çankırı, deprem ,  Merkez   Bankası,,")
    assert phrases.valid == ("Çankırı", "deprem", "Merkez Bankası")
    assert phrases.invalid == ()
    assert parse_phrases("Çankırı, CANKIRI, çankırı").valid == ("Çankırı",), "one phrase, however spelled"
    assert parse_phrases("!!!, ---").invalid == ("!!!", "---")
    assert parse_phrases("a b c d e f").invalid == ("a b c d e f",)
    assert parse_phrases("").valid == parse_phrases(" , ").valid == ()


@given(typed)
def test_any_follow_text_gives_usable_phrases_or_names_the_refused(text: str) -> None:
    phrases = parse_phrases(text)
    folded = [fold_text(phrase) for phrase in phrases.valid]
    assert all(folded), "every valid phrase has a word to match"
    assert len(set(folded)) == len(folded), "no phrase twice"
    for phrase in phrases.valid:
        assert len(phrase) <= MAX_PHRASE_CHARS and len(fold_text(phrase).split()) <= MAX_PHRASE_WORDS
        assert "," not in phrase and phrase == phrase.strip()
    assert all(len(phrase) <= MAX_PHRASE_CHARS for phrase in phrases.invalid), "quoted short"


@given(typed)
def test_folding_is_stable_so_a_stored_key_matches_itself(text: str) -> None:
    assert fold_text(fold_text(text)) == fold_text(text)


# --- digest times and quiet hours ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "minutes", "problem"),
    [
        ("08:00", (480,), None),
        ("18:30, 08:00", (480, 1110), None),
        ("8.30 18.00", (510, 1080), None),
        ("8", (480,), None),
        ("08:00,08:00", (480,), None),
        ("off", (), None),
        ("KAPAT", (), None),
        ("kapalı", (), None),
        ("07:00,12:00,18:00,21:00", (), "too_many"),
        ("25:00", (), "time"),
        ("08:60", (), "time"),
        ("noon", (), "time"),
        ("8:0", (), "time"),
    ],
)
def test_digest_times(text: str, minutes: tuple[int, ...], problem: str | None) -> None:
    parsed = parse_digest(text)
    assert (parsed.minutes, parsed.problem) == (minutes, problem)


@given(typed)
def test_any_digest_text_is_up_to_three_times_or_a_named_problem(text: str) -> None:
    parsed = parse_digest(text)
    if parsed.problem is None:
        assert len(parsed.minutes) <= 3 and all(0 <= m < 1440 for m in parsed.minutes)
        assert list(parsed.minutes) == sorted(set(parsed.minutes))
    else:
        assert parsed.problem in ("time", "too_many") and parsed.minutes == ()
        assert len(parsed.given) <= 40


@pytest.mark.parametrize(
    ("text", "hours", "problem"),
    [
        ("22:00-07:00", (1320, 420), None),
        ("23.30 – 6.30", (1410, 390), None),
        ("22-7", (1320, 420), None),
        ("22:00 07:00", (1320, 420), None),
        ("13:00 to 14:00", (780, 840), None),
        ("off", (None, None), None),
        ("yok", (None, None), None),
        ("22:00-22:00", (None, None), "same"),
        ("22:00", (None, None), "format"),
        ("22:00-07:00-09:00", (None, None), "format"),
        ("24:00-07:00", (None, None), "format"),
        ("night", (None, None), "format"),
    ],
)
def test_quiet_hours(text: str, hours: tuple[int | None, int | None], problem: str | None) -> None:
    parsed = parse_quiet(text)
    assert ((parsed.start, parsed.end), parsed.problem) == (hours, problem)


@given(typed)
def test_any_quiet_text_is_two_different_minutes_off_or_a_problem(text: str) -> None:
    parsed = parse_quiet(text)
    if parsed.problem is None and not parsed.off:
        assert parsed.start is not None and parsed.end is not None
        assert 0 <= parsed.start < 1440 and 0 <= parsed.end < 1440 and parsed.start != parsed.end
    elif parsed.problem is not None:
        assert parsed.start is None and parsed.end is None


@given(st.integers(0, 23), st.integers(0, 59))
def test_every_clock_time_parses_in_each_spelling(hour: int, minute: int) -> None:
    expected = hour * 60 + minute
    assert parse_time(f"{hour:02d}:{minute:02d}") == parse_time(f"{hour}.{minute:02d}") == expected


# --- callback data -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "action"),
    [
        ("cfg:m", PanelAction("m")),
        ("cfg:q", PanelAction("q")),
        ("cfg:m:L:en.tr", PanelAction("m", "languages", ("en", "tr"))),
        ("cfg:l:L:tr", PanelAction("l", "languages", ("tr",))),
        ("cfg:s:-:7", PanelAction("s", "mute", 7)),
        ("cfg:s:+:7", PanelAction("s", "unmute", 7)),
        ("cfg:s:*", PanelAction("s", "all_on")),
        ("cfg:f:x:0123456789", PanelAction("f", "unfollow", "0123456789")),
        ("cfg:d:T:off", PanelAction("d", "digest", ())),
        ("cfg:d:T:1830.0800", PanelAction("d", "digest", (480, 1110))),
        ("cfg:q:Q:2200-0700", PanelAction("q", "quiet", (1320, 420))),
        ("cfg:q:Q:off", PanelAction("q", "quiet", None)),
    ],
)
def test_settings_buttons_mean_what_they_say(data: str, action: PanelAction) -> None:
    assert parse_panel_data(data) == action


@pytest.mark.parametrize(
    "data",
    [
        "cfg:",
        "cfg:x",
        "cfg:m:L:de",
        "cfg:m:s:-:1",
        "cfg:s:-:",
        "cfg:d:T:2500",
        "cfg:d:T:0800.0900.1000.1100",
        "cfg:q:Q:2200-2200",
        "cfg:q:Q:2200-0760",
        "cfg:f:x:xyz",
        "cfg:d:Q:off",
        "cfg:m ",
        None,
    ],
)
def test_forged_or_stale_settings_data_is_refused(data: str | None) -> None:
    assert parse_panel_data(data) is None


@given(st.text(max_size=70))
def test_any_callback_data_parses_or_is_refused(data: str) -> None:
    action = parse_panel_data("cfg:" + data)
    assert action is None or action.screen in "mlsfdq"
    assert parse_mute_data(data) is None or data.startswith(("mute:", "unmute:"))


def test_mute_data() -> None:
    assert parse_mute_data("mute:3") == (True, 3)
    assert parse_mute_data("unmute:12") == (False, 12)
    assert parse_mute_data("mute:") is None
    assert parse_mute_data("mute:3x") is None


def test_follow_keys_are_short_and_stable() -> None:
    assert follow_key("cankiri") == follow_key(fold_text("ÇANKIRI"))
    assert len(follow_key("x" * 500)) == 10


# --- the interface language in SQL ---------------------------------------------------------------


@given(
    st.sampled_from([None, "tr", "en"]),
    st.one_of(st.none(), st.text(max_size=8), st.sampled_from(["tr", "TR-tr", "en-US", "trk", "de"])),
)
def test_the_sql_interface_language_is_language_for(choice: str | None, code: str | None) -> None:
    with sqlite3.connect(":memory:") as connection:
        (sql,) = connection.execute(
            f"SELECT {INTERFACE_LANGUAGE} FROM (SELECT ? AS language, ? AS language_code) AS c",
            (choice, code),
        ).fetchone()
    assert sql == language_for(choice, code)
