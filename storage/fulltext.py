"""Turkish-aware full-text keys: what the FTS5 index stores and how a reader's words become a query."""

from __future__ import annotations

from storage.folding import fold_text

MAX_QUERY_TOKENS = 8  # more words than this only narrow the match; the rest are ignored
MAX_TOKEN_CHARS = 64
# A word this long or longer matches as a prefix, read from the prefix index (migration 0010: 2 and 3
# characters) or by expanding it; a shorter one (one letter) matches only itself, since as a prefix it
# would be most of the index.
MIN_PREFIX_CHARS = 2


def fold_for_index(text: str) -> str:
    """Fold the way queries are folded (İ/I/ı, accents, case), since FTS5's unicode61 gets ı/İ wrong."""
    return fold_text(text)


def query_tokens(text: str) -> list[str]:
    """The reader's searchable words, folded; punctuation, operators and emoji fall away."""
    tokens = [token[:MAX_TOKEN_CHARS] for token in fold_text(text[:4096]).split()]
    return list(dict.fromkeys(tokens))[:MAX_QUERY_TOKENS]


def match_expression(tokens: list[str]) -> str:
    """Every token as a quoted FTS5 string, all required, prefixes from 2 characters: never FTS5 syntax."""
    return " ".join(_phrase(token) for token in tokens)


def _phrase(token: str) -> str:
    quoted = '"' + token.replace('"', '""') + '"'
    return quoted + "*" if len(token) >= MIN_PREFIX_CHARS else quoted
