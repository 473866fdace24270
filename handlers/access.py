"""The two gates every handler that needs one goes through: chat admins for settings, operators for theirs.

Wrap every handler that changes a chat's state (subscription, language, province, push time, and any
setting added later) in @chat_admins_only, and every operator command in @operators_only; a setting's
command that shows the setting when typed alone is built with setting_command(show, change).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from telegram import Update

from bot.context import NewsbotContext
from handlers.fallback import unknown_command

Handler = Callable[[Update, NewsbotContext], Awaitable[None]]


def chat_admins_only(handler: Handler) -> Handler:
    """In a group or channel only its admins get through; a member gets the short "admins only" answer."""

    @functools.wraps(handler)
    async def gated(update: Update, context: NewsbotContext) -> None:
        if await context.may_change_chat(update):
            await handler(update, context)
        elif update.callback_query is not None:  # seen by the presser alone, not posted to the group
            await update.callback_query.answer(context.label("chat_admins_only"), show_alert=True)
        else:
            await context.reply(update, "chat_admins_only")

    return gated


def setting_command(show: Handler, change: Handler) -> Handler:
    """A setting's command: alone it shows the setting to anyone; with arguments chat admins change it."""
    gated = chat_admins_only(change)

    @functools.wraps(show)
    async def command(update: Update, context: NewsbotContext) -> None:
        await (gated if context.args else show)(update, context)

    return command


def operators_only(handler: Handler) -> Handler:
    """Outside a private chat with an operator an operator command is answered like an unknown command."""

    @functools.wraps(handler)
    async def gated(update: Update, context: NewsbotContext) -> None:
        if context.is_operator(update):
            await handler(update, context)
        else:
            await unknown_command(update, context)

    return gated
