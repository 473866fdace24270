"""The last line of defence: log with context, tell the reader, never crash."""

from __future__ import annotations

import contextlib
import logging

from telegram import Update
from telegram.error import Conflict, Forbidden, InvalidToken, TelegramError
from telegram.ext import Application

from bot.context import NewsbotContext
from handlers.prelude import reader_language

log = logging.getLogger(__name__)


async def on_error(update: object, context: NewsbotContext) -> None:
    """Log the failure with the update that caused it and apologise to the reader."""
    engine = context.bot_data.delivery
    if isinstance(context.error, Conflict | InvalidToken) and update is None:
        # Polling says another instance uses the token, or the token was revoked: not a bug, and PTB
        # retries on its own. The engine pauses broadcasts and logs one line per episode, not per retry.
        if engine is not None:
            if isinstance(context.error, Conflict):
                engine.conflict()
            else:
                engine.token_refused("getUpdates")
        return
    summary = _describe(update)
    log.error("error while handling %s", summary, exc_info=context.error)
    if (
        not isinstance(update, Update)
        or update.effective_chat is None
        or isinstance(context.error, Forbidden)
    ):
        return
    if update.callback_query is not None:
        with contextlib.suppress(TelegramError):  # usually answered already, before the failure
            await update.callback_query.answer()
    try:
        context.lang = await reader_language(update, context, remember=False)
        await context.reply(update, "error")
    except TelegramError as error:
        log.warning("could not tell chat %s about the error: %s", update.effective_chat.id, error)
    except Exception:
        log.exception("the error reply failed as well")


def _describe(update: object) -> str:
    if not isinstance(update, Update):
        return repr(update)[:200]
    chat = update.effective_chat
    text = update.effective_message.text if update.effective_message else None
    return f"update {update.update_id} in chat {chat.id if chat else '-'}: {(text or '')[:80]!r}"


def register(application: Application) -> None:
    """Install the error handler."""
    application.add_error_handler(on_error)
