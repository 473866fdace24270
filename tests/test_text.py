"""Cutting and measuring text the way Telegram counts it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.arguments import parse_count, parse_deep_link, parse_id
from bot.text import cut_text, normalize_text, utf16_len


def test_emoji_count_twice():
    assert utf16_len("a😀") == 3


def test_cut_prefers_a_sentence_end():
    text = "First sentence here. Second sentence is much longer than the limit allows."
    assert cut_text(text, 30) == "First sentence here."


def test_cut_falls_back_to_a_word_boundary():
    assert cut_text("alpha beta gamma delta", 13) == "alpha beta…"


@given(st.text(), st.integers(min_value=0, max_value=300))
def test_cut_never_exceeds_the_limit(text, limit):
    result = cut_text(text, limit)
    assert utf16_len(result) <= max(limit, 0)
    if utf16_len(text) <= limit:
        assert result == text


@given(st.text())
def test_normalize_is_idempotent(text):
    assert normalize_text(normalize_text(text)) == normalize_text(text)


@given(st.lists(st.text(max_size=20), max_size=3))
def test_argument_parsers_never_raise(args):
    count = parse_count(args, default=1, maximum=10)
    assert count is None or 1 <= count <= 10
    article_id = parse_id(args)
    assert article_id is None or article_id >= 1
    payload = parse_deep_link(args)
    assert payload is None or 1 <= len(payload) <= 64


def test_argument_examples():
    assert parse_count([], default=1, maximum=10) == 1
    assert parse_count(["5"], default=1, maximum=10) == 5
    assert parse_count(["abc"], default=1, maximum=10) is None
    assert parse_count(["99999"], default=1, maximum=10) is None
    assert parse_count(["0"], default=1, maximum=10) is None
    assert parse_id(["-1"]) is None
    assert parse_id(["#12"]) == 12
    assert parse_deep_link(["x" * 100]) is None
    assert parse_deep_link(["a1_b-2"]) == "a1_b-2"
