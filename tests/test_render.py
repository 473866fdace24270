"""Any headline and body, however hostile, renders to HTML Telegram accepts, within its limits."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.render import LANGUAGES, Renderer, language_for
from bot.views import render_article, render_article_list
from storage.models import Article
from tests.telegram_html import utf16_len, validate_telegram_html

RENDERER = Renderer()
hostile_text = st.lists(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
    | st.sampled_from(["<", ">", "&", "&amp;", "<b>", "</i>", "😀", "\n", ". ", " " * 50]),
    max_size=400,
).map("".join)


def article(title: str, body: str, url: str | None = "https://news.example/a?x=1&y=<2>") -> Article:
    return Article(7, title or "t", body, url, datetime(2023, 7, 31, 9, tzinfo=UTC), "import")


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(title=hostile_text, body=hostile_text, lang=st.sampled_from(LANGUAGES))
def test_any_article_renders_to_valid_telegram_html(title, body, lang):
    message = render_article(RENDERER, lang, article(title, body), teaser_limit=4096)
    visible = validate_telegram_html(message.text)
    assert 1 <= utf16_len(visible) <= 4096


@settings(max_examples=50, suppress_health_check=[HealthCheck.too_slow])
@given(titles=st.lists(hostile_text, min_size=1, max_size=10), lang=st.sampled_from(LANGUAGES))
def test_any_article_list_renders_to_valid_telegram_html(titles, lang):
    message = render_article_list(RENDERER, lang, [article(t, "b") for t in titles])
    assert utf16_len(validate_telegram_html(message.text)) <= 4096


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_message_template_exists_in_both_languages(lang):
    names = {n.split("/", 1)[1] for n in RENDERER.env.list_templates() if n.startswith(f"{lang}/")}
    other = {n.split("/", 1)[1] for n in RENDERER.env.list_templates() if not n.startswith(f"{lang}/")}
    assert names == other


def test_language_defaults_follow_telegram_and_the_readers_choice_wins():
    assert language_for(None, "tr") == "tr"
    assert language_for(None, "tr-TR") == "tr"
    assert language_for(None, "de") == "en"
    assert language_for(None, None) == "en"
    assert language_for("en", "tr") == "en"
