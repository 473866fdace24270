"""/settings: one message with buttons that shows and changes every reader choice, edited in place."""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot.context import NewsbotContext
from bot.readers.panel import PANEL_PREFIX, apply, parse_panel_data, screen
from handlers.choices import edit, may_change, readers, refuse_press, send_screen


async def settings(update: Update, context: NewsbotContext) -> None:
    """The overview: languages to tap at once, and a button for each other choice."""
    await send_screen(update, context, "m")


async def panel_button(update: Update, context: NewsbotContext) -> None:
    """Show another screen or change a choice, then show the screen again; every press is answered."""
    query = update.callback_query
    action = parse_panel_data(query.data)
    if action is None:
        await query.answer(context.label("button_expired"))
        return
    chat_id = update.effective_chat.id
    service = readers(context)
    if action.changes:
        if not await may_change(update, context):
            await refuse_press(query, context)
            return
        if not await apply(service, chat_id, action):
            await query.answer(context.label("button_expired"))
        else:
            await query.answer(context.label("setting_saved"))
    else:
        await query.answer()
    panel = await service.panel(chat_id)
    if panel is not None:
        await edit(query, screen(context.renderer, context.lang, action.screen, panel))


def register(application: Application) -> None:
    """Wire /settings and its buttons."""
    application.add_handler(CommandHandler("settings", settings))
    application.add_handler(CallbackQueryHandler(panel_button, pattern=f"^{PANEL_PREFIX}"))
