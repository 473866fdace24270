"""Enqueueing broadcasts: one statement per broadcast, whatever the number of recipients."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence

from storage.database import Database, Params, Transaction
from storage.models import BroadcastProgress, DeliveryOutcome, DueDelivery

ACTIVE_SUBSCRIBERS = "SELECT chat_id FROM chats WHERE subscribed = 1 AND reachable = 1"
_NOW = "strftime('%Y-%m-%dT%H:%M:%SZ', 'now')"


class Outbox:
    """What must be sent to whom; senders work from here, so a restart loses nothing."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._listeners: list[Callable[[], None]] = []

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call `listener` whenever this process enqueues a broadcast, so senders wake at once."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[], None]) -> None:
        """Stop calling `listener` (the engine stopped)."""
        if listener in self._listeners:
            self._listeners.remove(listener)

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
        # Listeners read the outbox through the same serialised connection, so they see the rows only
        # after this transaction commits (and see nothing if it rolls back).
        for listener in self._listeners:
            listener()
        return broadcast_id

    async def enqueue_article(self, tx: Transaction, article_id: int) -> int:
        """A new article goes to every active subscriber."""
        return await self.enqueue(tx, "article", str(article_id), ACTIVE_SUBSCRIBERS)

    async def pending_count(self) -> int:
        """Deliveries still to make, for stats and tests."""
        return await self._db.fetchval("SELECT count(*) FROM deliveries WHERE status = 'pending'")

    async def due(
        self,
        kinds: Sequence[str],
        after: tuple[int, int] | None,
        limit: int,
        now: float | None = None,
    ) -> list[DueDelivery]:
        """The next page of pending deliveries of these kinds, in (broadcast, chat) order after `after`."""
        if not kinds:
            return []
        broadcast_id, chat_id = after if after is not None else (0, -(2**63))
        marks = ", ".join("?" for _ in kinds)
        rows = await self._db.fetchall(
            "SELECT d.broadcast_id, d.chat_id, d.attempts, b.kind, b.ref, "
            " c.chat_type, c.language, c.language_code "
            "FROM deliveries d JOIN broadcasts b ON b.id = d.broadcast_id "
            "LEFT JOIN chats c ON c.chat_id = d.chat_id "
            "WHERE d.status = 'pending' AND d.not_before <= ? AND (d.broadcast_id, d.chat_id) > (?, ?) "
            f" AND b.kind IN ({marks}) "
            "ORDER BY d.broadcast_id, d.chat_id LIMIT ?",
            (time.time() if now is None else now, broadcast_id, chat_id, *kinds, limit),
        )
        return [
            DueDelivery(
                broadcast_id=row["broadcast_id"],
                chat_id=row["chat_id"],
                kind=row["kind"],
                ref=row["ref"],
                attempts=row["attempts"],
                chat_type=row["chat_type"] or ("private" if row["chat_id"] > 0 else "group"),
                language=row["language"],
                language_code=row["language_code"],
            )
            for row in rows
        ]

    async def record(self, outcomes: Iterable[DeliveryOutcome], now: float | None = None) -> None:
        """Commit outcomes together; only pending rows change, so a late duplicate outcome is harmless."""
        finished = time.time() if now is None else now
        sent, retry, failed = [], [], []
        for o in outcomes:
            key = (o.broadcast_id, o.chat_id)
            if o.status == "sent":
                sent.append((finished, *key))
            elif o.status == "retry":
                retry.append((int(o.count_attempt), o.not_before, o.error, *key))
            else:
                failed.append((o.error, finished, *key))
        where = " WHERE broadcast_id = ? AND chat_id = ? AND status = 'pending'"
        async with self._db.transaction() as tx:
            if sent:
                await tx.executemany(
                    "UPDATE deliveries SET status = 'sent', attempts = attempts + 1, error = NULL, "
                    "finished_at = ?" + where,
                    sent,
                )
            if retry:
                await tx.executemany(
                    "UPDATE deliveries SET attempts = attempts + ?, not_before = ?, error = ?" + where, retry
                )
            if failed:
                await tx.executemany(
                    "UPDATE deliveries SET status = 'failed', attempts = attempts + 1, error = ?, "
                    "finished_at = ?" + where,
                    failed,
                )

    async def deactivate_chat(self, chat_id: int, reason: str) -> int:
        """Telegram says the chat is gone for us: mark it unreachable and fail its pending deliveries."""
        async with self._db.transaction() as tx:
            await tx.execute(
                f"UPDATE chats SET reachable = 0, updated_at = {_NOW} WHERE chat_id = ?", (chat_id,)
            )
            return await self._fail_pending(tx, chat_id, reason)

    async def end_subscription(self, chat_id: int, reason: str) -> int:
        """A channel or group removed the bot: unsubscribe it and fail what was still queued for it."""
        async with self._db.transaction() as tx:
            await tx.execute(
                f"UPDATE chats SET subscribed = 0, updated_at = {_NOW} WHERE chat_id = ?", (chat_id,)
            )
            return await self._fail_pending(tx, chat_id, reason)

    async def _fail_pending(self, tx: Transaction, chat_id: int, reason: str) -> int:
        return await tx.execute(
            "UPDATE deliveries SET status = 'failed', error = ?, finished_at = ? "
            "WHERE chat_id = ? AND status = 'pending'",
            (reason, time.time(), chat_id),
        )

    async def migrate_chat(self, old_chat_id: int, new_chat_id: int) -> None:
        """A group became a supergroup: move its subscription and pending deliveries to the new id."""
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO chats (chat_id, chat_type, title, language_code, language, subscribed, "
                " reachable, subscribed_at) "
                "SELECT ?, 'supergroup', title, language_code, language, subscribed, 1, subscribed_at "
                "FROM chats WHERE chat_id = ? "
                "ON CONFLICT (chat_id) DO UPDATE SET "
                " subscribed = max(chats.subscribed, excluded.subscribed), reachable = 1, "
                f" language = coalesce(chats.language, excluded.language), updated_at = {_NOW}",
                (new_chat_id, old_chat_id),
            )
            await tx.execute(
                f"UPDATE chats SET subscribed = 0, reachable = 0, updated_at = {_NOW} WHERE chat_id = ?",
                (old_chat_id,),
            )
            await tx.execute(
                "INSERT OR IGNORE INTO deliveries (broadcast_id, chat_id, attempts) "
                "SELECT broadcast_id, ?, attempts FROM deliveries WHERE chat_id = ? AND status = 'pending'",
                (new_chat_id, old_chat_id),
            )
            await tx.execute(
                "DELETE FROM deliveries WHERE chat_id = ? AND status = 'pending'", (old_chat_id,)
            )

    async def is_pending(self, broadcast_id: int, chat_id: int) -> bool:
        """Whether this delivery still has to be made."""
        status = await self._db.fetchval(
            "SELECT status FROM deliveries WHERE broadcast_id = ? AND chat_id = ?", (broadcast_id, chat_id)
        )
        return status == "pending"

    async def progress(self, broadcast_id: int) -> BroadcastProgress | None:
        """How far one broadcast got, for progress logs."""
        row = await self._db.fetchone(
            "SELECT b.kind, b.ref, count(d.chat_id) AS total, "
            " coalesce(sum(d.status != 'pending'), 0) AS done "
            "FROM broadcasts b LEFT JOIN deliveries d ON d.broadcast_id = b.id WHERE b.id = ?",
            (broadcast_id,),
        )
        if row is None or row["kind"] is None:
            return None
        return BroadcastProgress(broadcast_id, row["kind"], row["ref"], row["total"], row["done"])

    async def outcome_counts(self, since: float) -> dict[str, int]:
        """Pending deliveries now, and sent/failed ones finished since `since` (unix time)."""
        counts = {"pending": await self.pending_count(), "sent": 0, "failed": 0}
        rows = await self._db.fetchall(
            "SELECT status, count(*) FROM deliveries WHERE finished_at >= ? GROUP BY status", (since,)
        )
        for status, count in rows:
            counts[status] = count
        return counts
