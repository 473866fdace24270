"""Invitations: opaque invite codes and the friends who came through them."""

from __future__ import annotations

import secrets
import string

from storage.database import Database
from storage.models import InviteCounts, ReferrerStat

INVITE_CODE_ALPHABET = string.ascii_letters + string.digits
INVITE_CODE_LENGTH = 8
_ACTIVE = "chats.subscribed = 1 AND chats.reachable = 1"


def new_invite_code() -> str:
    """A random code: 62^8 possibilities, nothing in it that reveals who owns it."""
    return "".join(secrets.choice(INVITE_CODE_ALPHABET) for _ in range(INVITE_CODE_LENGTH))


class Referrals:
    """Who invited whom; a friend counts once, for the first reader whose link brought them."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def code_for(self, user_id: int) -> str:
        """The reader's invite code, created on first use and stable afterwards."""
        while True:
            existing = await self._db.fetchval("SELECT code FROM invite_codes WHERE user_id = ?", (user_id,))
            if existing is not None:
                return existing
            # Nothing inserted: a concurrent insert for this user, or a code collision: read again or redraw.
            await self._db.execute(
                "INSERT INTO invite_codes (user_id, code) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (user_id, new_invite_code()),
            )

    async def referrer_for(self, code: str) -> int | None:
        """The owner of an invite code, or None for a code nobody owns."""
        return await self._db.fetchval("SELECT user_id FROM invite_codes WHERE code = ?", (code,))

    async def record_new_reader(self, friend_id: int, code: str, article_id: int | None) -> bool:
        """Credit the code's owner, unless the friend is already known to the bot, referred, or themselves."""
        if await self._db.fetchval(  # the usual answer is no: find it out without taking the write lock
            "SELECT EXISTS (SELECT 1 FROM chats WHERE chat_id = ?) "
            " OR EXISTS (SELECT 1 FROM referrals WHERE friend_id = ?) "
            " OR NOT EXISTS (SELECT 1 FROM invite_codes WHERE code = ? AND user_id != ?)",
            (friend_id, friend_id, code, friend_id),
        ):
            return False
        changed = await self._db.execute(
            "INSERT INTO referrals (friend_id, referrer_id, article_id) "
            "SELECT CAST(? AS bigint), user_id, CAST(? AS bigint) FROM invite_codes "
            "WHERE code = ? AND user_id != ? "
            " AND NOT EXISTS (SELECT 1 FROM chats WHERE chat_id = ?) ON CONFLICT DO NOTHING",
            (friend_id, article_id, code, friend_id, friend_id),
        )
        return changed > 0

    async def counts_for(self, referrer_id: int) -> InviteCounts:
        """What /invite tells a reader about their own link."""
        row = await self._db.fetchone(
            f"SELECT count(*), coalesce(sum(CASE WHEN {_ACTIVE} THEN 1 ELSE 0 END), 0) FROM referrals "
            "LEFT JOIN chats ON chats.chat_id = referrals.friend_id WHERE referrals.referrer_id = ?",
            (referrer_id,),
        )
        assert row is not None
        return InviteCounts(friends=row[0], subscribers=row[1])

    async def top_referrers(self, limit: int) -> list[ReferrerStat]:
        """The readers who brought the most friends, for /stats."""
        rows = await self._db.fetchall(
            "SELECT referrer_id, count(*) AS friends, "
            f" coalesce(sum(CASE WHEN {_ACTIVE} THEN 1 ELSE 0 END), 0) AS subscribers "
            "FROM referrals LEFT JOIN chats ON chats.chat_id = referrals.friend_id "
            "GROUP BY referrer_id ORDER BY friends DESC, subscribers DESC, referrer_id LIMIT ?",
            (limit,),
        )
        return [ReferrerStat(row[0], row[1], row[2]) for row in rows]

    async def invited_subscriber_count(self) -> int:
        """Active subscribers who came by invitation, for /stats."""
        return await self._db.fetchval(
            "SELECT count(*) FROM referrals JOIN chats ON chats.chat_id = referrals.friend_id "
            f"WHERE {_ACTIVE}"
        )
