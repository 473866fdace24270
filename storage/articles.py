"""The article store: add once, read newest first."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime

from storage.database import Database, Transaction
from storage.models import Article, ArticleDraft


class Articles:
    """Articles from every source, deduplicated by guid, normalised link and content hash."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def find_duplicate(self, tx: Transaction, draft: ArticleDraft) -> Article | None:
        """The stored article this draft repeats, checked in order of reliability."""
        for column, value in (
            ("guid", draft.guid),
            ("url_key", draft.url_key),
            ("content_hash", draft.content_hash),
        ):
            if value:
                row = await tx.fetchone(f"SELECT * FROM articles WHERE {column} = ?", (value,))
                if row is not None:
                    return _article(row)
        return None

    async def add(self, tx: Transaction, draft: ArticleDraft) -> tuple[Article, bool]:
        """Insert unless it is a duplicate; returns the article and whether it is new."""
        existing = await self.find_duplicate(tx, draft)
        if existing is not None:
            return existing, False
        article_id = await tx.insert(
            "INSERT INTO articles (title, body, url, url_key, guid, content_hash, published_at, source) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                draft.title,
                draft.body,
                draft.url,
                draft.url_key,
                draft.guid,
                draft.content_hash,
                draft.published_at.astimezone(UTC).isoformat(),
                draft.source,
            ),
        )
        assert article_id is not None
        article = Article(
            article_id, draft.title, draft.body, draft.url, draft.published_at.astimezone(UTC), draft.source
        )
        return article, True

    async def get(self, article_id: int) -> Article | None:
        """One article by id."""
        row = await self._db.fetchone("SELECT * FROM articles WHERE id = ?", (article_id,))
        return None if row is None else _article(row)

    async def latest(self, limit: int, offset: int = 0) -> list[Article]:
        """The newest articles by publication time; offset pages through older ones."""
        rows = await self._db.fetchall(
            "SELECT * FROM articles ORDER BY published_at DESC, id DESC LIMIT ? OFFSET ?", (limit, offset)
        )
        return [_article(row) for row in rows]

    async def search(self, query: str, *, limit: int, offset: int = 0) -> list[Article]:
        """FALLBACK until FTS5 lands: every word of the query, Turkish-folded, in the title or body."""
        words = _SEARCH_WORD.findall(_fold_turkish(query))[:_MAX_SEARCH_WORDS]
        if not words:
            return []
        haystack = _fold_sql("title || ' ' || body")
        rows = await self._db.fetchall(
            f"SELECT * FROM articles WHERE {' AND '.join([f'{haystack} LIKE ?'] * len(words))} "
            "ORDER BY published_at DESC, id DESC LIMIT ? OFFSET ?",
            (*(f"%{word}%" for word in words), limit, offset),
        )
        return [_article(row) for row in rows]

    async def count(self) -> int:
        """How many articles the store holds."""
        return await self._db.fetchval("SELECT count(*) FROM articles")


# Search fallback helpers (replaced together with Articles.search when FTS5 lands).
_TURKISH_FOLD = {"İ": "i", "I": "i", "ı": "i", "Ç": "c", "ç": "c", "Ğ": "g", "ğ": "g", "Ö": "o", "ö": "o",
                 "Ş": "s", "ş": "s", "Ü": "u", "ü": "u", "Â": "a", "â": "a", "Î": "i", "î": "i", "Û": "u",
                 "û": "u"}  # fmt: skip
_SEARCH_WORD = re.compile(r"[^\W_]+")  # letters and digits only, so no LIKE wildcard reaches SQL
_MAX_SEARCH_WORDS = 8


def _fold_sql(column: str) -> str:
    """SQL that folds Turkish letters to ASCII, then lowercases (SQLite's lower() knows ASCII only)."""
    for letter, plain in _TURKISH_FOLD.items():
        column = f"replace({column}, '{letter}', '{plain}')"
    return f"lower({column})"


def _fold_turkish(text: str) -> str:
    """The Python twin of _fold_sql, applied to the query."""
    text = "".join(_TURKISH_FOLD.get(ch, ch) for ch in text)
    return "".join(ch.lower() if ch.isascii() else ch for ch in text)


def _article(row: sqlite3.Row) -> Article:
    return Article(
        id=row["id"],
        title=row["title"],
        body=row["body"],
        url=row["url"],
        published_at=datetime.fromisoformat(row["published_at"]),
        source=row["source"],
    )
