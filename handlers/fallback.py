"""Unknown commands, stray text and unknown buttons get a pointer instead of silence."""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, MessageHandler, filters

from bot.context import NewsbotContext


async def unknown_command(update: Update, context: NewsbotContext) -> None:
    """Point to /help; in groups only when the command was addressed to this bot, not to another one."""
    chat = update.effective_chat
    text = update.effective_message.text or ""
    addressed = text.split(maxsplit=1)[0].lower().endswith(f"@{context.bot.username.lower()}")
    if chat is not None and chat.type != chat.PRIVATE and not addressed:
        return
    await context.reply(update, "unknown_command")


async def plain_text(update: Update, context: NewsbotContext) -> None:
    """Readers who type instead of using a command learn what to type."""
    await context.reply(update, "text_hint")


async def stale_button(update: Update, context: NewsbotContext) -> None:
    """A button from an old message: stop its spinner."""
    await update.callback_query.answer()


def register(application: Application) -> None:
    """Registered last in the default group, so they answer only what no feature handled."""
    application.add_handler(MessageHandler(filters.COMMAND, unknown_command))
    application.add_handler(
        MessageHandler(filters.TEXT & ~filters.COMMAND & filters.ChatType.PRIVATE, plain_text)
    )
    application.add_handler(CallbackQueryHandler(stale_button))
