"""What readers type after /languages, /follow, /digest and /quiet, as choices or as a named problem."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.readers.schedule import MAX_DIGEST_TIMES, parse_minute
from bot.render import LANGUAGES
from storage.folding import fold_text

OFF_WORDS = frozenset({"off", "stop", "none", "no", "kapat", "kapali", "iptal", "yok", "hayir"})
MAX_PHRASE_CHARS = 60
MAX_PHRASE_WORDS = 5
MAX_INPUT_CHARS = 4096  # a Telegram message; anything longer is not a reader typing
SHOWN_CHARS = 40  # what a reply quotes of a part it could not use

_LANGUAGE_WORDS: dict[str, tuple[str, ...]] = {
    "tr": ("tr",),
    "turkce": ("tr",),
    "turkish": ("tr",),
    "en": ("en",),
    "english": ("en",),
    "ingilizce": ("en",),
    "both": LANGUAGES,
    "all": LANGUAGES,
    "ikisi": LANGUAGES,
    "ikiside": LANGUAGES,
    "hepsi": LANGUAGES,
    "her": (),  # "her ikisi": "both"
    "and": (),
    "ve": (),
}
_PHRASE_SEPARATORS = re.compile(r"[,;\n،、，]+")
_TIME_SEPARATORS = re.compile(r"[,;\s]+")
_RANGE = re.compile(r"^\s*(\S+?)\s*(?:-|–|—|\.\.|\bto\b|\s)\s*(\S+)\s*$", re.IGNORECASE)
_DOTTED = re.compile(r"^(\d{1,2})[.h](\d{2})$")
_HOUR = re.compile(r"^\d{1,2}$")


def shown(text: str, limit: int = SHOWN_CHARS) -> str:
    """What a reply quotes of the reader's text: cut short (the template escapes it)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def is_off(text: str) -> bool:
    """ "off", "kapat", "yok" ...: switch the setting off."""
    return fold_text(text[:40]) in OFF_WORDS


def parse_languages(text: str) -> tuple[str, ...] | None:
    """ "en", "tr, en", "both", "İkisi de", "Türkçe" -> sorted language codes; anything else -> None."""
    words = fold_text(text[:MAX_INPUT_CHARS]).split()
    if not words or len(words) > 6:
        return None
    chosen: set[str] = set()
    for word in words:
        if word == "de" and chosen == set(LANGUAGES):  # "ikisi de"
            continue
        languages = _LANGUAGE_WORDS.get(word)
        if languages is None:
            return None
        chosen.update(languages)
    return tuple(sorted(chosen)) or None


@dataclass(frozen=True)
class Phrases:
    """Followed phrases a reader typed: the usable ones (trimmed, distinct) and the refused ones."""

    valid: tuple[str, ...]
    invalid: tuple[str, ...]  # no letters or digits, longer than MAX_PHRASE_CHARS or MAX_PHRASE_WORDS words


def parse_phrases(text: str) -> Phrases:
    """ "Çankırı, deprem" -> ("Çankırı", "deprem"): commas separate phrases, spaces join a phrase's words."""
    valid: list[str] = []
    invalid: list[str] = []
    seen: set[str] = set()
    for part in _PHRASE_SEPARATORS.split(text[:MAX_INPUT_CHARS]):
        phrase = " ".join(part.split())
        if not phrase:
            continue
        folded = fold_text(phrase)
        if not folded or len(phrase) > MAX_PHRASE_CHARS or len(folded.split()) > MAX_PHRASE_WORDS:
            invalid.append(shown(phrase, MAX_PHRASE_CHARS))
        elif folded not in seen:
            seen.add(folded)
            valid.append(phrase)
    return Phrases(tuple(valid), tuple(invalid))


def parse_time(text: str) -> int | None:
    """ "08:00", "8:00", "08.00", "8" -> minutes after midnight; anything else -> None."""
    text = text.strip()
    if len(text) > 5:
        return None
    dotted = _DOTTED.match(text)
    if dotted:
        text = f"{dotted.group(1)}:{dotted.group(2)}"
    elif _HOUR.match(text):
        text += ":00"
    return parse_minute(text)


@dataclass(frozen=True)
class DigestInput:
    """/digest's argument: the times (none = off), or what is wrong with it."""

    minutes: tuple[int, ...] = ()
    problem: str | None = None  # "time": a part is not a time; "too_many": more than MAX_DIGEST_TIMES
    given: str = ""  # the part that is not a time


def parse_digest(text: str) -> DigestInput:
    """ "08:00, 18:30" -> (480, 1110); "off" -> (); up to MAX_DIGEST_TIMES distinct times a day."""
    if is_off(text):
        return DigestInput()
    parts = [part for part in _TIME_SEPARATORS.split(text[:MAX_INPUT_CHARS]) if part]
    if not parts:
        return DigestInput(problem="time")
    minutes: set[int] = set()
    for part in parts:
        minute = parse_time(part)
        if minute is None:
            return DigestInput(problem="time", given=shown(part))
        minutes.add(minute)
    if len(minutes) > MAX_DIGEST_TIMES:
        return DigestInput(problem="too_many")
    return DigestInput(tuple(sorted(minutes)))


@dataclass(frozen=True)
class QuietInput:
    """/quiet's argument: start and end (None = off), or what is wrong with it."""

    start: int | None = None
    end: int | None = None
    problem: str | None = None  # "format": not HH:MM-HH:MM; "same": start equals end

    @property
    def off(self) -> bool:
        """No quiet hours."""
        return self.problem is None and self.start is None


def parse_quiet(text: str) -> QuietInput:
    """ "22:00-07:00" (may span midnight), "23.30 - 6.30", "22-7" -> minutes; "off" -> off."""
    text = text[:MAX_INPUT_CHARS]
    if is_off(text):
        return QuietInput()
    match = _RANGE.match(text)
    if match is None:
        return QuietInput(problem="format")
    start, end = parse_time(match.group(1)), parse_time(match.group(2))
    if start is None or end is None:
        return QuietInput(problem="format")
    if start == end:
        return QuietInput(problem="same")
    return QuietInput(start, end)
