"""Turkish-aware text folding, shared by storage (search index, identity keys) and bot (matching)."""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")


def fold_text(text: str) -> str:
    """Fold case and accents the Turkish way (İ→i, I→ı→i), so spellings of one headline compare equal."""
    text = unicodedata.normalize("NFC", text).replace("İ", "i").replace("I", "ı").lower().replace("ı", "i")
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    text = "".join(c if c.isalnum() else " " for c in text.casefold())
    return _SPACES.sub(" ", text).strip()
