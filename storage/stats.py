"""Numbers for operators (/stats): audience, articles and the outbox."""

from __future__ import annotations

import time

from storage.database import Database
from storage.models import StatsOverview
from storage.outbox import Outbox
from storage.retention import Retention

ACTIVE = "subscribed = 1 AND reachable = 1"
# The reply language as bot.render.language_for picks it: the reader's choice, else Telegram's tr*, else en.
EFFECTIVE_LANGUAGE = (
    "CASE WHEN language IN ('tr', 'en') THEN language "
    "WHEN lower(coalesce(language_code, '')) LIKE 'tr%' THEN 'tr' ELSE 'en' END"
)
DAY = 24 * 3600.0


class Stats:
    """Read-only aggregates; every breakdown is one GROUP BY over active chats."""

    def __init__(self, db: Database, outbox: Outbox, retention: Retention) -> None:
        self._db = db
        self._outbox = outbox
        self._retention = retention

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
