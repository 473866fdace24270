"""Runs before every handler: records the chat and resolves the reader's language once per update."""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application, TypeHandler

from bot.context import NewsbotContext
from bot.render import language_for

PRELUDE_GROUP = -100


async def remember_chat(update: Update, context: NewsbotContext) -> None:
    """Keep the chat's type and Telegram language fresh, and pick the reply language."""
    user = update.effective_user
    chat = update.effective_chat
    chat_id = chat.id if chat is not None else (user.id if user is not None else None)
    if chat_id is None:
        return
    chat_type = chat.type if chat is not None else "private"
    language_code = user.language_code if user is not None and chat_type == "private" else None
    record = await context.store.chats.touch(chat_id, chat_type, language_code)
    if chat_type != "private" and user is not None:
        context.lang = language_for(None, user.language_code) if record.language is None else record.language
    else:
        context.lang = language_for(record.language, record.language_code)


def register(application: Application) -> None:
    """Install the prelude in its own early group so it never stops other handlers."""
    application.add_handler(TypeHandler(Update, remember_chat), group=PRELUDE_GROUP)
