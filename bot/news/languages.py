"""Language codes: ISO 639-1, from operators, feeds (`en-US`, `tr_TR`) and pages (`<html lang>`)."""

from __future__ import annotations

import re

# ISO 639-1: every two-letter code there is; anything else is a typo or junk.
_ISO_TABLE = """
    aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv cy da de dv dz
    ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia id ie ig ii ik
    io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml
    mn mr ms mt my na nb nd ne ng nl nn no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd
    se sg si sk sl sm sn so sq sr ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi
    vo wa wo xh yi yo za zh zu
"""
ISO_639_1 = frozenset(_ISO_TABLE.split())
# Three-letter and withdrawn codes that Turkish and English feeds are seen to use.
_ALIASES = {"tur": "tr", "eng": "en", "iw": "he", "in": "id", "ji": "yi"}
_SUBTAG = re.compile(r"[a-z0-9]{1,8}")
MAX_TAG = 35  # the longest BCP 47 tag worth reading; longer is junk
AUTO = "auto"  # operators: "detect the language again" (feed, then page, then the default)


def normalize_language(value: object) -> str | None:
    """`tr-TR` -> `tr`, `en_us` -> `en`, `EN` -> `en`; junk, unknown codes and non-strings -> None."""
    if not isinstance(value, str):
        return None
    tag = value.strip().lower().replace("_", "-")
    if not tag or len(tag) > MAX_TAG or not tag.isascii():
        return None
    primary, *rest = tag.split("-")
    if not all(_SUBTAG.fullmatch(part) for part in rest):
        return None
    code = _ALIASES.get(primary, primary)
    return code if code in ISO_639_1 else None


def first_language(*candidates: object) -> str | None:
    """The first candidate that is a real language code, normalised; None when none is."""
    for candidate in candidates:
        code = normalize_language(candidate)
        if code is not None:
            return code
    return None
