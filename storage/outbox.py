"""Enqueueing broadcasts: one statement per broadcast, whatever the number of recipients."""

from __future__ import annotations

from storage.database import Database, Params, Transaction

ACTIVE_SUBSCRIBERS = "SELECT chat_id FROM chats WHERE subscribed = 1 AND reachable = 1"


class Outbox:
    """What must be sent to whom; senders work from here, so a restart loses nothing."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def enqueue(
        self, tx: Transaction, kind: str, ref: str, recipients_sql: str, params: Params = ()
    ) -> int:
        """Queue `kind`/`ref` for every chat the SELECT returns; repeating it adds nobody twice."""
        await tx.execute("INSERT OR IGNORE INTO broadcasts (kind, ref) VALUES (?, ?)", (kind, ref))
        row = await tx.fetchone("SELECT id FROM broadcasts WHERE kind = ? AND ref = ?", (kind, ref))
        assert row is not None
        broadcast_id = row[0]
        await tx.execute(
            "INSERT OR IGNORE INTO deliveries (broadcast_id, chat_id) "
            f"SELECT ?, chat_id FROM ({recipients_sql})",
            (broadcast_id, *params),
        )
        return broadcast_id

    async def enqueue_article(self, tx: Transaction, article_id: int) -> int:
        """A new article goes to every active subscriber."""
        return await self.enqueue(tx, "article", str(article_id), ACTIVE_SUBSCRIBERS)

    async def pending_count(self) -> int:
        """Deliveries still to make, for stats and tests."""
        return await self._db.fetchval("SELECT count(*) FROM deliveries WHERE status = 'pending'")
