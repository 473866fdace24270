"""/subscribe and /unsubscribe: idempotent, and they say what changed."""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application, CommandHandler

from bot.context import NewsbotContext


async def subscribe(update: Update, context: NewsbotContext) -> None:
    """Subscribe this chat to every new article."""
    change = await context.store.chats.subscribe(update.effective_chat.id)
    await context.reply(update, "subscription", subscribed=True, changed=change.changed)


async def unsubscribe(update: Update, context: NewsbotContext) -> None:
    """Stop new articles for this chat."""
    change = await context.store.chats.unsubscribe(update.effective_chat.id)
    await context.reply(update, "subscription", subscribed=False, changed=change.changed)


def register(application: Application) -> None:
    """Wire the subscription commands."""
    application.add_handler(CommandHandler("subscribe", subscribe))
    application.add_handler(CommandHandler("unsubscribe", unsubscribe))
