"""Reader choices: article languages, muted sections, followed words, digest times, quiet hours (0012)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from storage.database import Database, Row, StorageUnavailable, Transaction
from storage.dialect import Dialect
from storage.folding import fold_text
from storage.models import FollowChange, FollowedPhrase, ReaderChoices, Section, UnfollowChange

MAX_FOLLOWS = 20  # followed words and phrases per chat

# The interface language of chat `c` in SQL; it must equal bot/render.py language_for(c.language,
# c.language_code) (tests/test_reader_choices.py checks it), since routing matches article languages with it.
INTERFACE_LANGUAGE = (
    "(CASE WHEN c.language IN ('tr', 'en') THEN c.language "
    "WHEN substr(lower(c.language_code), 1, 2) = 'tr' THEN 'tr' ELSE 'en' END)"
)



def _choices_sql(dialect: Dialect) -> str:
    """One row per chat with its follows as a JSON array, so a screen reads everything in one statement."""
    return (
        f"SELECT c.*, {INTERFACE_LANGUAGE} AS interface_language, "
        f" (SELECT {dialect.json_pairs('f.folded', 'f.phrase')} FROM "
        "   (SELECT folded, phrase FROM follows WHERE chat_id = c.chat_id ORDER BY folded) AS f"
        " ) AS follows_json "
        "FROM chats AS c WHERE c.chat_id = ?"
    )


class Readers:
    """All SQL about what each chat chose to get and when."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._now = db.dialect.now  # the current UTC time as ISO text
        self._choices = _choices_sql(db.dialect)
        muted = "coalesce(muted_sections, '')"
        self._mute = (
            "UPDATE chats SET muted_sections = coalesce(muted_sections, ',') || ? || ',', "
            f" updated_at = {self._now} WHERE chat_id = ? AND NOT {db.dialect.contains(muted, '?')}"
        )
        self._unmute = (
            "UPDATE chats SET muted_sections = nullif(replace(muted_sections, ?, ','), ','), "
            f" updated_at = {self._now} WHERE chat_id = ? AND {db.dialect.contains(muted, '?')}"
        )

    async def choices(self, chat_id: int) -> ReaderChoices | None:
        """The chat's choices (None for a chat the bot has not recorded)."""
        row = await self._db.fetchone(self._choices, (chat_id,))
        return None if row is None else _choices(row)

    async def sections(self) -> list[Section]:
        """Every section that exists, General first, in the order they were created."""
        rows = await self._db.fetchall("SELECT id, key, label_tr, label_en FROM sections ORDER BY id")
        return [Section(row["id"], row["key"], row["label_tr"], row["label_en"]) for row in rows]

    async def set_languages(self, chat_id: int, languages: Iterable[str] | None) -> None:
        """Store the article languages ("en,tr", sorted); None or nothing = the interface language."""
        stored = ",".join(sorted(set(languages))) if languages else None
        await self._update(chat_id, "languages = ?", (stored or None,))

    async def mute_section(self, chat_id: int, section_id: int) -> bool:
        """Switch a section off; True if it was on."""
        token = f",{int(section_id)},"
        changed = await self._db.execute(self._mute, (str(int(section_id)), chat_id, token))
        return changed > 0

    async def unmute_section(self, chat_id: int, section_id: int) -> bool:
        """Switch a section back on; True if it was off. No section off at all is stored as NULL."""
        token = f",{int(section_id)},"
        changed = await self._db.execute(self._unmute, (token, chat_id, token))
        return changed > 0

    async def set_muted(self, chat_id: int, section_ids: Iterable[int]) -> None:
        """Replace the chat's muted sections (",3,7,"); none = every section on, new ones too (NULL)."""
        ids = sorted({int(section_id) for section_id in section_ids})
        stored = "," + ",".join(str(section_id) for section_id in ids) + "," if ids else None
        await self._update(chat_id, "muted_sections = ?", (stored,))

    async def follow(self, chat_id: int, phrases: Sequence[str]) -> FollowChange:
        """Follow phrases (kept as typed, keyed folded), at most MAX_FOLLOWS per chat; idempotent."""
        added: list[str] = []
        known: list[str] = []
        full: list[str] = []
        async with self._db.transaction() as tx:
            rows = await tx.fetchall("SELECT folded, phrase FROM follows WHERE chat_id = ?", (chat_id,))
            followed = {row["folded"]: row["phrase"] for row in rows}
            for phrase in phrases:
                folded = fold_text(phrase)
                if not folded:
                    continue
                if folded in followed:
                    if followed[folded] not in known:
                        known.append(followed[folded])
                elif len(followed) >= MAX_FOLLOWS:
                    full.append(phrase)
                else:
                    await tx.execute(
                        "INSERT INTO follows (chat_id, folded, phrase) VALUES (?, ?, ?)",
                        (chat_id, folded, phrase),
                    )
                    followed[folded] = phrase
                    added.append(phrase)
        return FollowChange(tuple(added), tuple(known), tuple(full), len(followed))

    async def unfollow(self, chat_id: int, phrases: Sequence[str]) -> UnfollowChange:
        """Stop following phrases, matched folded ("cankiri" removes "Çankırı"); idempotent."""
        removed: list[str] = []
        unknown: list[str] = []
        async with self._db.transaction() as tx:
            for phrase in phrases:
                row = await tx.fetchone(
                    "DELETE FROM follows WHERE chat_id = ? AND folded = ? RETURNING phrase",
                    (chat_id, fold_text(phrase)),
                )
                if row is None:
                    unknown.append(phrase)
                else:
                    removed.append(row["phrase"])
        return UnfollowChange(tuple(removed), tuple(unknown))

    async def follows(self, chat_id: int) -> list[FollowedPhrase]:
        """The chat's followed phrases, in folded alphabetical order."""
        rows = await self._db.fetchall(
            "SELECT folded, phrase FROM follows WHERE chat_id = ? ORDER BY folded", (chat_id,)
        )
        return [FollowedPhrase(row["folded"], row["phrase"]) for row in rows]

    async def set_digest(self, chat_id: int, times: str | None, digest_next: float | None) -> None:
        """Digest times ("08:00,18:30") and the next slot; turning digests on starts after today's newest
        article, so the first digest holds only what is published from now on. None switches them off."""
        if times is None:
            await self._update(chat_id, "digest_times = NULL, digest_next = NULL, digest_after = NULL", ())
            return
        await self._update(
            chat_id,
            "digest_after = CASE WHEN digest_times IS NULL OR digest_after IS NULL "
            " THEN (SELECT coalesce(max(id), 0) FROM articles) ELSE digest_after END, "
            "digest_times = ?, digest_next = ?",
            (times, digest_next),
        )

    async def set_quiet(
        self, chat_id: int, start: int | None, end: int | None, quiet_next_end: float | None
    ) -> None:
        """Quiet hours in minutes after Istanbul midnight and when they next end; None switches them off."""
        if start is None or end is None:
            start = end = quiet_next_end = None
        await self._update(
            chat_id, "quiet_start = ?, quiet_end = ?, quiet_next_end = ?", (start, end, quiet_next_end)
        )

    async def _update(self, chat_id: int, assignments: str, params: tuple[object, ...]) -> None:
        async with self._db.transaction() as tx:
            await _update_chat(tx, chat_id, assignments, params)


async def _update_chat(tx: Transaction, chat_id: int, assignments: str, params: tuple[object, ...]) -> None:
    changed = await tx.execute(
        f"UPDATE chats SET {assignments}, updated_at = {tx.dialect.now} WHERE chat_id = ?", (*params, chat_id)
    )
    if changed == 0:  # its first update could not be recorded (full disk): do not claim success
        raise StorageUnavailable(f"chat {chat_id} is not recorded yet")


def _choices(row: Row) -> ReaderChoices:
    interface = row["interface_language"]
    chosen = tuple(lang for lang in (row["languages"] or "").split(",") if lang)
    muted = frozenset(int(part) for part in (row["muted_sections"] or "").split(",") if part.isdigit())
    follows = tuple(FollowedPhrase(folded, phrase) for folded, phrase in json.loads(row["follows_json"]))
    return ReaderChoices(
        chat_id=row["chat_id"],
        subscribed=bool(row["subscribed"]) and bool(row["reachable"]),
        interface_language=interface,
        languages=chosen or (interface,),
        languages_chosen=bool(chosen),
        muted_sections=muted,
        follows=follows,
        digest_times=row["digest_times"],
        digest_next=row["digest_next"],
        digest_after=row["digest_after"],
        quiet_start=row["quiet_start"],
        quiet_end=row["quiet_end"],
        quiet_next_end=row["quiet_next_end"],
        weather_map=bool(row["weather_map"]),
    )
