"""/subscribe and /unsubscribe: idempotent, and they say what changed."""

from __future__ import annotations

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import Application, CommandHandler

from bot.context import NewsbotContext
from handlers.access import chat_admins_only


async def adopt_language(context: NewsbotContext, chat_id: int, lang: str) -> None:
    """A group or channel gets articles in the language of the admin who subscribed it, unless one is set."""
    record = await context.store.chats.get(chat_id)
    if record is not None and record.language is None:
        await context.store.chats.set_language(chat_id, lang)


@chat_admins_only
async def subscribe(update: Update, context: NewsbotContext) -> None:
    """Subscribe this chat to every new article."""
    chat = update.effective_chat
    if chat.type != ChatType.PRIVATE:
        await adopt_language(context, chat.id, context.lang)
    change = await context.store.chats.subscribe(chat.id)
    await context.reply(update, "subscription", subscribed=True, changed=change.changed)


@chat_admins_only
async def unsubscribe(update: Update, context: NewsbotContext) -> None:
    """Stop new articles for this chat."""
    change = await context.store.chats.unsubscribe(update.effective_chat.id)
    await context.reply(update, "subscription", subscribed=False, changed=change.changed)


def register(application: Application) -> None:
    """Wire the subscription commands."""
    application.add_handler(CommandHandler("subscribe", subscribe))
    application.add_handler(CommandHandler("unsubscribe", unsubscribe))
