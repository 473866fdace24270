"""/start and /help: the welcome and the list of commands."""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application, CommandHandler

from bot.commands import describe
from bot.context import NewsbotContext
from bot.sharing import parse_share_link
from handlers import sharing


async def start(update: Update, context: NewsbotContext) -> None:
    """Welcome the reader, or show the article a friend shared; a returning reader becomes reachable again."""
    chat = update.effective_chat
    if chat is not None:
        await context.store.chats.mark_reachable(chat.id, True)
    link = parse_share_link(context.args or [])
    if link is not None and await sharing.show_shared_article(update, context, link):
        return
    markup = await sharing.subscribe_markup(update, context) if link is not None else None
    user = update.effective_user
    await context.reply(
        update, "welcome", reply_markup=markup, first_name=user.first_name if user else None, weather=True
    )


async def help_command(update: Update, context: NewsbotContext) -> None:
    """Every command, one line each, in the reader's language; operator commands only to operators."""
    commands = describe(context.renderer, context.lang, admin=context.is_operator(update))
    await context.reply(update, "help", commands=commands)


def register(application: Application) -> None:
    """Wire /start and /help."""
    application.add_handler(CommandHandler("start", start))
    application.add_handler(CommandHandler("help", help_command))
