"""Runs before every handler: records the chat and resolves the reader's language once per update."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import Application, TypeHandler

from bot.context import NewsbotContext
from bot.render import language_for
from storage.database import StorageUnavailable

log = logging.getLogger(__name__)

PRELUDE_GROUP = -100


async def remember_chat(update: Update, context: NewsbotContext) -> None:
    """Keep the chat's type and Telegram language fresh (writing only on change), pick the reply language."""
    context.lang = await reader_language(update, context, remember=True)


async def reader_language(update: Update, context: NewsbotContext, *, remember: bool) -> str:
    """The reply language: the chat's own choice, else the sender's Telegram language."""
    user = update.effective_user
    chat = update.effective_chat
    user_code = user.language_code if user is not None else None
    if chat is None:  # inline queries: no chat to remember, but the reader's own choice still applies
        record = await context.store.chats.get(user.id) if user is not None else None
        return language_for(record.language if record else None, user_code)
    if remember:
        language_code = user_code if chat.type == "private" else None
        try:
            record = await context.store.chats.remember(chat.id, chat.type, language_code)
        except StorageUnavailable as error:  # full disk, locked: answer with what we know, write next time
            log.warning("could not record chat %s: %s", chat.id, error)
            record = await context.store.chats.get(chat.id)
    else:
        record = await context.store.chats.get(chat.id)
    choice = record.language if record is not None else None
    if chat.type != "private":
        return language_for(choice, user_code)
    return language_for(choice, record.language_code if record is not None else user_code)


def register(application: Application) -> None:
    """Install the prelude in its own early group so it never stops other handlers."""
    application.add_handler(TypeHandler(Update, remember_chat), group=PRELUDE_GROUP)
