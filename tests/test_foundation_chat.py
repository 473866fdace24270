"""The first conversation: a reader starts the bot, subscribes and reads, in Turkish and English."""

from __future__ import annotations

import logging
from datetime import date

import pytest

from bot.drafts import make_draft
from bot.publishing import publish
from tests.conversation import Reader, buttons

pytestmark = pytest.mark.backends  # on SQLite and on PostgreSQL

STATEMENT = "Azerbaijani diaspora organizations issued a statement regarding the situation. " * 3


async def add_article(
    app, title="Diaspora <b>statement</b> & more", body=STATEMENT, url="https://news.example/a/1"
):
    result = await publish(
        app.bot_data.store,
        make_draft(title=title, body=body, published=date(2023, 7, 31), source="import", url=url),
    )
    return result.article


async def test_start_welcomes_in_the_readers_telegram_language(reader: Reader, english_reader: Reader):
    assert "Hoş geldiniz, Ayşe" in (await reader.says("/start")).plain
    assert "Welcome, John" in (await english_reader.says("/start")).plain


async def test_start_with_an_unknown_or_absurd_payload_falls_back_to_the_welcome(english_reader: Reader):
    assert "Welcome" in (await english_reader.says("/start nosuchthing")).plain
    assert "Welcome" in (await english_reader.says("/start " + "x" * 100)).plain


async def test_help_lists_every_command_once(english_reader: Reader):
    answer = (await english_reader.says("/help")).plain
    commands = ("/start", "/help", "/latest", "/article", "/subscribe", "/unsubscribe", "/language")
    for command in (*commands, "/search", "/province", "/weather", "/weathertime"):
        assert answer.count(command + " — ") == 1
    assert answer.count("/invite — ") == 1


async def test_the_command_menu_is_registered_in_both_languages(app, telegram):
    turkish = telegram.get_commands(language_code="tr")
    english = telegram.get_commands(language_code="en")
    assert (
        {c["command"] for c in turkish} == {c["command"] for c in english} >= {"start", "latest", "subscribe"}
    )
    assert turkish != english


async def test_subscribe_and_unsubscribe_are_idempotent_and_say_what_changed(english_reader: Reader, app):
    chats = app.bot_data.store.chats
    assert "You are subscribed" in (await english_reader.says("/subscribe")).plain
    assert "already subscribed" in (await english_reader.says("/subscribe")).plain
    assert (await chats.get(english_reader.chat_id)).subscribed
    assert "You are unsubscribed" in (await english_reader.says("/unsubscribe")).plain
    assert "were not subscribed" in (await english_reader.says("/unsubscribe")).plain
    assert not (await chats.get(english_reader.chat_id)).subscribed


async def test_latest_before_any_article_explains(reader: Reader):
    assert "Henüz haber yok" in (await reader.says("/latest")).plain


async def test_latest_shows_the_article_escaped_with_date_and_source_link(english_reader: Reader, app):
    article = await add_article(app)
    answer = await english_reader.says("/latest")
    assert answer.parse_mode == "HTML"
    assert answer.plain.startswith("Diaspora <b>statement</b> & more\n31 July 2023")
    assert "&lt;b&gt;" in answer.text
    assert 'href="https://news.example/a/1"' in answer.text
    assert [b["text"] for b in buttons(answer)] == ["Read on the site", "Share"]
    assert f"#{article.id}" in answer.plain


async def test_dates_are_turkish_for_turkish_readers(reader: Reader, app):
    await add_article(app)
    assert "31 Temmuz 2023" in (await reader.says("/latest")).plain


async def test_latest_n_lists_the_newest_with_ids(english_reader: Reader, app):
    for n in range(12):
        await add_article(app, title=f"Headline {n}", url=f"https://news.example/a/{n}")
    answer = (await english_reader.says("/latest 10")).plain
    assert "The 10 newest articles" in answer
    assert answer.count("Headline") == 10


@pytest.mark.parametrize("arguments", ["abc", "99999", "0", "-3", "1 2", "x" * 4000])
async def test_latest_with_bad_arguments_says_how_to_use_it(english_reader: Reader, arguments):
    assert "/latest N" in (await english_reader.says(f"/latest {arguments}")).plain


async def test_article_by_id_and_bad_ids(english_reader: Reader, app):
    article = await add_article(app)
    assert "Diaspora" in (await english_reader.says(f"/article {article.id}")).plain
    assert "There is no article number 999" in (await english_reader.says("/article 999")).plain
    for bad in ("/article -1", "/article", "/article abc"):
        assert "Use /article NUMBER" in (await english_reader.says(bad)).plain


async def test_a_very_long_article_stays_within_telegrams_limit(english_reader: Reader, app):
    article = await add_article(app, title="T" * 5000, body="Word " * 5000)
    answer = await english_reader.says(f"/article {article.id}")
    assert len(answer.plain) <= 4096


async def test_language_switch_with_buttons(reader: Reader):
    prompt = await reader.says("/language")
    assert [b["text"] for b in buttons(prompt)] == ["Türkçe", "English"]
    confirmation = await reader.presses("English", on=prompt)
    assert "I will speak English" in confirmation[0].plain
    assert "Welcome" in (await reader.says("/start")).plain
    await reader.presses("Türkçe", on=prompt)
    assert "Hoş geldiniz" in (await reader.says("/start")).plain


async def test_pressing_a_language_twice_is_no_error(english_reader: Reader, telegram, caplog):
    prompt = await english_reader.says("/language")
    (confirmation,) = await english_reader.presses("English", on=prompt)
    assert "I will speak English" in confirmation.plain
    edits = len(telegram.edited)
    # A double tap: Telegram answers the unchanged edit with 400 "message is not modified".
    assert await english_reader.presses("English", on=prompt) == []
    refused = [r for r in telegram.requests if r.method == "editMessageText" and r.status == 400]
    assert len(refused) == 1 and "message is not modified" in refused[0].description
    assert len(telegram.edited) == edits
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], "no error logged, no apology sent"


async def test_unknown_commands_and_plain_text_get_a_pointer(english_reader: Reader):
    assert "/help" in (await english_reader.says("/frobnicate")).plain
    assert "/help" in (await english_reader.says("a" * 4000)).plain


async def test_an_unexpected_failure_is_logged_and_the_reader_told(english_reader: Reader, telegram, caplog):
    from tests.fake_telegram import Fault

    telegram.fail_next(method="sendMessage", chat_id=english_reader.chat_id, error=Fault.bad_request("odd"))
    answers = await english_reader.send("/help")
    assert [a.plain for a in answers] == [
        "Sorry, something went wrong on my side. Please try again in a moment."
    ]
    assert any("error while handling update" in r.getMessage() for r in caplog.records)


async def test_in_a_group_only_commands_addressed_to_this_bot_get_the_pointer(app, telegram):
    from tests.fake_telegram import make_chat

    group = make_chat(-500, "group", "Newsroom")
    member = Reader(app, telegram, 1003, language_code="en", chat=group)
    assert await member.send("/frobnicate@some_other_bot") == []
    assert await member.send("/frobnicate") == []
    assert "/help" in (await member.says("/frobnicate@newsbot_test_bot")).plain


async def test_the_apology_comes_in_the_readers_language(reader: Reader, telegram):
    from tests.fake_telegram import Fault

    telegram.fail_next(method="sendMessage", chat_id=reader.chat_id, error=Fault.bad_request("odd"))
    answers = await reader.send("/help")
    assert [a.plain for a in answers] == ["Üzgünüm, bende bir sorun çıktı. Lütfen birazdan yeniden deneyin."]


async def test_a_long_statement_without_a_source_page_says_where_to_read_the_rest(
    english_reader: Reader, app
):
    article = await add_article(app, body="A sentence of the statement. " * 100, url=None)
    answer = (await english_reader.says("/latest")).plain
    assert f"Full text: /article {article.id}" in answer
    assert "Full text" not in (await english_reader.says(f"/article {article.id}")).plain
