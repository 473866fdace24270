"""Corrections, withdrawals and stopped broadcasts: what editors do to an article after it went out.

A correction stores the article's next version and queues one edit per message already delivered (kind
"edit"); readers still queued get the new version. A withdrawal takes the article out of every list and link,
drops what was still queued and queues one deletion-or-notice per delivered message (kind "withdraw"). The
delivery engine sends both at the usual limits, readers first, exactly once per message.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime

from bot.drafts import headline
from bot.sources.links import normalize_url
from bot.text import normalize_text
from storage import Store
from storage.models import Article

REASON_MAX = 200
_URL = re.compile(r"https?://\S+")
_SPACE = re.compile(r"\s+")


def reader_form(title: str, body: str) -> tuple[str, str]:
    """What readers see of a headline and text: whitespace collapsed, links without tracking parameters."""

    def tidy(text: str) -> str:
        text = _URL.sub(lambda match: normalize_url(match.group(0)), normalize_text(text))
        return _SPACE.sub(" ", text).strip()

    return tidy(headline(title)), tidy(body)


def item_key(title: str, body: str, link: str | None) -> str:
    """A feed item's fingerprint: a change in it (not whitespace or tracking parameters) is a correction."""
    shown_title, shown_body = reader_form(title, body)
    link_key = normalize_url(link) if link else ""
    return hashlib.sha256(f"{shown_title}\n{shown_body}\n{link_key}".encode()).hexdigest()


@dataclass(frozen=True)
class Correction:
    """What a correction did: the article as it is now, whether it changed, and how many copies get edited."""

    article: Article | None
    changed: bool
    edits: int = 0


async def correct(store: Store, article_id: int, title: str, body: str, now: datetime) -> Correction:
    """Store a new version when readers would see a difference, and queue the edit of every copy sent."""
    async with store.db.transaction() as tx:
        row = await store.articles.get_in(tx, article_id)
        if row is None or row.withdrawn:
            return Correction(row, False)
        if reader_form(row.title, row.body) == reader_form(title, body):
            return Correction(row, False)
        article = await store.articles.correct(tx, article_id, headline(title), normalize_text(body), now)
        if article is None:
            return Correction(row, False)
        edits = 0
        parent = await store.outbox.article_broadcast(tx, article_id)
        if parent is not None:
            await store.outbox.set_revision(tx, parent, article.version)
            edit = await store.outbox.queue_followup(tx, parent, "edit", f"{article_id}:{article.version}")
            edits = await store.outbox.queued(tx, edit)
    return Correction(article, True, edits)


@dataclass(frozen=True)
class Withdrawal:
    """What a withdrawal did: the article, queued copies dropped, delivered copies to delete or replace."""

    article: Article | None
    dropped: int = 0
    copies: int = 0


async def withdraw(store: Store, article_id: int, reason: str, now: datetime) -> Withdrawal:
    """Withdraw an article: out of every list, its queue dropped, every delivered copy deleted or replaced."""
    async with store.db.transaction() as tx:
        article = await store.articles.withdraw(tx, article_id, reason[:REASON_MAX].strip(), now)
        if article is None:
            return Withdrawal(None)
        parent = await store.outbox.article_broadcast(tx, article_id)
        if parent is None:
            return Withdrawal(article)
        dropped = await store.outbox.cancel_queued(tx, parent, "withdrawn")
        followup = await store.outbox.queue_followup(tx, parent, "withdraw", str(article_id))
        copies = await store.outbox.queued(tx, followup)
    return Withdrawal(article, dropped, copies)


async def cancel(store: Store, article_id: int) -> int | None:
    """Stop an article's broadcast: queued deliveries dropped, delivered ones kept; None if never pushed."""
    async with store.db.transaction() as tx:
        parent = await store.outbox.article_broadcast(tx, article_id)
        if parent is None:
            return None
        return await store.outbox.cancel_queued(tx, parent, "cancelled by an operator")


@dataclass(frozen=True)
class EditText:
    """`/edit N` with the corrected headline and text."""

    article_id: int
    title: str
    body: str


_EDIT = re.compile(r"^/\w+(?:@\w+)?[ \t]+#?(\d{1,12})\b[ \t]*(.*)$", re.DOTALL)


def parse_edit(message_text: str, *, title_max: int, body_max: int) -> EditText | None:
    """`/edit 12` then the headline (same line or the next) and the text below; None when incomplete."""
    match = _EDIT.match(message_text.strip())
    if match is None:
        return None
    article_id, rest = int(match.group(1)), match.group(2).strip()
    title, _newline, body = rest.partition("\n")
    title, body = " ".join(title.split()), body.strip()
    if article_id < 1 or not title or not body or len(title) > title_max or len(body) > body_max:
        return None
    return EditText(article_id, title, body)


def parse_retract(args: list[str]) -> tuple[int, str] | None:
    """`/retract 12 [reason]`: the article number and the reason (may be empty), else None."""
    if not args:
        return None
    number = args[0].removeprefix("#")
    if not number.isascii() or not number.isdigit() or len(number) > 12 or int(number) < 1:
        return None
    return int(number), " ".join(args[1:])[:REASON_MAX]
