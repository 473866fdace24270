"""The identity of an article that has neither guid nor link, computed in Python for code and migrations."""

from __future__ import annotations

import hashlib

from storage.fulltext import fold_for_index


def text_key(title: str, body: str) -> str:
    """Hash headline and body together: outlets reuse headlines daily, so a headline alone is no identity."""
    folded = f"{fold_for_index(title or '')}\n{fold_for_index(body or '')}"
    return hashlib.sha256(folded.encode()).hexdigest()
