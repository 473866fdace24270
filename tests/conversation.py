"""Readers who talk to the real Application through the fake Bot API, so tests read like chats."""

from __future__ import annotations

import time
from typing import Any

from telegram import Update
from telegram.ext import Application

from tests.fake_telegram import (
    DEFAULT_BOT_USER,
    FakeBotAPI,
    SentMessage,
    callback_update,
    make_chat,
    make_user,
    message_update,
)

PUBLISH = "📣 Publish"  # the Publish button under an operator's preview (an English-speaking operator)
PUBLISH_EDIT = "✏️ Publish the correction"
CANCEL = "✖ Cancel"


class Reader:
    """A Telegram user in a private chat (or a member of a group chat) talking to the bot."""

    def __init__(
        self,
        app: Application,
        api: FakeBotAPI,
        user_id: int,
        *,
        language_code: str | None = "tr",
        first_name: str = "Ayşe",
        chat: dict[str, Any] | None = None,
        anonymous: bool = False,
    ) -> None:
        self.app = app
        self.api = api
        self.user = make_user(user_id, first_name=first_name, language_code=language_code)
        self.chat = chat
        self.chat_id = chat["id"] if chat else user_id
        self.anonymous = anonymous  # an anonymous group admin: writes as the group, presses as themselves
        if chat is not None and chat["type"] != "private":
            api.add_member(self.chat_id, user_id)  # whoever talks in a group is in it

    async def send(self, text: str) -> list[SentMessage]:
        """Send a message and return every message the bot sent to this chat in response."""
        return await self.deliver(message_update(self.user, text, chat=self.chat, anonymous=self.anonymous))

    async def says(self, text: str) -> SentMessage:
        """Send a message that must get exactly one answer, and return it."""
        answers = await self.send(text)
        assert len(answers) == 1, f"expected one answer to {text!r}, got {[a.plain for a in answers]}"
        return answers[0]

    async def deliver(self, update: dict[str, Any]) -> list[SentMessage]:
        """Feed any update dict through the application and collect what reached this chat."""
        before_sent, before_edited = len(self.api.sent), len(self.api.edited)
        await self.app.process_update(Update.de_json(update, self.app.bot))
        sent = [m for m in self.api.sent[before_sent:] if m.chat_id == self.chat_id]
        edited = [m for m in self.api.edited[before_edited:] if m.chat_id == self.chat_id]
        return sent + edited

    async def publishes(self, text: str | dict[str, Any], button: str = PUBLISH) -> SentMessage:
        """An operator's /post or /edit (text, or a photo update): its preview, then Publish pressed.

        Returns the confirmation (the message sent after the press).
        """
        answers = await (self.send(text) if isinstance(text, str) else self.deliver(text))
        assert len(answers) == 1, f"expected one preview, got {[a.plain for a in answers]}"
        after = await self.presses(button, on=answers[0])
        confirmations = [m for m in after if m.method == "sendMessage"]
        assert len(confirmations) == 1, f"expected one confirmation, got {[m.plain for m in after]}"
        return confirmations[0]

    async def presses(self, button_text: str, on: SentMessage | None = None) -> list[SentMessage]:
        """Press an inline button of the bot's last message that has it; Telegram must see an answer."""
        message = on or self._last_with_button(button_text)
        data = button_data(message, button_text)
        bot_message = {
            "message_id": message.message_id,
            "date": int(time.time()),
            "chat": self.chat or make_chat(self.chat_id, "private", self.user["first_name"]),
            "from": DEFAULT_BOT_USER,
            "text": message.plain or "",
            "reply_markup": message.reply_markup,
        }
        update = callback_update(self.user, data, message=bot_message)
        query_id = update["callback_query"]["id"]
        answers = await self.deliver(update)
        assert query_id in self.api.answered_callbacks, "the button was left spinning"
        return answers

    def _last_with_button(self, button_text: str) -> SentMessage:
        for message in reversed(self.api.sent + self.api.edited):
            if message.chat_id == self.chat_id and button_data(message, button_text, strict=False):
                return message
        raise AssertionError(f"no message to chat {self.chat_id} has a button {button_text!r}")


def buttons(message: SentMessage) -> list[dict[str, Any]]:
    """All inline buttons of a message, row by row."""
    markup = message.reply_markup or {}
    return [button for row in markup.get("inline_keyboard", []) for button in row]


def button_data(message: SentMessage, text: str, *, strict: bool = True) -> str | None:
    """The callback data of the button labelled `text`."""
    for button in buttons(message):
        if button["text"] == text and "callback_data" in button:
            return button["callback_data"]
    if strict:
        raise AssertionError(f"no button {text!r} in {[b['text'] for b in buttons(message)]}")
    return None
