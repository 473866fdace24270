"""/language: Turkish or English, chosen with buttons."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot.context import NewsbotContext
from bot.render import LANGUAGES
from bot.views import RenderedMessage
from handlers.access import chat_admins_only
from handlers.editing import edit_in_place

CALLBACK_PREFIX = "lang:"


@chat_admins_only
async def language(update: Update, context: NewsbotContext) -> None:
    """Offer both languages as buttons."""
    buttons = [
        InlineKeyboardButton(
            context.renderer.label(lang, "language_name"), callback_data=CALLBACK_PREFIX + lang
        )
        for lang in LANGUAGES
    ]
    await context.reply(update, "language_prompt", reply_markup=InlineKeyboardMarkup([buttons]))


@chat_admins_only
async def choose_language(update: Update, context: NewsbotContext) -> None:
    """Store the choice and confirm it in the new language."""
    query = update.callback_query
    chosen = (query.data or "").removeprefix(CALLBACK_PREFIX)
    if chosen not in LANGUAGES:
        await query.answer()
        return
    await context.store.chats.set_language(update.effective_chat.id, chosen)
    context.lang = chosen
    await query.answer()
    await edit_in_place(query, RenderedMessage(context.render("language_set")))


def register(application: Application) -> None:
    """Wire /language and its buttons."""
    application.add_handler(CommandHandler("language", language))
    application.add_handler(CallbackQueryHandler(choose_language, pattern=f"^{CALLBACK_PREFIX}"))
