"""Telling the operators, in their own chats and languages, what the engine did on its own."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable

from telegram.error import TelegramError
from telegram.ext import ExtBot

from bot.render import Renderer, language_for
from storage import Store

log = logging.getLogger(__name__)


def operator_notice(
    bot: ExtBot, store: Store, renderer: Renderer, admin_ids: Iterable[int]
) -> Callable[[str, float], Awaitable[None]]:
    """A callback for the engine: after a pause (refused token, another instance), tell each operator once."""
    admins = tuple(admin_ids)

    async def notify(reason: str, paused_seconds: float) -> None:
        for admin_id in admins:
            chat = await store.chats.get(admin_id)
            lang = language_for(chat.language if chat else None, chat.language_code if chat else None)
            text = renderer.message(
                lang, "broadcasts_resumed", reason=reason, minutes=round(paused_seconds / 60)
            )
            try:
                await bot.send_message(admin_id, text)
            except TelegramError as error:
                log.warning("could not tell operator %s that broadcasts resumed: %s", admin_id, error)

    return notify
