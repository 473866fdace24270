"""The article store: add once, read newest first."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from storage.database import Database, Transaction
from storage.fulltext import fold_for_index, match_expression, query_tokens
from storage.models import Article, ArticleDraft


class Articles:
    """Articles from every source, deduplicated by guid or normalised link, else by headline and body."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def find_duplicate(self, tx: Transaction, draft: ArticleDraft) -> Article | None:
        """The stored article this draft repeats: one sharing its guid, link or (without both) text key."""
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
            "INSERT INTO articles (title, body, url, url_key, guid, content_hash, published_at, source, "
            " feed_id, language, section_id, breaking) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                draft.title,
                draft.body,
                draft.url,
                draft.url_key,
                draft.guid,
                draft.content_hash,
                draft.published_at.astimezone(UTC).isoformat(),
                draft.source,
                draft.feed_id,
                draft.language,
                draft.section_id,
                int(draft.breaking),
            ),
        )
        assert article_id is not None
        await _index(tx, article_id, draft.title, draft.body)
        article = Article(
            article_id,
            draft.title,
            draft.body,
            draft.url,
            draft.published_at.astimezone(UTC),
            draft.source,
            draft.language,
            draft.section_id,
            draft.breaking,
        )
        return article, True

    async def is_known(
        self, *, guid: str | None = None, url_key: str | None = None, content_hash: str | None = None
    ) -> bool:
        """Whether any of these keys is stored, so a feed item's page is fetched only once."""
        for column, value in (("guid", guid), ("url_key", url_key), ("content_hash", content_hash)):
            if value and await self._db.fetchone(f"SELECT 1 FROM articles WHERE {column} = ?", (value,)):
                return True
        return False

    async def search(self, query: str, *, limit: int, offset: int = 0) -> list[Article]:
        """Articles matching every word of the reader's raw text (Turkish-folded, prefixes), best first."""
        tokens = query_tokens(query)
        if not tokens or limit <= 0:
            return []
        rows = await self._db.fetchall(
            "SELECT a.* FROM articles_fts JOIN articles a ON a.id = articles_fts.rowid "
            "WHERE articles_fts MATCH ? "
            "ORDER BY bm25(articles_fts, 2.0, 1.0), a.published_at DESC, a.id DESC LIMIT ? OFFSET ?",
            (match_expression(tokens), limit, max(offset, 0)),
        )
        return [_article(row) for row in rows]

    async def count_matches(self, query: str) -> int:
        """How many articles `search` would find in all, for "5 of 23" answers."""
        tokens = query_tokens(query)
        if not tokens:
            return 0
        return await self._db.fetchval(
            "SELECT count(*) FROM articles_fts WHERE articles_fts MATCH ?", (match_expression(tokens),)
        )

    async def index_missing(self) -> int:
        """Index articles the search table lacks (stored before migration 0003, or by raw SQL)."""
        async with self._db.transaction() as tx:
            rows = await tx.fetchall(
                "SELECT id, title, body FROM articles "
                "WHERE id NOT IN (SELECT rowid FROM articles_fts)"
            )
            for row in rows:
                await _index(tx, row["id"], row["title"], row["body"])
        return len(rows)

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

    async def count(self) -> int:
        """How many articles the store holds."""
        return await self._db.fetchval("SELECT count(*) FROM articles")


async def _index(tx: Transaction, article_id: int, title: str, body: str) -> None:
    await tx.execute(
        "INSERT INTO articles_fts (rowid, title, body) VALUES (?, ?, ?)",
        (article_id, fold_for_index(title), fold_for_index(body)),
    )


def _article(row: sqlite3.Row) -> Article:
    return Article(
        id=row["id"],
        title=row["title"],
        body=row["body"],
        url=row["url"],
        published_at=datetime.fromisoformat(row["published_at"]),
        source=row["source"],
        language=row["language"],
        section_id=row["section_id"],
        breaking=bool(row["breaking"]),
    )
