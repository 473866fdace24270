"""Full-text search on PostgreSQL: a reader's folded words as a tsquery meaning what the FTS5 query means."""

from __future__ import annotations

# /search on PostgreSQL: every word a prefix, all required; the headline (weight A) counts twice the body
# (weight B), as bm25(articles_fts, 2.0, 1.0) weighs them on SQLite; then the newest first.
SEARCH_SQL = (
    "SELECT a.* FROM articles_fts f JOIN articles a ON a.id = f.rowid "
    "WHERE f.document @@ to_tsquery('simple', $1) "
    "ORDER BY ts_rank('{0, 0, 0.5, 1}', f.document, to_tsquery('simple', $1)) DESC, "
    "a.published_at DESC, a.id DESC LIMIT $2 OFFSET $3"
)
COUNT_SQL = "SELECT count(*) FROM articles_fts WHERE document @@ to_tsquery('simple', $1)"


def tsquery(tokens: list[str]) -> str:
    """Every token (storage/fulltext.py query_tokens: folded, letters and digits only) as a quoted prefix.

    Quoting keeps any character from being read as tsquery syntax; the AND of all of them is FTS5's
    implicit AND of `"token"*` strings.
    """
    return " & ".join("'" + token.replace("\\", "\\\\").replace("'", "''") + "':*" for token in tokens)
