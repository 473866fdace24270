"""Feeds: what the poller fetches, and each feed's conditional-GET and backoff state."""

from __future__ import annotations

from storage.database import Database, Row
from storage.models import Feed, FeedStatus, Section


class Feeds:
    """The operator's feed list and the poller's bookkeeping per feed."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(
        self,
        url: str,
        url_key: str,
        *,
        language: str | None = None,
        section_id: int = 1,
        breaking: bool = False,
    ) -> tuple[Feed, bool]:
        """Add a feed unless its normalised URL is already listed; returns it and whether it is new."""
        async with self._db.transaction() as tx:
            row = await tx.fetchone("SELECT * FROM feeds WHERE url_key = ?", (url_key,))
            if row is not None:
                return _feed(row), False
            row = await tx.fetchone(
                "INSERT INTO feeds (url, url_key, language, section_id, breaking) VALUES (?, ?, ?, ?, ?) "
                "RETURNING *",
                (url, url_key, language, section_id, int(breaking)),
            )
        assert row is not None
        return _feed(row), True

    async def set_options(
        self, feed_id: int, *, language: str | None, section_id: int, breaking: bool
    ) -> Feed | None:
        """The operator changed a feed's language, section or breaking mark (for its items from now on)."""
        row = await self._db.write_fetchone(
            "UPDATE feeds SET language = ?, section_id = ?, breaking = ? WHERE id = ? RETURNING *",
            (language, section_id, int(breaking), feed_id),
        )
        return None if row is None else _feed(row)

    async def remove(self, url_key: str) -> bool:
        """Forget a feed; its articles stay. False when it was not listed."""
        return await self._db.execute("DELETE FROM feeds WHERE url_key = ?", (url_key,)) > 0

    async def get(self, feed_id: int) -> Feed | None:
        """One feed by id."""
        row = await self._db.fetchone("SELECT * FROM feeds WHERE id = ?", (feed_id,))
        return None if row is None else _feed(row)

    async def statuses(self) -> list[FeedStatus]:
        """Every feed with the number of articles it brought in, oldest first."""
        rows = await self._db.fetchall(
            "SELECT feeds.*, (SELECT count(*) FROM articles WHERE articles.feed_id = feeds.id) AS n, "
            " s.key AS section_key, s.label_tr AS section_tr, s.label_en AS section_en "
            "FROM feeds LEFT JOIN sections s ON s.id = feeds.section_id ORDER BY feeds.id"
        )
        return [FeedStatus(_feed(row), row["n"], _feed_section(row)) for row in rows]

    async def due(self, now: float) -> list[Feed]:
        """Feeds whose backoff has passed."""
        rows = await self._db.fetchall(
            "SELECT * FROM feeds WHERE next_fetch_at <= ? ORDER BY next_fetch_at, id", (now,)
        )
        return [_feed(row) for row in rows]

    async def record_success(
        self,
        feed_id: int,
        *,
        now: float,
        title: str | None,
        etag: str | None,
        last_modified: str | None,
    ) -> None:
        """A fetch worked (200 or 304): keep the validators, reset the backoff, mark the backlog stored."""
        await self._db.execute(
            "UPDATE feeds SET title = coalesce(?, title), etag = ?, last_modified = ?, primed = 1, "
            " failures = 0, next_fetch_at = 0, last_fetch_at = ?, last_error = NULL WHERE id = ?",
            (title or None, etag, last_modified, now, feed_id),
        )

    async def record_failure(self, feed_id: int, *, now: float, error: str, next_fetch_at: float) -> None:
        """A fetch failed: remember why and when to try again."""
        await self._db.execute(
            "UPDATE feeds SET failures = failures + 1, last_error = ?, last_fetch_at = ?, next_fetch_at = ? "
            "WHERE id = ?",
            (error[:300], now, next_fetch_at, feed_id),
        )


def _feed(row: Row) -> Feed:
    return Feed(
        id=row["id"],
        url=row["url"],
        title=row["title"],
        etag=row["etag"],
        last_modified=row["last_modified"],
        primed=bool(row["primed"]),
        failures=row["failures"],
        next_fetch_at=row["next_fetch_at"],
        last_fetch_at=row["last_fetch_at"],
        last_error=row["last_error"],
        language=row["language"],
        section_id=row["section_id"],
        breaking=bool(row["breaking"]),
    )


def _feed_section(row: Row) -> Section | None:
    if row["section_key"] is None:
        return None
    return Section(row["section_id"], row["section_key"], row["section_tr"], row["section_en"])
