"""/start and /help: the welcome and the list of commands."""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application, CommandHandler

from bot.commands import describe
from bot.context import NewsbotContext


async def start(update: Update, context: NewsbotContext) -> None:
    """Welcome the reader; a returning reader who had blocked the bot becomes reachable again."""
    chat = update.effective_chat
    if chat is not None:
        await context.store.chats.mark_reachable(chat.id, True)
    user = update.effective_user
    await context.reply(update, "welcome", first_name=user.first_name if user else None, weather=True)


async def help_command(update: Update, context: NewsbotContext) -> None:
    """Every command, one line each, in the reader's language."""
    commands = describe(context.renderer, context.lang, admin=context.is_admin(update))
    await context.reply(update, "help", commands=commands)


def register(application: Application) -> None:
    """Wire /start and /help."""
    application.add_handler(CommandHandler("start", start))
    application.add_handler(CommandHandler("help", help_command))
