"""Operators see before they publish: /post and /edit show the reader's copy with Publish and Cancel."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from telegram.ext import Application

from bot.clock import in_istanbul
from bot.maintenance import RetentionOptions, prune
from bot.news.previews import DRAFT_TTL
from bot.settings import Settings
from storage import Store
from tests.conftest import ADMIN_ID, running
from tests.conversation import CANCEL, PUBLISH, Reader, button_data, buttons
from tests.fake_telegram import FakeBotAPI, SentMessage, callback_update, make_user, photo_update
from tests.test_delivery import publish_article, settle
from tests.test_photos import make_png

pytestmark = pytest.mark.backends  # on SQLite and on PostgreSQL

STATEMENT = "/post Valilikten açıklama\nİl genelinde okullar yarın tatil.\nİkinci satır."
ALERTS = {
    "expired": "This preview has expired; nothing was published. Send the command again.",
    "published": "Already published.",
    "cancelled": "This draft was cancelled; nothing was published.",
}


class Clock:
    """The bot's clock (context.services.clock), moved by hand; it starts now (the engine schedules by it)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(app: Application) -> Clock:
    clock = Clock()
    app.bot_data.clock = clock
    return clock


def store_of(app: Application) -> Store:
    return app.bot_data.store


def reader_rows(message: SentMessage) -> list[list[dict[str, Any]]]:
    """The message's buttons without the preview's own last row (Publish, Cancel)."""
    rows = (message.reply_markup or {}).get("inline_keyboard", [])
    if rows and any(b.get("callback_data", "").startswith("draft:") for b in rows[-1]):
        rows = rows[:-1]
    return rows


def confirmed(answers: list[SentMessage]) -> SentMessage:
    """The one message sent after a press (the other answers are edits of the preview)."""
    [sent] = [m for m in answers if m.method == "sendMessage"]
    return sent


def numbered(preview: str, article_id: int) -> str:
    """A preview's text with the number the article got on Publish (the preview shows "#…")."""
    return preview.replace("#…", f"#{article_id}")


def shared(rows: list[list[dict[str, Any]]], article_id: int) -> list[list[dict[str, Any]]]:
    """The preview's Share button points at the article it became."""
    return [
        [{**b, "switch_inline_query": f"#{article_id}"} if "switch_inline_query" in b else b for b in row]
        for row in rows
    ]


async def press_data(app: Application, telegram: FakeBotAPI, user_id: int, data: str) -> str:
    """Press a button with this callback data as `user_id` in their private chat; returns the query id."""
    update = callback_update(make_user(user_id, first_name="Someone", language_code="en"), data)
    await Reader(app, telegram, user_id, language_code="en").deliver(update)
    return update["callback_query"]["id"]


async def test_a_post_is_shown_as_readers_get_it_and_only_publish_sends_it(
    admin: Reader, english_reader: Reader, app, telegram, clock
):
    store = store_of(app)
    await english_reader.says("/subscribe")
    preview = await admin.says(STATEMENT.replace("/post", "/post lang=en"))  # English readers get it

    assert [b["text"] for b in buttons(preview)][-2:] == [PUBLISH, CANCEL]
    assert preview.plain.startswith("Valilikten açıklama") and preview.plain.rstrip().endswith("#…")
    await asyncio.sleep(0.3)  # the engine polls: a published article would have gone out by now
    assert await store.articles.count() == 0 and len(telegram.messages_to(english_reader.chat_id)) == 1

    confirmation = confirmed(await admin.presses(PUBLISH, on=preview))
    assert "Published as #1: Valilikten açıklama" in confirmation.plain
    *_, copy = await telegram.wait_for_messages(2, chat_id=english_reader.chat_id)
    assert copy.method == preview.method == "sendMessage"
    assert copy.text == numbered(preview.text, 1)  # the same template, date and teaser
    assert copy.reply_markup["inline_keyboard"] == shared(reader_rows(preview), 1)  # Share, 🔕 General
    removed = [e for e in telegram.edited if e.chat_id == ADMIN_ID and e.message_id == preview.message_id]
    assert [(e.method, e.reply_markup) for e in removed] == [("editMessageReplyMarkup", None)]


async def test_a_photo_post_is_previewed_as_the_photo_readers_get(
    admin: Reader, english_reader: Reader, app, telegram, clock
):
    await english_reader.says("/subscribe")
    sizes = telegram.user_photo(make_png(), ADMIN_ID)
    user = make_user(ADMIN_ID, first_name="Operator", language_code="en")
    caption = '/post! lang=en section="Gündem/Agenda" Fotoğraflı açıklama\nValilik bugün bir açıklama yaptı.'
    [preview] = await admin.deliver(photo_update(user, caption, sizes))

    assert preview.method == "sendPhoto" and preview.file_id == sizes[-1]["file_id"]
    assert [b["text"] for b in reader_rows(preview)[-1]] == ["🔕 Agenda"]  # the section it will get
    await admin.presses(PUBLISH, on=preview)
    *_, copy = await telegram.wait_for_messages(2, chat_id=english_reader.chat_id)
    assert copy.method == "sendPhoto" and copy.file_id == preview.file_id and not copy.uploaded
    assert copy.text == numbered(preview.text, 1)  # the caption, cut the same way
    assert [[b["text"] for b in row] for row in copy.reply_markup["inline_keyboard"]] == [
        [b["text"] for b in row] for row in reader_rows(preview)
    ]
    assert telegram.upload_attempts == 0


async def test_an_edit_is_previewed_marked_updated_and_publish_edits_every_copy(app, telegram, clock):
    store = store_of(app)
    admin = Reader(app, telegram, ADMIN_ID, language_code="tr")  # Turkish, like the readers and the article
    readers = [Reader(app, telegram, chat, language_code="tr") for chat in (7001, 7002)]
    for reader in readers:
        await reader.says("/subscribe")
    article_id = await publish_article(store, "İlk başlık")
    app.bot_data.delivery.wake()
    await settle(store, app.bot_data.delivery)

    preview = await admin.says(f"/edit {article_id}\nDüzeltilmiş başlık\nDoğru metin.")
    updated = in_istanbul(clock.now).strftime("güncellendi %H:%M")
    assert updated in preview.plain and "Düzeltilmiş başlık" in preview.plain
    assert (await store.articles.get(article_id)).version == 1
    assert not [e for e in telegram.edited if e.chat_id != ADMIN_ID]

    confirmation = confirmed(await admin.presses("✏️ Düzeltmeyi yayımla", on=preview))
    assert "düzeltildi (sürüm 2)" in confirmation.plain and "Gönderilmiş 2 kopya" in confirmation.plain
    await settle(store, app.bot_data.delivery)
    edits = [e for e in telegram.edited if e.method == "editMessageText"]
    assert sorted(e.chat_id for e in edits) == [7001, 7002]
    assert all(e.text == preview.text for e in edits)  # exactly the preview, "updated HH:MM" and all
    assert all(e.reply_markup["inline_keyboard"] == reader_rows(preview) for e in edits)


async def test_a_double_press_and_two_presses_at_once_publish_once(
    admin: Reader, reader: Reader, app, telegram
):
    store = store_of(app)
    await reader.says("/subscribe")
    preview = await admin.says(STATEMENT)
    await asyncio.gather(admin.presses(PUBLISH, on=preview), admin.presses(PUBLISH, on=preview))
    await admin.presses(PUBLISH, on=preview)

    answers = list(telegram.answered_callbacks.values())
    assert sorted((a.text or "", a.show_alert) for a in answers) == [
        ("", False),
        (ALERTS["published"], True),
        (ALERTS["published"], True),
    ]
    assert await store.articles.count() == 1
    assert await store.db.fetchval("SELECT count(*) FROM broadcasts") == 1
    confirmations = [m for m in telegram.messages_to(ADMIN_ID) if "Published as #1" in (m.plain or "")]
    assert len(confirmations) == 1
    await telegram.wait_for_messages(2, chat_id=reader.chat_id)
    await settle(store, app.bot_data.delivery)
    assert len(telegram.messages_to(reader.chat_id)) == 2  # /subscribe's answer and one copy


async def test_cancel_publishes_nothing_and_a_later_publish_is_refused(
    admin: Reader, reader: Reader, app, telegram
):
    store = store_of(app)
    await reader.says("/subscribe")
    preview = await admin.says(STATEMENT)
    [answer, removed] = await admin.presses(CANCEL, on=preview)
    assert removed.method == "editMessageReplyMarkup" and removed.reply_markup is None
    assert answer.plain == "Cancelled; nothing was published."
    query = await press_data(app, telegram, ADMIN_ID, button_data(preview, PUBLISH))
    assert telegram.answered_callbacks[query].text == ALERTS["cancelled"]
    await asyncio.sleep(0.3)
    assert await store.articles.count() == 0 and len(telegram.messages_to(reader.chat_id)) == 1

    edit_preview = await admin.says("/edit 1\nBaşlık\nMetin")  # there is no article 1 to preview
    assert edit_preview.plain == "There is no article number 1." and not buttons(edit_preview)


async def test_a_draft_left_alone_expires_and_the_maintenance_pass_removes_it(
    admin: Reader, reader: Reader, app, telegram, clock
):
    store = store_of(app)
    await reader.says("/subscribe")
    preview = await admin.says(STATEMENT)
    clock.now += DRAFT_TTL - timedelta(seconds=1)
    kept = await admin.says(STATEMENT.replace("tatil", "açık"))  # a second draft, made later
    clock.now += timedelta(seconds=2)

    answers = await admin.presses(PUBLISH, on=preview)
    [query] = [q for q, a in telegram.answered_callbacks.items() if a.text == ALERTS["expired"]]
    assert telegram.answered_callbacks[query].show_alert
    assert [a.method for a in answers] == ["editMessageReplyMarkup"]  # no confirmation, the buttons gone
    assert await store.articles.count() == 0

    report = await prune(
        store, RetentionOptions(), now=clock.now.timestamp(), sleep=lambda _: asyncio.sleep(0)
    )
    assert report.drafts == 1 and "1 expired drafts" in report.summary()
    assert await store.db.fetchval("SELECT count(*) FROM post_drafts") == 1
    assert "Published as #1" in confirmed(await admin.presses(PUBLISH, on=kept)).plain


async def test_a_non_operator_pressing_gets_nothing_and_publishes_nothing(
    admin: Reader, reader: Reader, app, telegram
):
    store = store_of(app)
    preview = await admin.says(STATEMENT)
    data = button_data(preview, PUBLISH)
    query = await press_data(app, telegram, reader.chat_id, data)
    answer = telegram.answered_callbacks[query]
    assert (answer.text, answer.show_alert) == (None, False)
    assert telegram.messages_to(reader.chat_id) == [] and await store.articles.count() == 0
    assert "Published as #1" in confirmed(await admin.presses(PUBLISH, on=preview)).plain


async def test_another_operator_cannot_publish_a_draft_of_someone_else(
    settings: Settings, telegram: FakeBotAPI
):
    async with running(settings, admin_ids=frozenset({ADMIN_ID, ADMIN_ID + 1})) as app:
        admin = Reader(app, telegram, ADMIN_ID, language_code="en")
        preview = await admin.says(STATEMENT)
        query = await press_data(app, telegram, ADMIN_ID + 1, button_data(preview, PUBLISH))
        assert telegram.answered_callbacks[query].text == ALERTS["expired"]
        assert await store_of(app).articles.count() == 0
        assert "Published as #1" in confirmed(await admin.presses(PUBLISH, on=preview)).plain


async def test_a_restart_between_the_preview_and_publish_loses_nothing(
    settings: Settings, telegram: FakeBotAPI
):
    async with running(settings) as app:
        await Reader(app, telegram, 1001, language_code="tr").says("/subscribe")
        preview = await Reader(app, telegram, ADMIN_ID, language_code="en").says(STATEMENT)
    async with running(settings) as app:
        answers = await Reader(app, telegram, ADMIN_ID, language_code="en").presses(PUBLISH, on=preview)
        assert "Published as #1: Valilikten açıklama" in confirmed(answers).plain
        *_, copy = await telegram.wait_for_messages(2, chat_id=1001)
        assert copy.plain.startswith("Valilikten açıklama")
