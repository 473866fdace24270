"""Enqueueing broadcasts: one statement per broadcast, whatever the number of recipients."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterable, Sequence

from storage.database import Database, Params, StorageUnavailable, Transaction
from storage.models import BroadcastProgress, DeliveryOutcome, DueDelivery
from storage.routing import Routing, istanbul_minute

ACTIVE_SUBSCRIBERS = "SELECT chat_id FROM chats WHERE subscribed = 1 AND reachable = 1"
# Audiences queued in chunks (Outbox.fill), by name, so a restart can finish queueing one. "readers": the
# subscribers an article's routing takes (storage/routing.py Routing.fill_sql), chunked over all of them.
AUDIENCES = {"subscribers": ACTIVE_SUBSCRIBERS, "readers": ACTIVE_SUBSCRIBERS}
FILL_CHUNK = 20_000  # recipients per fill transaction: ~30 ms of write lock, 100-200 ms routing an article
ANALYZE_AFTER = 10_000  # deliveries queued by one broadcast from which PostgreSQL's statistics are renewed
CLAIM_CHUNK = 400  # chat ids per claiming statement, well under SQLite's variable limit
# Queueing a follow-up (an edit, a withdrawal) and recording sends that may have to join one take this lock
# first: each then sees the other's rows committed (on PostgreSQL they would otherwise run side by side, and
# a copy sent while the follow-up was queued could be missed by both).
FOLLOWUPS_LOCK = "outbox-followups"

log = logging.getLogger(__name__)


class Outbox:
    """What must be sent to whom; senders work from here, so a restart loses nothing."""

    def __init__(self, db: Database, routing: Routing | None = None) -> None:
        self._db = db
        self._now = db.dialect.now  # the current UTC time as ISO text
        self._routing = routing or Routing(db)
        dialect = db.dialect
        self._pending_index = dialect.indexed_by("deliveries_pending")
        self._sending_index = dialect.indexed_by("deliveries_sending")
        self._parent_index = dialect.indexed_by("broadcasts_parent")
        self._not_owner = f"NOT ({dialect.same('claimed_by', '?')})"
        self._more_subscribed = dialect.greatest("chats.subscribed", "excluded.subscribed")
        self._listeners: list[Callable[[], None]] = []
        self._stop_listeners: list[Callable[[int], None]] = []

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call `listener` whenever this process enqueues a broadcast, so senders wake at once."""
        self._listeners.append(listener)

    def add_stop_listener(self, listener: Callable[[int], None]) -> None:
        """Call `listener(broadcast_id)` when this process stops a broadcast, so claimed sends are dropped."""
        self._stop_listeners.append(listener)

    def remove_stop_listener(self, listener: Callable[[int], None]) -> None:
        """Stop calling `listener` (the engine stopped)."""
        if listener in self._stop_listeners:
            self._stop_listeners.remove(listener)

    def remove_listener(self, listener: Callable[[], None]) -> None:
        """Stop calling `listener` (the engine stopped)."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    async def enqueue(
        self, tx: Transaction, kind: str, ref: str, recipients_sql: str, params: Params = ()
    ) -> int:
        """Queue `kind`/`ref` now for every chat the SELECT returns (a snapshot); nobody twice."""
        broadcast_id = await self._broadcast(tx, kind, ref)
        added = await tx.execute(
            "INSERT INTO deliveries (broadcast_id, chat_id) "
            f"SELECT CAST(? AS bigint), chat_id FROM ({recipients_sql}) AS r WHERE true "
            "ON CONFLICT DO NOTHING",
            (broadcast_id, *params),
        )
        await tx.execute(
            "UPDATE broadcasts SET total = coalesce(total, 0) + ? WHERE id = ?", (added, broadcast_id)
        )
        self._notify(tx)
        return broadcast_id

    async def enqueue_audience(self, tx: Transaction, kind: str, ref: str, audience: str) -> int:
        """Queue `kind`/`ref` for a whole audience, in chunks after this transaction commits (see fill)."""
        if audience not in AUDIENCES:
            raise ValueError(f"unknown audience {audience!r}")
        broadcast_id = await self._broadcast(tx, kind, ref)
        await tx.execute(
            "UPDATE broadcasts SET audience = ?, filled_to = NULL, total = 0 WHERE id = ? AND total IS NULL",
            (audience, broadcast_id),
        )
        self._notify(tx)
        return broadcast_id

    async def enqueue_article(self, tx: Transaction, article_id: int) -> int:
        """A new article goes to the subscribers whose choices take it (languages, sections, follows...)."""
        return await self.enqueue_audience(tx, "article", str(article_id), "readers")

    async def _broadcast(self, tx: Transaction, kind: str, ref: str) -> int:
        await tx.execute(
            "INSERT INTO broadcasts (kind, ref) VALUES (?, ?) ON CONFLICT DO NOTHING", (kind, ref)
        )
        row = await tx.fetchone("SELECT id FROM broadcasts WHERE kind = ? AND ref = ?", (kind, ref))
        assert row is not None
        return int(row[0])

    def _notify(self, tx: Transaction) -> None:
        # Listeners read the outbox on other connections: call them once the rows are committed.
        for listener in self._listeners:
            tx.after_commit(listener)

    async def filling(self) -> list[int]:
        """Broadcasts whose audience is still being queued (oldest first)."""
        rows = await self._db.fetchall("SELECT id FROM broadcasts WHERE audience IS NOT NULL ORDER BY id")
        return [row[0] for row in rows]

    async def fill(self, broadcast_id: int, chunk: int = FILL_CHUNK, *, minute: int | None = None) -> bool:
        """Queue the next `chunk` recipients of a filling broadcast in one short transaction; True when done.

        A chunk is a keyset step over chat ids, so a transaction never holds the write lock for long and a
        crash between chunks resumes where it stopped. The engine sends the broadcast only when it is done.
        An article's chunk applies each reader's choices; `minute` (after Istanbul midnight, default now)
        is the fill moment its quiet hours are judged at.
        """
        async with self._db.transaction() as tx:
            # Locked (PostgreSQL) so a stop (cancel_queued) waits for this chunk or this chunk sees the stop.
            row = await tx.fetchone(
                "SELECT audience, filled_to, ref, total FROM broadcasts WHERE id = ? AND audience IS NOT NULL"
                + self._db.dialect.for_update,
                (broadcast_id,),
            )
            if row is None:
                return True
            members = AUDIENCES[row["audience"]]
            routed = None
            if row["audience"] == "readers":
                ref = row["ref"]
                routed = await self._routing.fill_params(tx, int(ref)) if ref.isdigit() else None
                if routed is None:  # the article is gone: nobody to queue it for
                    members = ACTIVE_SUBSCRIBERS + " AND 1 = 0"
            after = row["filled_to"] if row["filled_to"] is not None else -(2**63)
            last = await tx.fetchone(
                f"SELECT max(chat_id), count(*) FROM (SELECT chat_id FROM ({members}) AS m "
                "WHERE chat_id > ? ORDER BY chat_id LIMIT ?) AS s",
                (after, chunk),
            )
            assert last is not None
            upto, found = last[0], last[1]
            added = 0
            if found and routed is not None:
                added = await tx.execute(
                    self._routing.fill_sql,
                    {
                        **routed,
                        "broadcast": broadcast_id,
                        "after": after,
                        "upto": upto,
                        "minute": istanbul_minute(time.time()) if minute is None else minute,
                    },
                )
            elif found:
                added = await tx.execute(
                    "INSERT INTO deliveries (broadcast_id, chat_id) "
                    f"SELECT CAST(? AS bigint), chat_id FROM ({members}) AS m "
                    "WHERE chat_id > ? AND chat_id <= ? "
                    "ON CONFLICT DO NOTHING",
                    (broadcast_id, after, upto),
                )
            done = found < chunk
            await tx.execute(
                "UPDATE broadcasts SET filled_to = ?, total = coalesce(total, 0) + ?, "
                " audience = CASE WHEN ? = 1 THEN NULL ELSE audience END WHERE id = ?",
                (upto if found else after, added, int(done), broadcast_id),
            )
        if done:
            await self.after_queueing((row["total"] or 0) + added)
        return done

    async def after_queueing(self, count: int) -> None:
        """After a commit that queued `count` deliveries: renew the planner's statistics if it was many.

        PostgreSQL (SQLite needs nothing): claims and pages of a just-queued broadcast were planned on
        statistics from before it, as if the queue were nearly all sent (autovacuum analyzes a minute later).
        """
        statement = self._db.dialect.analyze_deliveries
        if statement is None or count < ANALYZE_AFTER:
            return
        try:
            await self._db.execute(statement)
        except StorageUnavailable as error:  # the broadcast is queued all the same; autovacuum will follow
            log.warning("could not renew the delivery queue's statistics: %s", error)

    async def pending_count(self) -> int:
        """Deliveries still to make (queued or being sent; a broadcast still being queued counts one)."""
        return await self._db.fetchval(
            "SELECT (SELECT count(*) FROM deliveries WHERE status = 'pending') "
            " + (SELECT count(*) FROM deliveries WHERE status = 'sending') "
            " + (SELECT count(*) FROM broadcasts WHERE audience IS NOT NULL)"
        )

    async def due(
        self,
        kinds: Sequence[str],
        after: tuple[int, int] | None,
        limit: int,
        now: float | None = None,
    ) -> list[DueDelivery]:
        """The next page of sendable deliveries of these kinds, in (broadcast, chat) order after `after`."""
        if not kinds:
            return []
        broadcast_id, chat_id = after if after is not None else (0, -(2**63))
        marks = ", ".join("?" for _ in kinds)
        rows = await self._db.fetchall(
            "SELECT d.broadcast_id, d.chat_id, d.attempts, d.silent, d.matched, b.kind, b.ref, "
            " c.chat_type, c.language, c.language_code, b.revision, d.target, d.target_at, d.target_photo "
            # The pending index in keyset order, so a page reads its own rows and stops: never the rows
            # already sent, never a sort (CROSS JOIN keeps deliveries the outer loop).
            f"FROM deliveries d {self._pending_index} "
            f"{self._db.dialect.cross_join} broadcasts b ON b.id = d.broadcast_id "
            "LEFT JOIN chats c ON c.chat_id = d.chat_id "
            "WHERE d.status = 'pending' AND d.not_before <= ? AND (d.broadcast_id, d.chat_id) > (?, ?) "
            f" AND b.kind IN ({marks}) AND b.audience IS NULL "
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
                silent=bool(row["silent"]),
                matched=row["matched"],
                revision=row["revision"],
                target=row["target"],
                target_at=row["target_at"],
                target_photo=bool(row["target_photo"]),
            )
            for row in rows
        ]

    async def claim(
        self, owner: str, keys: Sequence[tuple[int, int]], now: float | None = None
    ) -> set[tuple[int, int]]:
        """Claim pending deliveries for `owner` atomically; only the returned ones may be sent by it."""
        claimed: set[tuple[int, int]] = set()
        stamp = time.time() if now is None else now
        by_broadcast: dict[int, list[int]] = {}
        for broadcast_id, chat_id in keys:
            by_broadcast.setdefault(broadcast_id, []).append(chat_id)
        async with self._db.transaction() as tx:
            for broadcast_id, chats in by_broadcast.items():
                for start in range(0, len(chats), CLAIM_CHUNK):
                    part = chats[start : start + CLAIM_CHUNK]
                    marks = ", ".join("?" for _ in part)
                    # broadcast_id = ? AND chat_id IN (...): primary-key lookups, never a scan of the queue
                    rows = await tx.fetchall(
                        "UPDATE deliveries SET status = 'sending', claimed_by = ?, claimed_at = ? "
                        f"WHERE broadcast_id = ? AND chat_id IN ({marks}) AND status = 'pending' "
                        "RETURNING broadcast_id, chat_id",
                        (owner, stamp, broadcast_id, *part),
                    )
                    claimed.update((row[0], row[1]) for row in rows)
        return claimed

    async def release(self, owner: str, keys: Iterable[tuple[int, int]]) -> None:
        """Give claims back unsent (the engine stops, or the token stopped working): no attempt counted."""
        rows = [(owner, *key) for key in keys]
        if rows:
            await self._db.executemany(
                "UPDATE deliveries SET status = 'pending', claimed_by = NULL, claimed_at = NULL "
                "WHERE claimed_by = ? AND broadcast_id = ? AND chat_id = ? AND status = 'sending'",
                rows,
            )

    async def release_all(self, owner: str) -> int:
        """Give back every claim of `owner` (the engine stopped with sends unfinished)."""
        return await self._db.execute(
            "UPDATE deliveries SET status = 'pending', claimed_by = NULL, claimed_at = NULL "
            "WHERE status = 'sending' AND claimed_by = ?",
            (owner,),
        )

    async def reclaim_abandoned(self, owner: str) -> int:
        """Re-queue claims of engines that are gone (a crash mid-send); the one engine calls this at start."""
        return await self._db.execute(
            "UPDATE deliveries SET status = 'pending', claimed_by = NULL, claimed_at = NULL "
            f"WHERE status = 'sending' AND {self._not_owner}",
            (owner,),
        )

    async def record(self, owner: str, outcomes: Iterable[DeliveryOutcome], now: float | None = None) -> None:
        """Commit outcomes together; only rows still claimed by `owner` change: nothing twice."""
        finished = time.time() if now is None else now
        sent, retry, failed = [], [], []
        shown: dict[tuple[int, int], int | None] = {}
        for o in outcomes:
            key = (owner, o.broadcast_id, o.chat_id)
            if o.status == "sent":
                sent.append((finished, o.message_id, int(o.photo), *key))
                shown[(o.broadcast_id, o.chat_id)] = o.revision
            elif o.status == "retry":
                retry.append((int(o.count_attempt), o.not_before, o.error, *key))
            else:
                failed.append((o.error, finished, *key))
        where = " WHERE claimed_by = ? AND broadcast_id = ? AND chat_id = ? AND status = 'sending'"
        async with self._db.transaction() as tx:
            if sent:
                await tx.lock(FOLLOWUPS_LOCK)
                await tx.executemany(
                    "UPDATE deliveries SET status = 'sent', attempts = attempts + 1, error = NULL, "
                    "finished_at = ?, message_id = ?, photo = ?, claimed_by = NULL" + where,
                    sent,
                )
                await self._join_followups(
                    tx, [(row[-2], row[-1], row[1], row[0], row[2]) for row in sent], shown
                )
            if retry:
                await tx.executemany(
                    "UPDATE deliveries SET status = 'pending', attempts = attempts + ?, not_before = ?, "
                    "error = ?, claimed_by = NULL, claimed_at = NULL" + where,
                    retry,
                )
            if failed:
                await tx.executemany(
                    "UPDATE deliveries SET status = 'failed', attempts = attempts + 1, error = ?, "
                    "finished_at = ?, claimed_by = NULL" + where,
                    failed,
                )

    async def _join_followups(
        self,
        tx: Transaction,
        sent: list[tuple[int, int, int | None, float, int]],
        shown: dict[tuple[int, int], int | None],
    ) -> None:
        """Copies sent after an edit or withdrawal of their broadcast was queued (in flight then) join it.

        `sent`: (broadcast, chat, message id, sent at, photo); `shown`: the article version each showed (a
        copy that already shows the corrected version needs no edit). One indexed look-up per batch when there
        is no follow-up, which is almost always.
        """
        parents = sorted({b for b, _, message_id, _, _ in sent if message_id is not None})
        if not parents:
            return
        marks = ", ".join("?" for _ in parents)
        rows = await tx.fetchall(
            f"SELECT f.parent, f.id, f.kind, p.revision FROM broadcasts f {self._parent_index} "
            f"JOIN broadcasts p ON p.id = f.parent WHERE f.parent IN ({marks}) ORDER BY f.id",
            parents,
        )
        latest = {row[0]: (row[1], row[2], row[3]) for row in rows}  # the newest follow-up wins
        for broadcast_id, chat_id, message_id, sent_at, photo in sent:
            found = latest.get(broadcast_id)
            if found is None or message_id is None:
                continue
            followup, kind, revision = found
            version = shown.get((broadcast_id, chat_id))
            if kind == "edit" and version is not None and version >= revision:
                continue  # it showed the corrected version already
            added = await tx.execute(
                "INSERT INTO deliveries (broadcast_id, chat_id, target, target_at, target_photo, matched) "
                "SELECT CAST(? AS bigint), chat_id, CAST(? AS bigint), CAST(? AS double precision), "
                " CAST(? AS integer), matched FROM deliveries "
                "WHERE broadcast_id = ? AND chat_id = ? ON CONFLICT DO NOTHING",
                (followup, message_id, sent_at, photo, broadcast_id, chat_id),
            )
            if added:
                await tx.execute("UPDATE broadcasts SET total = total + ? WHERE id = ?", (added, followup))
                self._notify(tx)

    async def article_broadcast(self, tx: Transaction, article_id: int) -> int | None:
        """The broadcast that pushed this article to its readers, if it was pushed."""
        row = await tx.fetchone(
            "SELECT id FROM broadcasts WHERE kind = 'article' AND ref = ?", (str(article_id),)
        )
        return None if row is None else int(row[0])

    async def set_revision(self, tx: Transaction, broadcast_id: int, revision: int) -> None:
        """Readers still queued get this version of the article, never a cached render of an older one."""
        await tx.execute("UPDATE broadcasts SET revision = ? WHERE id = ?", (revision, broadcast_id))

    async def queue_followup(self, tx: Transaction, parent: int, kind: str, ref: str) -> int:
        """Queue an edit or withdrawal of every message `parent` delivered, one delivery per message.

        Earlier follow-ups of the same broadcast still queued are dropped (the newest one says it all);
        chats that blocked the bot are skipped. Returns the new broadcast's id.
        """
        await tx.lock(FOLLOWUPS_LOCK)  # copies being recorded now are either seen here or join it there
        await self.cancel_followups(tx, parent, "superseded")
        broadcast_id = await self._broadcast(tx, kind, ref)
        await tx.execute("UPDATE broadcasts SET parent = ? WHERE id = ?", (parent, broadcast_id))
        added = await tx.execute(
            "INSERT INTO deliveries (broadcast_id, chat_id, target, target_at, target_photo, matched) "
            "SELECT CAST(? AS bigint), d.chat_id, d.message_id, d.finished_at, d.photo, d.matched "
            "FROM deliveries d JOIN chats c ON c.chat_id = d.chat_id "
            "WHERE d.broadcast_id = ? AND d.status = 'sent' AND d.message_id IS NOT NULL AND c.reachable = 1 "
            "ON CONFLICT DO NOTHING",
            (broadcast_id, parent),
        )
        await tx.execute(
            "UPDATE broadcasts SET total = coalesce(total, 0) + ? WHERE id = ?", (added, broadcast_id)
        )
        self._notify(tx)
        return broadcast_id

    async def queued(self, tx: Transaction, broadcast_id: int) -> int:
        """How many deliveries a broadcast has in all."""
        row = await tx.fetchone("SELECT coalesce(total, 0) FROM broadcasts WHERE id = ?", (broadcast_id,))
        return 0 if row is None else int(row[0])

    async def cancel_followups(self, tx: Transaction, parent: int, reason: str) -> int:
        """Drop what earlier edits of `parent` still had queued."""
        dropped = 0
        for row in await tx.fetchall("SELECT id FROM broadcasts WHERE parent = ?", (parent,)):
            dropped += await self.cancel_queued(tx, row[0], reason)
        return dropped

    async def cancel_queued(self, tx: Transaction, broadcast_id: int, reason: str) -> int:
        """Stop a broadcast: its queued deliveries are dropped (recorded as failed with `reason`), no more are
        queued; what was delivered, or is being sent this instant, stays."""
        await tx.execute(
            "UPDATE broadcasts SET audience = NULL WHERE id = ? AND audience IS NOT NULL", (broadcast_id,)
        )
        for listener in self._stop_listeners:
            tx.after_commit(functools.partial(listener, broadcast_id))
        return await tx.execute(
            f"UPDATE deliveries {self._pending_index} "
            "SET status = 'failed', error = ?, finished_at = ? "
            "WHERE broadcast_id = ? AND status = 'pending'",
            (reason, time.time(), broadcast_id),
        )

    async def deactivate_chat(self, chat_id: int, reason: str) -> int:
        """Telegram says the chat is gone for us: mark it unreachable and fail its pending deliveries."""
        async with self._db.transaction() as tx:
            await tx.execute(
                f"UPDATE chats SET reachable = 0, updated_at = {self._now} WHERE chat_id = ?", (chat_id,)
            )
            return await self._fail_pending(tx, chat_id, reason)

    async def end_subscription(self, chat_id: int, reason: str) -> int:
        """A channel or group removed the bot: unsubscribe it and fail what was still queued for it."""
        async with self._db.transaction() as tx:
            await tx.execute(
                f"UPDATE chats SET subscribed = 0, updated_at = {self._now} WHERE chat_id = ?", (chat_id,)
            )
            return await self._fail_pending(tx, chat_id, reason)

    async def _fail_pending(self, tx: Transaction, chat_id: int, reason: str) -> int:
        return await tx.execute(
            "UPDATE deliveries SET status = 'failed', error = ?, finished_at = ? "
            "WHERE chat_id = ? AND status = 'pending'",
            (reason, time.time(), chat_id),
        )

    async def migrate_chat(self, old_chat_id: int, new_chat_id: int, owner: str | None = None) -> None:
        """A group became a supergroup: move its subscription and queued deliveries to the new id.

        `owner` (the engine whose send hit the migration) also hands over its claim on the old id, so that
        delivery is sent again to the new id instead of being recorded.
        """
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO chats (chat_id, chat_type, title, language_code, language, subscribed, "
                " reachable, subscribed_at, languages, muted_sections, digest_times, digest_next, "
                " digest_after, quiet_start, quiet_end, quiet_next_end) "
                "SELECT CAST(? AS bigint), 'supergroup', title, language_code, language, subscribed, 1, "
                " subscribed_at, "
                " languages, muted_sections, digest_times, digest_next, digest_after, "
                " quiet_start, quiet_end, quiet_next_end "
                "FROM chats WHERE chat_id = ? "
                "ON CONFLICT (chat_id) DO UPDATE SET "
                f" subscribed = {self._more_subscribed}, reachable = 1, "
                f" language = coalesce(chats.language, excluded.language), updated_at = {self._now}",
                (new_chat_id, old_chat_id),
            )
            # The group's choices go with it: its followed words too; the old id gets no digests any more.
            await tx.execute(
                "INSERT INTO follows (chat_id, folded, phrase) "
                "SELECT CAST(? AS bigint), folded, phrase FROM follows WHERE chat_id = ? "
                "ON CONFLICT DO NOTHING",
                (new_chat_id, old_chat_id),
            )
            await tx.execute(
                f"UPDATE chats SET subscribed = 0, reachable = 0, digest_next = NULL, quiet_next_end = NULL, "
                f" updated_at = {self._now} WHERE chat_id = ?",
                (old_chat_id,),
            )
            movable = "chat_id = ? AND (status = 'pending' OR (status = 'sending' AND claimed_by = ?))"
            await tx.execute(
                "INSERT INTO deliveries (broadcast_id, chat_id, attempts, silent, matched) "
                f"SELECT broadcast_id, CAST(? AS bigint), attempts, silent, matched FROM deliveries "
                f"WHERE {movable} ON CONFLICT DO NOTHING",
                (new_chat_id, old_chat_id, owner),
            )
            await tx.execute(f"DELETE FROM deliveries WHERE {movable}", (old_chat_id, owner))

    async def progress(self, broadcast_id: int) -> BroadcastProgress | None:
        """How far one broadcast got: its stored total and an index count of what is left."""
        row = await self._db.fetchone(
            "SELECT kind, ref, coalesce(total, 0) AS total, "
            f" (SELECT count(*) FROM deliveries {self._pending_index} "
            "   WHERE broadcast_id = b.id AND status = 'pending') AS pending, "
            f" (SELECT count(*) FROM deliveries {self._sending_index} "
            "   WHERE broadcast_id = b.id AND status = 'sending') AS sending "
            "FROM broadcasts b WHERE b.id = ?",
            (broadcast_id,),
        )
        if row is None:
            return None
        left = row["pending"] + row["sending"]
        return BroadcastProgress(broadcast_id, row["kind"], row["ref"], row["total"], row["total"] - left)

    async def outcome_counts(self, since: float) -> dict[str, int]:
        """Pending deliveries now, and sent/failed ones finished since `since` (unix time)."""
        counts = {"pending": await self.pending_count(), "sent": 0, "failed": 0}
        rows = await self._db.fetchall(
            "SELECT status, count(*) FROM deliveries WHERE finished_at >= ? GROUP BY status", (since,)
        )
        for status, count in rows:
            counts[status] = count
        return counts
