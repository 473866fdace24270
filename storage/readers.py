"""Reader choices on the chat row: article languages, muted sections, followed words, digests, quiet hours."""

from __future__ import annotations

from collections.abc import Sequence

from storage.database import Database
from storage.folding import fold_text

MAX_FOLLOWS = 20

# The reader's interface language in SQL, over `chats c`: the same answer as bot/render.py language_for
# (their own /language choice if it is one we speak, else Turkish for Telegram's tr*, else English).
# Routing uses it for readers who never chose article languages (chats.languages NULL).
INTERFACE_LANGUAGE = (
    "(CASE WHEN c.language IN ('tr', 'en') THEN c.language "
    "WHEN substr(lower(c.language_code), 1, 2) = 'tr' THEN 'tr' ELSE 'en' END)"
)


class Readers:
    """Small setters for reader choices; the commands and /settings decide what to store."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def set_languages(self, chat_id: int, languages: list[str] | None) -> None:
        """Article languages ("en,tr" sorted); None goes back to the interface language."""
        stored = ",".join(sorted(set(languages))) if languages else None
        await self._db.execute("UPDATE chats SET languages = ? WHERE chat_id = ?", (stored, chat_id))

    async def mute_section(self, chat_id: int, section_id: int) -> None:
        """Switch a section off (",3,7,"); idempotent."""
        await self._db.execute(
            "UPDATE chats SET muted_sections = coalesce(muted_sections, ',') || ? || ',' "
            "WHERE chat_id = ? AND instr(coalesce(muted_sections, ''), ?) = 0",
            (str(section_id), chat_id, f",{section_id},"),
        )

    async def unmute_section(self, chat_id: int, section_id: int) -> None:
        """Switch a section on again; with none left off, every section (and every new one) is on."""
        await self._db.execute(
            "UPDATE chats SET muted_sections = nullif(replace(muted_sections, ?, ','), ',') "
            "WHERE chat_id = ?",
            (f",{section_id},", chat_id),
        )

    async def follow(self, chat_id: int, phrases: Sequence[str]) -> int:
        """Follow phrases (kept as typed, keyed folded), at most MAX_FOLLOWS per chat; how many were new."""
        added = 0
        async with self._db.transaction() as tx:
            rows = await tx.fetchall("SELECT folded FROM follows WHERE chat_id = ?", (chat_id,))
            followed = {row[0] for row in rows}
            for phrase in phrases:
                folded = fold_text(phrase)
                if folded and folded not in followed and len(followed) < MAX_FOLLOWS:
                    await tx.execute(
                        "INSERT INTO follows (chat_id, folded, phrase) VALUES (?, ?, ?)",
                        (chat_id, folded, phrase),
                    )
                    followed.add(folded)
                    added += 1
        return added

    async def unfollow(self, chat_id: int, phrases: Sequence[str]) -> int:
        """Stop following phrases, matched folded ("cankiri" removes "Çankırı"); how many were followed."""
        removed = 0
        async with self._db.transaction() as tx:
            for phrase in phrases:
                removed += await tx.execute(
                    "DELETE FROM follows WHERE chat_id = ? AND folded = ?", (chat_id, fold_text(phrase))
                )
        return removed

    async def set_digest(self, chat_id: int, times: str | None, next_slot: float | None) -> None:
        """Digest times ("08:00,18:30") and the next slot; turning digests on starts after today's newest."""
        await self._db.execute(
            "UPDATE chats SET digest_times = ?, digest_next = ?, "
            " digest_after = CASE WHEN ? IS NULL THEN NULL "
            "  WHEN digest_times IS NULL OR digest_after IS NULL "
            "  THEN (SELECT coalesce(max(id), 0) FROM articles) ELSE digest_after END "
            "WHERE chat_id = ?",
            (times, next_slot if times else None, times, chat_id),
        )

    async def set_quiet(
        self, chat_id: int, start: int | None, end: int | None, next_end: float | None
    ) -> None:
        """Quiet hours (minutes after Istanbul midnight) and when the current or next quiet period ends."""
        off = start is None or end is None
        await self._db.execute(
            "UPDATE chats SET quiet_start = ?, quiet_end = ?, quiet_next_end = ? WHERE chat_id = ?",
            (None if off else start, None if off else end, None if off else next_end, chat_id),
        )
