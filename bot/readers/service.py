"""Changing a reader's choices: checks what may be stored and computes when digests and quiet hours fall."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.readers.schedule import digest_times_text, next_quiet_end, next_slot, stored_minutes
from bot.render import LANGUAGES
from storage import Store
from storage.models import FollowChange, FollowedPhrase, ReaderChoices, Section, UnfollowChange

FOLLOW_KEY_LENGTH = 10  # hex digits of a followed phrase's key in callback data


def follow_key(folded: str) -> str:
    """A short stable key for a followed phrase, so a button can name it within 64 bytes."""
    return hashlib.sha1(folded.encode()).hexdigest()[:FOLLOW_KEY_LENGTH]


@dataclass(frozen=True)
class Panel:
    """What a settings screen shows: the chat's choices and the sections that exist."""

    choices: ReaderChoices
    sections: tuple[Section, ...]

    def section(self, section_id: int) -> Section | None:
        """A section by id, None if it does not exist (any more)."""
        return next((section for section in self.sections if section.id == section_id), None)

    @property
    def muted(self) -> tuple[Section, ...]:
        """The existing sections the chat switched off."""
        return tuple(s for s in self.sections if s.id in self.choices.muted_sections)

    @property
    def digest_minutes(self) -> tuple[int, ...]:
        """Digest times as minutes; empty when digests are off."""
        return tuple(stored_minutes(self.choices.digest_times))


class ReaderService:
    """Readers' settings; every write goes through here so digest and quiet-hours moments stay right."""

    def __init__(self, store: Store, clock: Callable[[], datetime]) -> None:
        self._readers = store.readers
        self._maps = store.maps
        self._clock = clock

    async def panel(self, chat_id: int) -> Panel | None:
        """The chat's choices and the sections; None for a chat the bot has not recorded."""
        choices = await self._readers.choices(chat_id)
        if choices is None:
            return None
        return Panel(choices, tuple(await self._readers.sections()))

    async def set_weather_map(self, chat_id: int, on: bool) -> None:
        """The morning forecast with or without the map (the same choice as /weathermap)."""
        await self._maps.set_wants_map(chat_id, on)

    async def sections(self) -> list[Section]:
        """The sections that exist."""
        return await self._readers.sections()

    async def set_languages(self, chat_id: int, languages: Sequence[str]) -> bool:
        """Store the article languages; False (nothing stored) for a language the bot does not know."""
        if not languages or any(lang not in LANGUAGES for lang in languages):
            return False
        await self._readers.set_languages(chat_id, languages)
        return True

    async def set_section(self, chat_id: int, section_id: int, *, on: bool) -> Section | None:
        """Switch a section on or off; None (nothing stored) when no such section exists."""
        section = next((s for s in await self._readers.sections() if s.id == section_id), None)
        if section is None:
            return None
        if on:
            await self._readers.unmute_section(chat_id, section_id)
        else:
            await self._readers.mute_section(chat_id, section_id)
        return section

    async def all_sections_on(self, chat_id: int) -> None:
        """Every section on, and every new one as it appears."""
        await self._readers.set_muted(chat_id, ())

    async def follow(self, chat_id: int, phrases: Sequence[str]) -> FollowChange:
        """Follow already checked phrases (bot/readers/parsing.py parse_phrases)."""
        return await self._readers.follow(chat_id, phrases)

    async def unfollow(self, chat_id: int, phrases: Sequence[str]) -> UnfollowChange:
        """Stop following phrases, however they are spelled now."""
        return await self._readers.unfollow(chat_id, phrases)

    async def unfollow_key(self, chat_id: int, key: str) -> FollowedPhrase | None:
        """Stop following the phrase behind a button's key; None if the chat no longer follows it."""
        for followed in await self._readers.follows(chat_id):
            if follow_key(followed.folded) == key:
                await self._readers.unfollow(chat_id, [followed.folded])
                return followed
        return None

    async def set_digest(self, chat_id: int, minutes: Sequence[int]) -> float | None:
        """Digest times (empty: off); returns when the next digest is due."""
        if not minutes:
            await self._readers.set_digest(chat_id, None, None)
            return None
        due = next_slot(list(minutes), self._now())
        await self._readers.set_digest(chat_id, digest_times_text(list(minutes)), due)
        return due

    async def set_quiet(self, chat_id: int, start: int | None, end: int | None) -> float | None:
        """Quiet hours (None: off); returns when the current or next quiet period ends."""
        ends = next_quiet_end(start, end, self._now())
        if ends is None:
            await self._readers.set_quiet(chat_id, None, None, None)
            return None
        await self._readers.set_quiet(chat_id, start, end, ends)
        return ends

    def _now(self) -> float:
        return self._clock().timestamp()
