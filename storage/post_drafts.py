"""Drafts of operators' /post and /edit: stored until Publish or Cancel is pressed, claimed exactly once."""

from __future__ import annotations

import sqlite3

from storage.database import Database, Transaction
from storage.models import PostDraft

PENDING = "pending"
PUBLISHED = "published"
CANCELLED = "cancelled"


class PostDrafts:
    """All SQL of the preview drafts (migration 0020)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(
        self,
        *,
        token: str,
        kind: str,
        chat_id: int,
        text: str,
        now: float,
        expires_at: float,
        article_id: int | None = None,
        photo_file_id: str | None = None,
    ) -> PostDraft:
        """Store a new pending draft; the preview's buttons carry its token."""
        row = await self._db.write_fetchone(
            "INSERT INTO post_drafts (token, kind, chat_id, article_id, text, photo_file_id, created_at, "
            " expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
            (token, kind, chat_id, article_id, text, photo_file_id, now, expires_at),
        )
        assert row is not None
        return _draft(row)

    async def get(self, token: str) -> PostDraft | None:
        """A draft by its token, whatever its state (None once pruned)."""
        row = await self._db.fetchone("SELECT * FROM post_drafts WHERE token = ?", (token,))
        return None if row is None else _draft(row)

    async def claim(
        self, tx: Transaction, token: str, chat_id: int, state: str, now: float
    ) -> PostDraft | None:
        """Mark a pending, unexpired draft of this chat published or cancelled; None when another press won.

        Run inside the transaction that publishes it: the claim and the article commit (or roll back)
        together, so a draft is published exactly once.
        """
        row = await tx.fetchone(
            "UPDATE post_drafts SET state = ? "
            "WHERE token = ? AND chat_id = ? AND state = 'pending' AND expires_at > ? RETURNING *",
            (state, token, chat_id, now),
        )
        return None if row is None else _draft(row)

    async def prune(self, now: float) -> int:
        """Delete drafts past their expiry, pressed or not; returns how many."""
        return await self._db.execute("DELETE FROM post_drafts WHERE expires_at <= ?", (now,))


def _draft(row: sqlite3.Row) -> PostDraft:
    return PostDraft(
        id=row["id"],
        token=row["token"],
        kind=row["kind"],
        chat_id=row["chat_id"],
        article_id=row["article_id"],
        text=row["text"],
        photo_file_id=row["photo_file_id"],
        state=row["state"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
    )
