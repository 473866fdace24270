"""Followed words and phrases in an article: whole words after Turkish folding, never regular expressions."""

from __future__ import annotations

from collections.abc import Iterable

from storage.folding import fold_text

MAX_ARTICLE_CHARS = 200_000  # longer bodies are matched on their beginning


def fold_phrase(text: str) -> str:
    """A followed phrase as stored and compared: folded words joined by one space ("cankiri" for Çankırı)."""
    return fold_text(text)


def matching_phrases(text: str, phrases: Iterable[str]) -> set[str]:
    """The phrases (as given) whose folded words occur in the text as whole words, in that order, adjacent.

    "cankiri" matches "Çankırı'da" (the apostrophe splits words) but "ankara" does not match "Ankaralı".
    """
    folded = fold_text(text[:MAX_ARTICLE_CHARS])
    words = set(folded.split())
    padded = f" {folded} "
    found = set()
    for phrase in phrases:
        key = fold_text(phrase)
        parts = key.split()
        if not parts or any(part not in words for part in parts):
            continue  # most phrases stop here, on a set lookup
        if len(parts) == 1 or f" {key} " in padded:
            found.add(phrase)
    return found
