"""Followed words: whole words and phrases after Turkish folding; routing SQL agrees with the Python rules."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.readers.digests import plan_digest, plan_held
from bot.readers.matching import fold_phrase, matching_phrases
from bot.readers.schedule import is_quiet
from bot.render import LANGUAGES, Renderer, language_for
from bot.views import render_article, render_digest, section_keyboard
from storage.models import Article, DigestCandidate, DigestProfile
from storage.readers import INTERFACE_LANGUAGE
from storage.routing import quiet_at
from tests.telegram_html import utf16_len, validate_telegram_html

RENDERER = Renderer()
any_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300)
word = st.text(alphabet="abcçdefgğhıijklmnoöprsştuüvyzABCÇDEFGĞHIİJKLMNOÖPRSŞTUÜVYZ0123456789", min_size=1,
               max_size=12)  # fmt: skip


@settings(max_examples=300)
@given(text=any_text, phrases=st.lists(any_text, max_size=8))
def test_any_text_and_phrases_match_without_crashing_and_only_given_phrases(text, phrases):
    found = matching_phrases(text, phrases)
    assert found <= set(phrases)
    for phrase in found:
        assert fold_phrase(phrase), "an empty phrase matches nothing"


def test_turkish_folding_and_whole_words():
    text = "Çankırı'da yeni fabrika: İSTANBUL ve Ankaralı işçiler. Kırıkkale-Ankara yolu açıldı."
    phrases = ["cankiri", "ÇANKIRI", "istanbul", "ankara", "ankarali", "ankara yolu", "yolu ankara", "fabr",
               "kirikkale ankara", "", "  "]  # fmt: skip
    assert matching_phrases(text, phrases) == {
        "cankiri", "ÇANKIRI", "istanbul", "ankara", "ankarali", "ankara yolu", "kirikkale ankara",
    }  # fmt: skip


@settings(max_examples=200)
@given(words=st.lists(word, min_size=1, max_size=12), data=st.data())
def test_a_run_of_the_articles_words_matches_and_a_longer_word_does_not(words, data):
    text = " ".join(words)
    start = data.draw(st.integers(0, len(words) - 1))
    end = data.draw(st.integers(start + 1, len(words)))
    phrase = " ".join(words[start:end]).upper()
    assert matching_phrases(text, [phrase]) == {phrase}
    longer = words[start] + data.draw(word)
    if fold_phrase(longer) not in fold_phrase(text).split():
        assert matching_phrases(text, [longer]) == set(), "no partial-word matches"


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    choice=st.none() | st.sampled_from(["tr", "en", "de", "", "TR"]) | st.text(max_size=4),
    code=st.none() | st.sampled_from(["tr", "tr-TR", "TR", "en", "de", "", "t", "ru"]) | st.text(max_size=6),
)
def test_the_interface_language_in_sql_is_language_for(choice, code):
    with sqlite3.connect(":memory:") as connection:
        [(sql_language,)] = connection.execute(
            f"SELECT {INTERFACE_LANGUAGE} FROM (SELECT ? AS language, ? AS language_code) c", (choice, code)
        ).fetchall()
    assert sql_language == language_for(choice, code)


@settings(max_examples=300)
@given(
    start=st.none() | st.integers(0, 1439),
    end=st.none() | st.integers(0, 1439),
    minute=st.integers(0, 1439),
)
def test_quiet_hours_in_sql_are_is_quiet(start, end, minute):
    with sqlite3.connect(":memory:") as connection:
        [(quiet,)] = connection.execute(
            f"SELECT {quiet_at(':minute')} FROM (SELECT :start AS quiet_start, :end AS quiet_end) c",
            {"start": start, "end": end, "minute": minute},
        ).fetchall()
    assert bool(quiet) == is_quiet(start, end, minute)


def candidate(number: int, *, language="tr", section=1, breaking=False, matches=()) -> DigestCandidate:
    return DigestCandidate(number, language, section, breaking, frozenset(matches))


def test_a_digest_lists_followed_and_breaking_first_then_newest_and_counts_the_rest():
    candidates = [
        candidate(1),
        candidate(2, section=3),  # muted
        candidate(3, section=3, matches={"deprem"}),  # muted but followed
        candidate(4, language="en"),  # not read
        candidate(5, breaking=True, section=3),
        *[candidate(n) for n in range(6, 16)],
    ]
    profile = DigestProfile(0.0, "tr", ",3,", 0, "deprem")
    content = plan_digest(candidates, profile)
    assert content.article_ids == (5, 3, 15, 14, 13, 12, 11, 10, 9, 8)
    assert content.more == 3  # 7, 6, 1
    assert plan_digest(candidates, DigestProfile(0.0, "tr", ",3,", 14, "")).article_ids == (15,)
    assert plan_held("9,7,5,4,3,2,1,0,11,12,13,14") == plan_held("9,7,5,4,3,2,1,0,11,12,13,14,")
    assert plan_held("9,7,5,4,3,2,1,0,11,12,13,14").more == 2


hostile = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200) | st.sampled_from(
    ["<b>", "&amp;", "</i>", "😀" * 80, "a" * 400]
)


@settings(max_examples=80, suppress_health_check=[HealthCheck.too_slow])
@given(
    titles=st.lists(hostile, min_size=1, max_size=10),
    more=st.integers(0, 500),
    lang=st.sampled_from(LANGUAGES),
)
def test_any_digest_renders_to_valid_telegram_html(titles, more, lang):
    articles = [
        Article(i + 1, title or "t", "", None, datetime(2026, 3, 10, 8, tzinfo=UTC), "feed")
        for i, title in enumerate(titles)
    ]
    message = render_digest(RENDERER, lang, articles, more=more, breaking={1}, latest=10)
    assert 1 <= utf16_len(validate_telegram_html(message.text)) <= 4096


@settings(max_examples=80, suppress_health_check=[HealthCheck.too_slow])
@given(matched=hostile, label=hostile, lang=st.sampled_from(LANGUAGES))
def test_a_pushed_article_names_any_followed_phrase_and_section_safely(matched, label, lang):
    article = Article(7, "Başlık", "Metin. " * 200, None, datetime(2026, 3, 10, 8, tzinfo=UTC), "feed")
    message = render_article(RENDERER, lang, article, matched=matched or "x")
    assert utf16_len(validate_telegram_html(message.text)) <= 4096
    [[button]] = section_keyboard(RENDERER, lang, 3, label or "Genel").inline_keyboard
    assert button.callback_data == "mute:3" and button.text.startswith("🔕")
    [[undo]] = section_keyboard(RENDERER, lang, 3, label or "Genel", muted=True).inline_keyboard
    assert undo.callback_data == "unmute:3" and undo.text.startswith("🔔")
