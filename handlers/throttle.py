"""The one "slow down" answer for a sender who just went over NEWSBOT_USER_RATE; nothing else runs for it.

The decision is made on arrival by the update processor (bot/intake/); later updates of the same sender are
dropped there and never reach any handler. This group runs before the prelude, so the answered update
touches no database either.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationHandlerStop, TypeHandler

from bot.context import NewsbotContext
from bot.intake import notice_due
from bot.render import language_for

log = logging.getLogger(__name__)

THROTTLE_GROUP = -1000  # before the prelude (-100), which records the chat in the database


async def slow_down(update: Update, context: NewsbotContext) -> None:
    """Say "slow down" once, in the sender's Telegram language, and stop every other handler."""
    if not notice_due():
        return
    user = update.effective_user
    context.lang = language_for(None, user.language_code if user is not None else None)
    try:
        if update.callback_query is not None:  # a toast that also stops the button's spinner
            await update.callback_query.answer(context.render("slow_down"))
        elif update.inline_query is not None:  # nothing to offer: an empty list ends the client's wait
            await update.inline_query.answer([], cache_time=0, is_personal=True)
        else:
            await context.reply(update, "slow_down")
    except TelegramError as error:
        log.warning("could not tell sender %s to slow down: %s", user.id if user else "-", error)
    raise ApplicationHandlerStop


def register(application: Application) -> None:
    """Install the answer in the earliest group."""
    application.add_handler(TypeHandler(Update, slow_down), group=THROTTLE_GROUP)
