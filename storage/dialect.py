"""What SQLite and PostgreSQL say differently, named once: each backend's database carries its `dialect`.

Storage modules write SQL both engines accept (`ON CONFLICT ... DO NOTHING`, `CAST(? AS bigint)`, `x <> 0`
for a 0/1 flag, an alias on every subquery) and ask the dialect only for what has no common spelling: the
current time as ISO text, a unix time as ISO text or a day, substring tests, index hints, string
aggregation, NULL-safe equality, a scalar max, JSON pairs, row locks, the driver's errors and the full-text
search statement. A statement that differs is built from these in one place (usually once, when its
repository is created), never by testing which backend runs it.
"""

from __future__ import annotations

from typing import Any

from storage.fulltext import match_expression

# ISO 8601 UTC text, the form every timestamp column holds on both backends.
_ISO = "%Y-%m-%dT%H:%M:%SZ"
_PG_ISO = 'YYYY-MM-DD"T"HH24:MI:SS"Z"'

# The newest `considered` + 1 articles holding every word, with how many headline words matched (ranking:
# headline matches first) and their publication time. FTS5 counts headline hits with highlight(), which
# marks each matched token with char(1).
_SQLITE_SEARCH = (
    "SELECT m.id, length(m.headline) - length(replace(m.headline, char(1), '')) AS hits, a.published_at"
    " FROM ("
    "  SELECT rowid AS id, highlight(articles_fts, 0, char(1), '') AS headline FROM articles_fts"
    "  WHERE articles_fts MATCH ? ORDER BY rowid DESC LIMIT ?"
    " ) AS m JOIN articles AS a ON a.id = m.id WHERE a.withdrawn_at IS NULL"
)
# PostgreSQL: the GIN index finds the matches; the headline's (folded) words that equal a whole query word
# or start with a prefix word are the hits, as FTS5's highlight() counts them.
_PG_SEARCH = (
    "SELECT m.id, (SELECT count(*) FROM unnest(string_to_array(m.title, ' ')) AS w(word) "
    "   WHERE w.word LIKE ANY ($3::text[])) AS hits, a.published_at"
    " FROM ("
    "  SELECT rowid AS id, title FROM articles_fts WHERE document @@ to_tsquery('simple', $1)"
    "  ORDER BY rowid DESC LIMIT $2"
    " ) AS m JOIN articles AS a ON a.id = m.id WHERE a.withdrawn_at IS NULL"
)


class Dialect:
    """SQLite's spellings (storage/database.py); PgDialect overrides each for PostgreSQL."""

    name = "sqlite"
    now = f"strftime('{_ISO}', 'now')"  # the current UTC time as ISO text
    without_rowid = " WITHOUT ROWID"  # a keyed temporary table stored as its index alone
    cross_join = "CROSS JOIN"  # a join whose left side the planner keeps as the outer loop (with ON)
    for_update = ""  # a read that locks its rows to the transaction's end; SQLite's writes are serial anyway
    # Run after a large broadcast is queued, so the planner sees the new pending rows (None: not needed).
    analyze_deliveries: str | None = None
    search_sql = _SQLITE_SEARCH

    @property
    def errors(self) -> tuple[type[Exception], ...]:
        """What the driver raises for a failed statement (a damaged file, an unexpected schema)."""
        import sqlite3

        return (sqlite3.Error,)

    def retention(self, db: Any) -> Any:
        """The retention repository for this backend: on SQLite it also reclaims the file's pages."""
        from storage.retention import Retention

        return Retention(db)

    def iso_from_unix(self, expression: str) -> str:
        """A unix time as ISO 8601 UTC text."""
        return f"strftime('{_ISO}', {expression}, 'unixepoch')"

    def day_from_unix(self, expression: str) -> str:
        """A unix time's UTC day, YYYY-MM-DD."""
        return f"date({expression}, 'unixepoch')"

    def contains(self, haystack: str, needle: str) -> str:
        """Whether the text `needle` occurs in `haystack` (a boolean expression)."""
        return f"(instr({haystack}, {needle}) > 0)"

    def indexed_by(self, index: str) -> str:
        """An index hint where the planner would otherwise pick a worse plan."""
        return f"INDEXED BY {index}"

    def unindexed(self, expression: str) -> str:
        """`expression` compared without using an index on it (the planner walks another index)."""
        return f"+{expression}"

    def greatest(self, first: str, second: str) -> str:
        """The larger of two values."""
        return f"max({first}, {second})"

    def same(self, first: str, second: str) -> str:
        """Equality that holds for two NULLs too."""
        return f"{first} IS {second}"

    def group_concat(self, expression: str, separator: str) -> str:
        """The group's values as text joined by `separator` (a plain literal)."""
        return f"group_concat({expression}, '{separator}')"

    def json_pairs(self, first: str, second: str) -> str:
        """An aggregate: the group's (first, second) pairs as a JSON array text, '[]' for none."""
        return f"json_group_array(json_array({first}, {second}))"

    def search_args(self, tokens: list[str], limit: int) -> tuple[Any, ...]:
        """The arguments of `search_sql` for a reader's folded words and how many matches to read."""
        return (match_expression(tokens), limit)


class PgDialect(Dialect):
    """PostgreSQL's spellings (storage/postgres/)."""

    name = "postgresql"
    now = "newsbot_utc_text()"  # migration 0001: to_char(now() AT TIME ZONE 'UTC', ...)
    without_rowid = ""
    cross_join = "JOIN"  # PostgreSQL's CROSS JOIN takes no ON; the planner orders joins itself
    for_update = " FOR UPDATE"
    # Without fresh statistics of `status` (autovacuum comes a minute or more later, and the last ones saw
    # the queue nearly all sent) the planner takes a just-queued broadcast's pending rows for a handful:
    # each claim of 64 then scanned all of them through deliveries_pending (~100 ms at 20,000) and every
    # page of due deliveries sorted them all; bench/broadcast.py paid went 969 -> 634 msg/s.
    analyze_deliveries = "ANALYZE deliveries"
    search_sql = _PG_SEARCH

    @property
    def errors(self) -> tuple[type[Exception], ...]:
        """What the driver raises for a failed statement (an unexpected schema, a lost connection)."""
        import asyncpg

        return (asyncpg.PostgresError, asyncpg.InterfaceError)

    def retention(self, db: Any) -> Any:
        """PostgreSQL's retention: the same pruning, the server's autovacuum reclaims space."""
        from storage.postgres.retention import PgRetention

        return PgRetention(db)

    def iso_from_unix(self, expression: str) -> str:
        """A unix time as ISO 8601 UTC text."""
        return f"to_char(to_timestamp({expression}) AT TIME ZONE 'UTC', '{_PG_ISO}')"

    def day_from_unix(self, expression: str) -> str:
        """A unix time's UTC day, YYYY-MM-DD."""
        return f"to_char(to_timestamp({expression}) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"

    def contains(self, haystack: str, needle: str) -> str:
        """Whether the text `needle` occurs in `haystack` (a boolean expression)."""
        return f"(strpos({haystack}, CAST({needle} AS text)) > 0)"

    def indexed_by(self, index: str) -> str:
        """No index hints in PostgreSQL: its planner picks the partial indexes itself."""
        return ""

    def unindexed(self, expression: str) -> str:
        """No hint needed: the planner decides from statistics."""
        return expression

    def greatest(self, first: str, second: str) -> str:
        """The larger of two values."""
        return f"greatest({first}, {second})"

    def same(self, first: str, second: str) -> str:
        """Equality that holds for two NULLs too."""
        return f"{first} IS NOT DISTINCT FROM {second}"

    def group_concat(self, expression: str, separator: str) -> str:
        """The group's values as text joined by `separator` (a plain literal)."""
        return f"string_agg(CAST({expression} AS text), '{separator}')"

    def json_pairs(self, first: str, second: str) -> str:
        """An aggregate: the group's (first, second) pairs as a JSON array text, '[]' for none."""
        return f"coalesce(json_agg(json_build_array({first}, {second})), '[]')::text"

    def search_args(self, tokens: list[str], limit: int) -> tuple[Any, ...]:
        """The tsquery, the limit and the LIKE patterns of headline hits (a prefix word ends in %)."""
        from storage.postgres.fulltext import hit_patterns, tsquery

        return (tsquery(tokens), limit, hit_patterns(tokens))


SQLITE = Dialect()
POSTGRES = PgDialect()
