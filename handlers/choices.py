"""/languages, /topics and the mute button under pushed articles; the helpers every choice handler shares."""

from __future__ import annotations

from telegram import InlineKeyboardButton, Message, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot.context import NewsbotContext
from bot.readers.panel import mute_data, parse_mute_data, replace_button, screen
from bot.readers.parsing import parse_languages, shown
from bot.readers.service import ReaderService
from handlers.access import chat_admins_only, setting_command
from handlers.editing import edit_buttons


def readers(context: NewsbotContext) -> ReaderService:
    """The reader-choices service on this bot's store and clock."""
    return ReaderService(context.store, context.services.clock)


async def send_screen(update: Update, context: NewsbotContext, name: str) -> None:
    """Send one screen of the settings message (see bot/readers/panel.py SCREENS) as a new message."""
    panel = await readers(context).panel(update.effective_chat.id)
    if panel is None:  # the chat's first update could not be recorded (full disk)
        await context.reply(update, "storage_unavailable")
        return
    await context.send(update, screen(context.renderer, context.lang, name, panel))


async def show_languages(update: Update, context: NewsbotContext) -> None:
    """`/languages` alone shows buttons (to anyone); `/languages en|tr|both` sets the article languages."""
    await send_screen(update, context, "l")


async def change_languages(update: Update, context: NewsbotContext) -> None:
    """`/languages en|tr|both`: the languages of the articles the chat gets."""
    text = " ".join(context.args or [])
    chosen = parse_languages(text)
    if chosen is None:
        await context.reply(update, "languages_usage", given=shown(text))
        return
    await readers(context).set_languages(update.effective_chat.id, chosen)
    await context.reply(update, "languages_set", languages=chosen)


async def topics(update: Update, context: NewsbotContext) -> None:
    """`/topics`: the sections that exist, as buttons that switch them on and off."""
    await send_screen(update, context, "s")


@chat_admins_only
async def mute_button(update: Update, context: NewsbotContext) -> None:
    """🔕 under a pushed article mutes its section and turns into 🔔 (undo); every press is answered."""
    query = update.callback_query
    parsed = parse_mute_data(query.data)
    if parsed is None:
        await query.answer(context.label("button_expired"))
        return
    mute, section_id = parsed
    section = await readers(context).set_section(update.effective_chat.id, section_id, on=not mute)
    if section is None:
        await query.answer(context.label("button_expired"))
        return
    name = section.label(context.lang)
    await query.answer(context.label("section_muted" if mute else "section_unmuted", name))
    message = query.message
    if not isinstance(message, Message) or message.reply_markup is None:
        return  # too old to edit: the choice is stored all the same
    flipped = InlineKeyboardButton(
        context.label("unmute_button" if mute else "mute_button", name),
        callback_data=mute_data(section_id, mute=not mute),
    )
    await edit_buttons(query, replace_button(message.reply_markup, query.data, flipped))


def register(application: Application) -> None:
    """Wire /languages, /topics and the mute buttons."""
    application.add_handler(CommandHandler("languages", setting_command(show_languages, change_languages)))
    application.add_handler(CommandHandler("topics", topics))
    application.add_handler(CallbackQueryHandler(mute_button, pattern=r"^(?:un)?mute:"))
