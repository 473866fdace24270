"""Chats, languages and subscriptions."""

from __future__ import annotations

import time

from storage.database import Database, Row, StorageUnavailable
from storage.models import Chat, SubscriptionChange


class Chats:
    """Who talks to the bot and who wants its news."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._now = db.dialect.now  # the current UTC time as ISO text

    async def remember(self, chat_id: int, chat_type: str, language_code: str | None) -> Chat:
        """Record a chat on every update, writing only when it is new or Telegram reports something new."""
        current = await self.get(chat_id)
        if (
            current is not None
            and current.chat_type == chat_type
            and language_code
            in (
                None,
                current.language_code,
            )
        ):
            return current  # the common case reads only: no write lock, works on a full disk
        return await self.touch(chat_id, chat_type, language_code)

    async def touch(self, chat_id: int, chat_type: str, language_code: str | None) -> Chat:
        """Record a chat and refresh what Telegram says about its type and language (always writes)."""
        row = await self._db.write_fetchone(
            "INSERT INTO chats (chat_id, chat_type, language_code) VALUES (?, ?, ?) "
            "ON CONFLICT (chat_id) DO UPDATE SET chat_type = excluded.chat_type, "
            " language_code = coalesce(excluded.language_code, chats.language_code) "
            "RETURNING *",
            (chat_id, chat_type, language_code),
        )
        assert row is not None
        return _chat(row)

    async def get(self, chat_id: int) -> Chat | None:
        """One chat or None."""
        row = await self._db.fetchone("SELECT * FROM chats WHERE chat_id = ?", (chat_id,))
        return None if row is None else _chat(row)

    async def set_language(self, chat_id: int, language: str) -> None:
        """Store the reader's explicit choice, which wins over Telegram's language_code."""
        await self._db.execute(
            f"UPDATE chats SET language = ?, updated_at = {self._now} WHERE chat_id = ?", (language, chat_id)
        )

    async def subscribe(self, chat_id: int) -> SubscriptionChange:
        """Subscribe (and make reachable again); idempotent."""
        async with self._db.transaction() as tx:
            row = await tx.fetchone("SELECT subscribed, reachable FROM chats WHERE chat_id = ?", (chat_id,))
            if row is None:  # its first update could not be recorded (full disk): do not claim success
                raise StorageUnavailable(f"chat {chat_id} is not recorded yet")
            was_active = row is not None and bool(row["subscribed"]) and bool(row["reachable"])
            await tx.execute(
                f"UPDATE chats SET subscribed = 1, reachable = 1, updated_at = {self._now}, "
                f" subscribed_at = CASE WHEN subscribed = 1 THEN subscribed_at ELSE {self._now} END "
                "WHERE chat_id = ?",
                (chat_id,),
            )
        return SubscriptionChange(changed=not was_active, subscribed=True)

    async def unsubscribe(self, chat_id: int) -> SubscriptionChange:
        """Unsubscribe (idempotent); articles still queued for the chat are not sent any more."""
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                f"UPDATE chats SET subscribed = 0, updated_at = {self._now} "
                "WHERE chat_id = ? AND subscribed = 1",
                (chat_id,),
            )
            await tx.execute(
                "UPDATE deliveries SET status = 'failed', error = 'unsubscribed', finished_at = ? "
                "WHERE chat_id = ? AND status = 'pending' "
                " AND broadcast_id IN (SELECT id FROM broadcasts WHERE kind IN ('article', 'digest'))",
                (time.time(), chat_id),
            )
        return SubscriptionChange(changed=changed > 0, subscribed=False)

    async def mark_reachable(self, chat_id: int, reachable: bool) -> bool:
        """Telegram told us the chat blocked or unblocked the bot; True if that changed anything."""
        current = await self.get(chat_id)
        if current is None or current.reachable == reachable:
            return False  # nothing to write (a /start from a reader the bot can reach reads only)
        changed = await self._db.execute(
            f"UPDATE chats SET reachable = ?, updated_at = {self._now} WHERE chat_id = ? AND reachable != ?",
            (int(reachable), chat_id, int(reachable)),
        )
        return changed > 0


def _chat(row: Row) -> Chat:
    return Chat(
        chat_id=row["chat_id"],
        chat_type=row["chat_type"],
        language_code=row["language_code"],
        language=row["language"],
        subscribed=bool(row["subscribed"]),
        reachable=bool(row["reachable"]),
    )
