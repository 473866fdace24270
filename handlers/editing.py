"""Edit the message whose button was pressed, in place; a second press that changes nothing is fine."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from telegram import CallbackQuery, InlineKeyboardMarkup
from telegram.error import BadRequest

from bot.views import RenderedMessage


async def edit_in_place(query: CallbackQuery, message: RenderedMessage) -> None:
    """Replace the pressed message's text and buttons; an unchanged screen (a double tap) is no error."""
    with _unchanged_is_fine():
        await query.edit_message_text(message.text, reply_markup=message.reply_markup)


async def edit_buttons(query: CallbackQuery, markup: InlineKeyboardMarkup) -> None:
    """Replace only the pressed message's buttons; the same buttons again (a double tap) are no error."""
    with _unchanged_is_fine():
        await query.edit_message_reply_markup(markup)


@contextmanager
def _unchanged_is_fine() -> Iterator[None]:
    """Telegram refuses an edit to what the message already shows; the reader sees what they asked for."""
    try:
        yield
    except BadRequest as error:
        if "not modified" not in error.message.lower():
            raise
