"""Full-text search on PostgreSQL: a reader's folded words as a tsquery meaning what the FTS5 query means."""

from __future__ import annotations

from storage.fulltext import MIN_PREFIX_CHARS

# The matching half of storage/articles.py's search on PostgreSQL: the newest `$2` articles holding every
# word, newest first, read from the GIN index. (Ranking them, headline matches first, is still SQLite's
# alone: storage/articles.py counts headline hits with FTS5's highlight(); its PostgreSQL form comes with
# the backend switch.)
MATCH_SQL = (
    "SELECT rowid AS id FROM articles_fts WHERE document @@ to_tsquery('simple', $1) "
    "ORDER BY rowid DESC LIMIT $2"
)


def tsquery(tokens: list[str]) -> str:
    """Every token (query_tokens: folded) quoted, all required, prefixes from 2 characters.

    Quoting keeps any character from being read as tsquery syntax: the same all-words query as FTS5's
    `"token"*` strings (storage/fulltext.py match_expression), a one-letter word matching only itself.
    """
    return " & ".join(_lexeme(token) for token in tokens)


def _lexeme(token: str) -> str:
    quoted = "'" + token.replace("\\", "\\\\").replace("'", "''") + "'"
    return quoted + ":*" if len(token) >= MIN_PREFIX_CHARS else quoted


def hit_patterns(tokens: list[str]) -> list[str]:
    """LIKE patterns of the headline words a search counts as hits: a whole word, or a prefix word's start.

    Folded tokens hold only letters and digits (storage/folding.py), so no LIKE wildcard needs escaping.
    """
    return [token + "%" if len(token) >= MIN_PREFIX_CHARS else token for token in tokens]
