"""Numbers for operators (/stats): audience, articles and the outbox."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from storage.database import Database
from storage.models import ArticleReach, BroadcastStatus, FollowupStatus, StatsOverview
from storage.outbox import Outbox
from storage.retention import Retention

ACTIVE = "subscribed = 1 AND reachable = 1"
# The reply language as bot.render.language_for picks it: the reader's choice, else Telegram's tr*, else en.
EFFECTIVE_LANGUAGE = (
    "CASE WHEN language IN ('tr', 'en') THEN language "
    "WHEN lower(coalesce(language_code, '')) LIKE 'tr%' THEN 'tr' ELSE 'en' END"
)
DAY = 24 * 3600.0
HOUR = 3600
SEND_HOURS_KEPT = 31 * 24  # hours of send counts kept: the chart shows 48
CHART_MIGRATION = 17  # the migration that started recording chat_event_hours and send_hours


class Stats:
    """Read-only aggregates; every breakdown is one GROUP BY over active chats."""

    def __init__(self, db: Database, outbox: Outbox, retention: Retention) -> None:
        self._db = db
        self._outbox = outbox
        self._retention = retention
        hint = db.dialect.indexed_by
        self._sending, self._pending = hint("deliveries_sending"), hint("deliveries_pending")
        self._in_digest = db.dialect.contains("',' || g.article_ids || ','", "',' || ? || ','")
        self._opened = db.dialect.greatest("article_opens.via_share", "excluded.via_share")

    async def active_by(self, expression: str) -> list[tuple[str, int]]:
        """Active subscribers grouped by a chats column or SQL expression (e.g. "province"), largest first."""
        rows = await self._db.fetchall(
            f"SELECT {expression} AS k, count(*) AS n FROM chats WHERE {ACTIVE} GROUP BY k ORDER BY n DESC, k"
        )
        return [(str(row["k"]) if row["k"] is not None else "-", row["n"]) for row in rows]

    async def overview(self, now: float | None = None) -> StatsOverview:
        """Everything /stats shows, deliveries counted over the last 24 hours."""
        now = time.time() if now is None else now
        active = await self._db.fetchval(f"SELECT count(*) FROM chats WHERE {ACTIVE}")
        articles = await self._db.fetchval("SELECT count(*) FROM articles")
        outcomes = await self._outbox.outcome_counts(since=now - DAY)
        return StatsOverview(
            active=active,
            by_language=await self.active_by(EFFECTIVE_LANGUAGE),
            by_chat_type=await self.active_by("chat_type"),
            by_province=await self.active_by("province"),
            articles=articles,
            pending=outcomes["pending"],
            sent_24h=outcomes["sent"],
            failed_24h=outcomes["failed"],
            archived=await self._retention.archive(),
        )

    # --- what the charts read (bot/stats/) ------------------------------------------------------------

    async def chat_events_by_hour(self, since: float) -> list[tuple[int, str, int]]:
        """(hour start, kind, count) of subscriber events from the hour of `since` (unix time) on."""
        rows = await self._db.fetchall(
            "SELECT hour, kind, count FROM chat_event_hours WHERE hour >= ? ORDER BY hour",
            (int(since // HOUR) * HOUR,),
        )
        return [(row[0], row[1], row[2]) for row in rows]

    async def active_count(self) -> int:
        """Active subscribers now: where the chart's line ends."""
        return await self._db.fetchval(f"SELECT count(*) FROM chats WHERE {ACTIVE}")

    async def recording_since(self) -> float | None:
        """When this database started recording subscriber events and send counts (unix time)."""
        applied = await self._db.fetchval(
            "SELECT applied_at FROM schema_migrations WHERE version = ?", (CHART_MIGRATION,)
        )
        if applied is None:
            return None
        return datetime.strptime(applied, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()

    async def add_send_counts(self, now: float, sent: int, flood: int) -> None:
        """Add sends and 429s to the hour of `now`; hours older than SEND_HOURS_KEPT go."""
        hour = int(now // HOUR) * HOUR
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO send_hours (hour, sent, flood) VALUES (?, ?, ?) "
                "ON CONFLICT (hour) DO UPDATE SET "
                " sent = send_hours.sent + excluded.sent, flood = send_hours.flood + excluded.flood",
                (hour, sent, flood),
            )
            await tx.execute("DELETE FROM send_hours WHERE hour < ?", (hour - SEND_HOURS_KEPT * HOUR,))

    async def send_hours(self, since: float) -> dict[int, tuple[int, int]]:
        """{hour start: (sent, 429s)} from `since` (unix time) on."""
        rows = await self._db.fetchall(
            "SELECT hour, sent, flood FROM send_hours WHERE hour >= ? ORDER BY hour",
            (int(since // HOUR) * HOUR,),
        )
        return {row[0]: (row[1], row[2]) for row in rows}

    async def broadcasts_in_progress(self, limit: int) -> list[BroadcastStatus]:
        """The newest broadcasts still being queued or sent; the newest broadcast when none is."""
        ids = set(await self._outbox.filling())
        ids.update(
            row[0]
            for row in await self._db.fetchall(
                f"SELECT DISTINCT broadcast_id FROM deliveries {self._sending} "
                "WHERE status = 'sending'"
            )
        )
        after = 0
        for _ in range(limit):  # one step of the pending index per broadcast, never a scan of its rows
            after = await self._db.fetchval(
                f"SELECT broadcast_id FROM deliveries {self._pending} "
                "WHERE status = 'pending' AND broadcast_id > ? ORDER BY broadcast_id LIMIT 1",
                (after,),
            )
            if after is None:
                break
            ids.add(after)
        if not ids:
            newest = await self._db.fetchval("SELECT max(id) FROM broadcasts")
            ids = {newest} if newest is not None else set()
        statuses = [await self.broadcast_status(i) for i in sorted(ids, reverse=True)[:limit]]
        return [status for status in statuses if status is not None]

    async def broadcast_status(self, broadcast_id: int) -> BroadcastStatus | None:
        """One broadcast's total, pending and failed deliveries."""
        row = await self._db.fetchone(
            "SELECT b.kind, b.ref, coalesce(b.total, 0) AS total, b.audience IS NOT NULL AS filling, "
            f" (SELECT count(*) FROM deliveries {self._pending} "
            "   WHERE broadcast_id = b.id AND status = 'pending') "
            f" + (SELECT count(*) FROM deliveries {self._sending} "
            "   WHERE broadcast_id = b.id AND status = 'sending') AS pending, "
            " (SELECT count(*) FROM deliveries WHERE broadcast_id = b.id AND status = 'failed') AS failed, "
            " CASE WHEN b.kind = 'article' "
            "  THEN (SELECT title FROM articles WHERE id = CAST(b.ref AS bigint)) "
            " END AS title "
            "FROM broadcasts b WHERE b.id = ?",
            (broadcast_id,),
        )
        if row is None:
            return None
        return BroadcastStatus(
            broadcast_id=broadcast_id,
            kind=row["kind"],
            ref=row["ref"],
            title=row["title"],
            total=row["total"],
            pending=row["pending"],
            failed=row["failed"],
            filling=bool(row["filling"]),
        )

    # --- one article's reach (/stats N) -----------------------------------------------------------------

    async def record_article_open(self, article_id: int, chat_id: int, via_share: bool, now: float) -> None:
        """A reader opened an existing article through a deep link (counted once per reader)."""
        await self._db.execute(
            "INSERT INTO article_opens (article_id, chat_id, via_share, opened_at) "
            "SELECT CAST(? AS bigint), CAST(? AS bigint), CAST(? AS integer), CAST(? AS double precision) "
            "WHERE EXISTS (SELECT 1 FROM articles WHERE id = ?) "
            f"ON CONFLICT (article_id, chat_id) DO UPDATE SET via_share = {self._opened}",
            (article_id, chat_id, int(via_share), now, article_id),
        )

    async def article_reach(self, article_id: int) -> ArticleReach | None:
        """Deliveries, digests, deep-link opens and friends brought by one article; None if unknown."""
        article = await self._db.fetchone(
            "SELECT title, published_at, withdrawn_at FROM articles WHERE id = ?", (article_id,)
        )
        if article is None:
            return None
        broadcast = await self._db.fetchone(
            "SELECT id, coalesce(total, 0) AS total, audience IS NOT NULL AS filling FROM broadcasts "
            "WHERE kind = 'article' AND ref = ?",
            (str(article_id),),
        )
        counts = {"sent": 0, "failed": 0, "pending": 0, "sending": 0}
        if broadcast is not None:
            for status, count in await self._db.fetchall(
                "SELECT status, count(*) FROM deliveries WHERE broadcast_id = ? GROUP BY status",
                (broadcast["id"],),
            ):
                counts[status] = count
        digest = {"sent": 0, "failed": 0, "pending": 0, "sending": 0}
        for status, count in await self._db.fetchall(
            "SELECT d.status, count(*) FROM digests g JOIN deliveries d ON d.broadcast_id = g.broadcast_id "
            f"WHERE {self._in_digest} GROUP BY d.status",
            (str(article_id),),
        ):
            digest[status] = count
        opens = await self._db.fetchone(
            "SELECT count(*), coalesce(sum(via_share), 0) FROM article_opens WHERE article_id = ?",
            (article_id,),
        )
        joined = await self._db.fetchone(
            f"SELECT count(*), coalesce(sum(CASE WHEN {ACTIVE} THEN 1 ELSE 0 END), 0) FROM referrals "
            "LEFT JOIN chats ON chats.chat_id = referrals.friend_id WHERE referrals.article_id = ?",
            (article_id,),
        )
        assert opens is not None and joined is not None
        followups = []
        if broadcast is not None:
            for row in await self._db.fetchall(
                "SELECT f.kind, f.ref, coalesce(f.total, 0) AS total, "
                " coalesce(sum(CASE WHEN d.status = 'sent' THEN 1 ELSE 0 END), 0) AS sent, "
                " coalesce(sum(CASE WHEN d.status = 'failed' THEN 1 ELSE 0 END), 0) AS failed, "
                " coalesce(sum(CASE WHEN d.status IN ('pending', 'sending') THEN 1 ELSE 0 END), 0) "
                "  AS pending "
                "FROM broadcasts f LEFT JOIN deliveries d ON d.broadcast_id = f.id "
                "WHERE f.parent = ? GROUP BY f.id ORDER BY f.id",
                (broadcast["id"],),
            ):
                followups.append(FollowupStatus(*row))
        total = broadcast["total"] if broadcast is not None else 0
        recorded = sum(counts.values())
        return ArticleReach(
            article_id=article_id,
            title=article["title"],
            published_at=datetime.fromisoformat(article["published_at"]),
            broadcast=broadcast is not None,
            filling=bool(broadcast["filling"]) if broadcast is not None else False,
            total=total,
            sent=counts["sent"],
            failed=counts["failed"],
            pending=counts["pending"] + counts["sending"],
            pruned=max(0, total - recorded),
            digest_sent=digest["sent"],
            digest_failed=digest["failed"],
            digest_pending=digest["pending"] + digest["sending"],
            opened=opens[0],
            opened_via_share=opens[1],
            joined=joined[0],
            joined_subscribed=joined[1],
            withdrawn=article["withdrawn_at"] is not None,
            followups=tuple(followups),
        )
