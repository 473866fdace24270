"""/settings: one message with buttons that shows and changes every reader choice, edited in place."""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot.context import NewsbotContext
from bot.readers.panel import PANEL_PREFIX, apply, parse_panel_data, screen
from handlers.access import chat_admins_only
from handlers.choices import readers, send_screen
from handlers.editing import edit_in_place


async def settings(update: Update, context: NewsbotContext) -> None:
    """The overview: languages to tap at once, and a button for each other choice."""
    await send_screen(update, context, "m")


async def panel_button(update: Update, context: NewsbotContext) -> None:
    """Show another screen (anyone may look), or change a choice; every press is answered."""
    query = update.callback_query
    action = parse_panel_data(query.data)
    if action is None:
        await query.answer(context.label("button_expired"))
        return
    if action.changes:
        await change_by_button(update, context)
        return
    await query.answer()
    await _show(update, context, action.screen)


@chat_admins_only
async def change_by_button(update: Update, context: NewsbotContext) -> None:
    """Change the choice a button names, then show its screen again with the change."""
    query = update.callback_query
    action = parse_panel_data(query.data)
    assert action is not None, "panel_button parsed it"
    if await apply(readers(context), update.effective_chat.id, action):
        await query.answer(context.label("setting_saved"))
    else:  # a section or followed phrase that is gone: the screen shows what is there now
        await query.answer(context.label("button_expired"))
    await _show(update, context, action.screen)


async def _show(update: Update, context: NewsbotContext, name: str) -> None:
    panel = await readers(context).panel(update.effective_chat.id)
    if panel is not None:
        await edit_in_place(update.callback_query, screen(context.renderer, context.lang, name, panel))


def register(application: Application) -> None:
    """Wire /settings and its buttons."""
    application.add_handler(CommandHandler("settings", settings))
    application.add_handler(CallbackQueryHandler(panel_button, pattern=f"^{PANEL_PREFIX}"))
