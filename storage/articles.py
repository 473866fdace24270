"""The article store: add once, read newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from storage.database import Database, Row, TooMuchWork, Transaction
from storage.fulltext import fold_for_index, match_expression, query_tokens
from storage.models import Article, ArticleDraft, SearchPage

ARTICLES_LOCK = "article"  # Transaction.lock names "article:<key>": one store of an article at a time


class SearchTooCostly(TooMuchWork):
    """A search stopped at its budget: the reader should use fewer or longer words (more never help)."""


@dataclass(frozen=True)
class SearchLimits:
    """What one search may cost, so no reader's query holds a reader connection for long (issue 10)."""

    considered: int = 200  # the newest matches that are ranked; counts and pages stop there ("200+")
    seconds: float = 0.030  # CPU time of the reader connection's thread (see `Database.bounded_reads`)
    steps: int = 200_000  # SQLite VM steps (a search of 200 matches takes about 7,000)


# ONE full-text statement per search (the dialect's `search_sql`): FTS5 expands a prefix word past the prefix
# index (reads every indexed word starting with it) in each statement that names it, so a second statement (a
# count, a fallback) would pay for that again. It walks the match newest first and stops after `considered` +
# 1 articles, so a word in every article costs no more than a rare one. Ranking, in Python over those rows:
# headline matches first (counted with highlight() on SQLite, which reads only that row; from the folded
# headline on PostgreSQL), newest first among equals. BM25 is not used: it first counts, for every word, all
# articles holding it, a cost that grows with the archive (over 40 ms for 8 common words in 100,000
# articles) and that no LIMIT bounds.


class Articles:
    """Articles from every source, deduplicated by guid or normalised link, else by headline and body."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self.limits = SearchLimits()

    async def find_duplicate(self, draft: ArticleDraft, tx: Transaction | None = None) -> Article | None:
        """The stored article this draft repeats: one sharing its guid, link or (without both) text key.

        Without `tx` it reads on a reader connection: an operator's preview says so before Publish.
        """
        reads = tx if tx is not None else self._db
        for column, value in (
            ("guid", draft.guid),
            ("url_key", draft.url_key),
            ("content_hash", draft.content_hash),
        ):
            if value:
                row = await reads.fetchone(f"SELECT * FROM articles WHERE {column} = ?", (value,))
                if row is not None:
                    return _article(row)
        return None

    async def add(self, tx: Transaction, draft: ArticleDraft) -> tuple[Article, bool]:
        """Insert unless it is a duplicate; returns the article and whether it is new.

        Stores of the same article take turns to look and insert (a no-op on SQLite, whose writes already
        take turns): on PostgreSQL two operators' /post of one statement would otherwise both find nothing
        and store it twice. One lock per key, in one order, so different articles do not wait for each other.
        """
        for key in sorted(k for k in (draft.guid, draft.url_key, draft.content_hash) if k):
            await tx.lock(f"{ARTICLES_LOCK}:{key}")
        existing = await self.find_duplicate(draft, tx)
        if existing is not None:
            return existing, False
        article_id = await tx.insert(
            "INSERT INTO articles (title, body, url, url_key, guid, content_hash, published_at, source, "
            " feed_id, image_url, photo_file_id, language, section_id, breaking, item_key) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                draft.image_url,
                draft.photo_file_id,
                draft.language,
                draft.section_id,
                int(draft.breaking),
                draft.item_key,
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
            language=draft.language,
            section_id=draft.section_id,
            breaking=draft.breaking,
            image_url=draft.image_url,
            photo_file_id=draft.photo_file_id,
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
        return (await self.find(query, limit=limit, offset=offset)).articles

    async def count_matches(self, query: str) -> int:
        """How many articles `search` finds in all, up to `SearchLimits.considered`."""
        return (await self.find(query, limit=1)).total

    async def find(self, query: str, *, limit: int, offset: int = 0) -> SearchPage:
        """One page of matches and their count, within `limits`; SearchTooCostly when past them."""
        tokens = query_tokens(query)
        limits = self.limits
        if not tokens or limit <= 0:
            return SearchPage([], 0, more=False)
        expression = match_expression(tokens)
        dialect = self._db.dialect
        start = max(offset, 0)
        try:
            async with self._db.bounded_reads(steps=limits.steps, seconds=limits.seconds) as reads:
                args = dialect.search_args(tokens, limits.considered + 1)
                rows = await reads.fetchall(dialect.search_sql, args)
                newest = sorted(rows, key=lambda row: row["id"], reverse=True)[: limits.considered]
                ranked = sorted(newest, key=lambda row: (row["hits"], row["published_at"], row["id"]))
                ids = [row["id"] for row in reversed(ranked)]  # most hits, then newest, first
                page = ids[start : start + limit]
                found = []
                if page:
                    marks = ", ".join("?" * len(page))
                    found = await reads.fetchall(f"SELECT * FROM articles WHERE id IN ({marks})", page)
        except TooMuchWork as error:
            raise SearchTooCostly(f"search {expression[:200]!r}: {error}") from error
        by_id = {row["id"]: _article(row) for row in found}
        articles = [by_id[article_id] for article_id in page if article_id in by_id]
        return SearchPage(articles, len(ids), more=len(rows) > limits.considered)

    async def index_missing(self) -> int:
        """Index articles the search table lacks (stored before migration 0003, or by raw SQL)."""
        async with self._db.transaction() as tx:
            rows = await tx.fetchall(
                "SELECT id, title, body FROM articles WHERE id NOT IN (SELECT rowid FROM articles_fts)"
            )
            for row in rows:
                await _index(tx, row["id"], row["title"], row["body"])
        return len(rows)

    async def get(self, article_id: int) -> Article | None:
        """One article by id."""
        row = await self._db.fetchone("SELECT * FROM articles WHERE id = ?", (article_id,))
        return None if row is None else _article(row)

    async def get_in(self, tx: Transaction, article_id: int) -> Article | None:
        """One article by id, read inside a write transaction (to change it consistently)."""
        row = await tx.fetchone("SELECT * FROM articles WHERE id = ?", (article_id,))
        return None if row is None else _article(row)

    async def latest(self, limit: int, offset: int = 0) -> list[Article]:
        """The newest articles by publication time; offset pages through older ones."""
        rows = await self._db.fetchall(
            "SELECT * FROM articles WHERE withdrawn_at IS NULL "
            "ORDER BY published_at DESC, id DESC LIMIT ? OFFSET ?",
            (limit, offset),
        )
        return [_article(row) for row in rows]

    async def item_state(
        self, feed_id: int, *, guid: str | None, url_key: str | None
    ) -> tuple[int, str | None] | None:
        """The article (id, item key) a feed item brought, by guid or link: a poll compares the item to it.

        Only the feed that brought an article corrects it: another feed listing the same story differently
        (its own headline, a campaign link) changes nothing.
        """
        for column, value in (("guid", guid), ("url_key", url_key)):
            if value:
                row = await self._db.fetchone(
                    f"SELECT id, item_key, feed_id FROM articles WHERE {column} = ?", (value,)
                )
                if row is not None:
                    return (int(row[0]), row[1]) if row[2] == feed_id else None
        return None

    async def set_item_key(self, tx: Transaction, article_id: int, item_key: str) -> None:
        """Remember what the feed item looked like when it was last taken."""
        await tx.execute("UPDATE articles SET item_key = ? WHERE id = ?", (item_key, article_id))

    async def correct(
        self, tx: Transaction, article_id: int, title: str, body: str, updated_at: datetime
    ) -> Article | None:
        """Store a new version of a published article (headline and text); None if it is gone or withdrawn."""
        row = await tx.fetchone(
            "UPDATE articles SET title = ?, body = ?, version = version + 1, updated_at = ? "
            "WHERE id = ? AND withdrawn_at IS NULL RETURNING *",
            (title, body, updated_at.astimezone(UTC).isoformat(), article_id),
        )
        if row is None:
            return None
        await tx.execute("DELETE FROM articles_fts WHERE rowid = ?", (article_id,))
        await _index(tx, article_id, title, body)
        return _article(row)

    async def withdraw(self, tx: Transaction, article_id: int, reason: str, at: datetime) -> Article | None:
        """Mark an article withdrawn; None if there is no such article or it was withdrawn already."""
        row = await tx.fetchone(
            "UPDATE articles SET withdrawn_at = ?, withdrawn_reason = ? "
            "WHERE id = ? AND withdrawn_at IS NULL RETURNING *",
            (at.astimezone(UTC).isoformat(), reason or None, article_id),
        )
        return None if row is None else _article(row)

    async def count(self) -> int:
        """How many articles the store holds."""
        return await self._db.fetchval("SELECT count(*) FROM articles")

    async def save_photo(self, article_id: int, file_id: str) -> None:
        """Telegram's file_id of the uploaded lead photo, so no later send (or restart) uploads it again."""
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE articles SET photo_file_id = ?, photo_error = NULL WHERE id = ?",
                (file_id, article_id),
            )

    async def photo_failed(self, article_id: int, error: str) -> None:
        """Why the lead photo cannot be used; the article goes out as text from now on."""
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE articles SET photo_file_id = NULL, photo_error = ? WHERE id = ?",
                (error[:300], article_id),
            )


async def _index(tx: Transaction, article_id: int, title: str, body: str) -> None:
    await tx.execute(
        "INSERT INTO articles_fts (rowid, title, body) VALUES (?, ?, ?)",
        (article_id, fold_for_index(title), fold_for_index(body)),
    )


def _article(row: Row) -> Article:
    return Article(
        id=row["id"],
        title=row["title"],
        body=row["body"],
        url=row["url"],
        published_at=datetime.fromisoformat(row["published_at"]),
        source=row["source"],
        version=row["version"],
        updated_at=_when(row["updated_at"]),
        withdrawn_at=_when(row["withdrawn_at"]),
        withdrawn_reason=row["withdrawn_reason"],
        image_url=row["image_url"],
        photo_file_id=row["photo_file_id"],
        photo_error=row["photo_error"],
        language=row["language"],
        section_id=row["section_id"],
        breaking=bool(row["breaking"]),
    )


def _when(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)
