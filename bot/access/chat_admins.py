"""Whether a user administers a group or channel: Telegram's getChatMember, remembered for a minute."""

from __future__ import annotations

import asyncio
import logging

from telegram import Bot
from telegram.constants import ChatMemberStatus
from telegram.error import TelegramError

log = logging.getLogger(__name__)

ADMIN_STATUSES = frozenset({ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR})
CACHE_SECONDS = 60.0
MAX_ENTRIES = 10_000  # about 1 MB; the oldest answers go first beyond that


class ChatAdmins:
    """getChatMember answers per chat and user, kept `ttl` seconds so a busy group costs one call a minute.

    A promoted or demoted admin is therefore seen within `ttl` seconds. A failed lookup is not remembered:
    the press is refused (one log line) and the next one asks again. Concurrent questions about the same
    chat and user share one request.
    """

    def __init__(self, ttl: float = CACHE_SECONDS, max_entries: int = MAX_ENTRIES) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._answers: dict[tuple[int, int], tuple[float, bool]] = {}  # oldest first: (expires, admin)
        self._asking: dict[tuple[int, int], asyncio.Future[bool]] = {}

    async def is_admin(self, bot: Bot, chat_id: int, user_id: int, now: float) -> bool:
        """True for the chat's creator and administrators (anonymous ones too); False if Telegram fails."""
        key = (chat_id, user_id)
        known = self._answers.get(key)
        if known is not None and now < known[0]:
            return known[1]
        asking = self._asking.get(key)
        if asking is None:
            asking = asyncio.ensure_future(self._ask(bot, key, now))
            self._asking[key] = asking
            asking.add_done_callback(lambda _: self._asking.pop(key, None))
        return await asyncio.shield(asking)  # one waiter giving up does not cancel the others' answer

    async def _ask(self, bot: Bot, key: tuple[int, int], now: float) -> bool:
        chat_id, user_id = key
        try:
            member = await bot.get_chat_member(chat_id, user_id)
        except TelegramError as error:
            log.warning("could not check whether user %s administers chat %s: %s", user_id, chat_id, error)
            return False
        admin = member.status in ADMIN_STATUSES
        self._remember(key, now + self.ttl, admin)
        return admin

    def _remember(self, key: tuple[int, int], expires: float, admin: bool) -> None:
        self._answers.pop(key, None)  # re-inserted at the end: the dict stays ordered by age
        self._answers[key] = (expires, admin)
        while len(self._answers) > self.max_entries:
            del self._answers[next(iter(self._answers))]
