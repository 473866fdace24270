"""Turkey's 81 provinces and a Turkish-aware matcher for what users type as a province name."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass
from importlib import resources
from typing import Literal

from rapidfuzz import fuzz

__all__ = [
    "PROVINCES",
    "PROVINCE_NAMES",
    "MatchResult",
    "Province",
    "by_plate",
    "first_letters",
    "match_province",
    "provinces_by_letter",
    "provinces_in_region",
    "regions",
    "turkish_fold",
    "turkish_lower",
    "turkish_sort_key",
    "turkish_upper",
]


@dataclass(frozen=True)
class Province:
    """One of Turkey's 81 provinces, as shipped in data/provinces.csv."""

    plate: int
    name: str
    slug: str
    latitude: float
    longitude: float
    region_tr: str
    region_en: str


def _load() -> tuple[Province, ...]:
    """Read the CSV shipped inside the package so the bot needs no external data at run time."""
    text = resources.files("bot.weather").joinpath("data", "provinces.csv").read_text(encoding="utf-8")
    rows = [
        Province(
            plate=int(row["plate"]),
            name=row["name"],
            slug=row["slug"],
            latitude=float(row["latitude"]),
            longitude=float(row["longitude"]),
            region_tr=row["region_tr"],
            region_en=row["region_en"],
        )
        for row in csv.DictReader(io.StringIO(text))
    ]
    return tuple(sorted(rows, key=lambda p: p.plate))


PROVINCES: tuple[Province, ...] = _load()
_BY_PLATE: dict[int, Province] = {p.plate: p for p in PROVINCES}


PROVINCE_NAMES: dict[str, str] = {str(p.plate): p.name for p in PROVINCES}  # plate as stored in SQL -> name


def by_plate(plate: int) -> Province | None:
    """Look a province up by its licence-plate code (1..81), the way Turks often refer to them."""
    return _BY_PLATE.get(plate)


# --- Turkish text helpers ---------------------------------------------------------------

_ALPHABET = "abcçdefgğhıijklmnoöprsştuüvyz"
_ALPHABET_INDEX = {ch: i for i, ch in enumerate(_ALPHABET)}
_CIRCUMFLEX = str.maketrans({"â": "a", "î": "i", "û": "u"})


def turkish_lower(text: str) -> str:
    """Lowercase with Turkish rules (I->ı, İ->i), which str.lower() gets wrong."""
    return text.replace("I", "ı").replace("İ", "i").lower()


def turkish_upper(text: str) -> str:
    """Uppercase with Turkish rules (i->İ, ı->I), which str.upper() gets wrong."""
    return text.replace("i", "İ").replace("ı", "I").upper()


def turkish_sort_key(text: str) -> tuple[int, ...]:
    """Sort key in Turkish alphabetical order (Ç after C, I before İ, ...), which code-point order breaks."""
    lowered = turkish_lower(text).translate(_CIRCUMFLEX)
    return tuple(_ALPHABET_INDEX.get(ch, len(_ALPHABET) + ord(ch)) for ch in lowered)


_DROP = re.compile(r"[.'’`´]")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def turkish_fold(text: str) -> str:
    """Fold case, Turkish letters and punctuation to ASCII so "İSTANBUL" and "Istanbul" compare equal."""
    text = text.replace("İ", "i").replace("I", "i").replace("ı", "i")
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = _DROP.sub("", text)  # "K.Maraş" -> "kmaras", "İstanbul'da" -> "istanbulda"
    return _NON_ALNUM.sub(" ", text).strip()


# --- matching ---------------------------------------------------------------------------

MAX_QUERY_LENGTH = 64
_FUZZY_CUTOFF = 70.0
_FUZZY_SPREAD = 15.0  # suggestions further than this behind the best one are noise
_MAX_SUGGESTIONS = 3

# Names news sites and people use besides the official ones, keyed by plate.
_ALIASES: dict[int, tuple[str, ...]] = {
    3: ("Afyon",),
    27: ("Antep", "G.Antep"),
    31: ("Antakya",),
    33: ("İçel",),
    41: ("İzmit",),
    46: ("Maraş", "K.Maraş"),
    54: ("Adapazarı",),
    63: ("Urfa", "Ş.Urfa"),
}

MatchKind = Literal["exact", "alias", "plate", "suggestions", "none"]


@dataclass(frozen=True)
class MatchResult:
    """Outcome of matching user text: a sure province, or "did you mean" suggestions, or nothing."""

    province: Province | None
    suggestions: tuple[Province, ...] = ()
    kind: MatchKind = "none"


_NO_MATCH = MatchResult(province=None)


def _compact(text: str) -> str:
    """Fold and drop spaces so "K. Maraş", "K.Maraş" and "Kmaras" share one key."""
    return turkish_fold(text).replace(" ", "")


_NAME_KEYS: dict[str, Province] = {}
for _p in PROVINCES:
    _NAME_KEYS[_compact(_p.name)] = _p
    _NAME_KEYS[_compact(_p.slug)] = _p
_ALIAS_KEYS: dict[str, Province] = {
    _compact(alias): _BY_PLATE[plate] for plate, aliases in _ALIASES.items() for alias in aliases
}
_ALL_KEYS: tuple[tuple[str, Province], ...] = (*_NAME_KEYS.items(), *_ALIAS_KEYS.items())
_PLATE_RE = re.compile(r"[0-9]{1,2}")
_SUFFIX_RE = re.compile(r"['’]")


def _suggest(key: str) -> tuple[Province, ...]:
    """Rank near spellings; prefixes ("Kır") count as strong candidates so short input still helps."""
    best: dict[int, float] = {}
    for candidate, province in _ALL_KEYS:
        score = fuzz.ratio(key, candidate)
        if len(key) >= 3 and candidate.startswith(key):
            score = max(score, 85.0 + 15.0 * len(key) / len(candidate))
        if score >= _FUZZY_CUTOFF and score > best.get(province.plate, -1.0):
            best[province.plate] = score
    if not best:
        return ()
    top = max(best.values())
    ranked = sorted(
        (plate for plate, score in best.items() if score >= top - _FUZZY_SPREAD),
        key=lambda plate: (-best[plate], turkish_sort_key(_BY_PLATE[plate].name)),
    )
    return tuple(_BY_PLATE[plate] for plate in ranked[:_MAX_SUGGESTIONS])


def match_province(query: str) -> MatchResult:
    """Resolve a typed province name, alias or plate code; typos only yield suggestions, never a guess."""
    if not isinstance(query, str):
        return _NO_MATCH
    text = query.strip()
    if not text or len(text) > MAX_QUERY_LENGTH:
        return _NO_MATCH
    if _PLATE_RE.fullmatch(text):
        province = _BY_PLATE.get(int(text))
        return MatchResult(province, kind="plate") if province else _NO_MATCH
    key = _compact(text)
    if not key or any(ch.isdigit() for ch in key):
        return _NO_MATCH
    # Turkish puts case suffixes after an apostrophe ("İzmir'de", "Ankara'nın"): also try the bare name.
    for candidate in (key, _compact(_SUFFIX_RE.split(text, maxsplit=1)[0])):
        if candidate in _NAME_KEYS:
            return MatchResult(_NAME_KEYS[candidate], kind="exact")
        if candidate in _ALIAS_KEYS:
            return MatchResult(_ALIAS_KEYS[candidate], kind="alias")
    suggestions = _suggest(key)
    return MatchResult(None, suggestions, "suggestions") if suggestions else _NO_MATCH


# --- pickers ----------------------------------------------------------------------------

# Conventional textbook order of Turkey's seven geographic regions.
_REGION_ORDER = ("Marmara", "Ege", "Akdeniz", "İç Anadolu", "Karadeniz", "Doğu Anadolu", "Güneydoğu Anadolu")


def regions() -> list[tuple[str, str]]:
    """List (region_tr, region_en) pairs in a fixed order so the region keyboard never reshuffles."""
    pairs = {(p.region_tr, p.region_en) for p in PROVINCES}
    order = {name: i for i, name in enumerate(_REGION_ORDER)}
    return sorted(pairs, key=lambda pair: (order.get(pair[0], len(order)), turkish_sort_key(pair[0])))


def provinces_in_region(region_en: str) -> list[Province]:
    """Provinces of one region (by English name), alphabetically, for a region-then-province picker."""
    return sorted((p for p in PROVINCES if p.region_en == region_en), key=lambda p: turkish_sort_key(p.name))


def first_letters() -> list[str]:
    """Initial letters that have provinces, in Turkish alphabetical order, for a letter picker."""
    return sorted({p.name[0] for p in PROVINCES}, key=turkish_sort_key)


def provinces_by_letter(letter: str) -> list[Province]:
    """Provinces whose name starts with the letter (Turkish case rules: "i" means İ), alphabetically."""
    initial = turkish_upper(letter.strip())[:1]
    return sorted((p for p in PROVINCES if p.name[0] == initial), key=lambda p: turkish_sort_key(p.name))
