"""Plain dataclasses that leave the storage layer; no rows or cursors escape it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Chat:
    """A reader, group or channel, with what the bot needs to address it."""

    chat_id: int
    chat_type: str
    language_code: str | None
    language: str | None
    subscribed: bool
    reachable: bool

    @property
    def active(self) -> bool:
        """Active subscribers get broadcasts: subscribed and not blocked."""
        return self.subscribed and self.reachable


@dataclass(frozen=True)
class ArticleDraft:
    """An article before it has an id: what sources and admins produce."""

    title: str
    body: str
    published_at: datetime
    source: str
    url: str | None = None
    url_key: str | None = None
    guid: str | None = None
    content_hash: str | None = None


@dataclass(frozen=True)
class Article:
    """A stored article."""

    id: int
    title: str
    body: str
    url: str | None
    published_at: datetime
    source: str


@dataclass(frozen=True)
class SubscriptionChange:
    """What /subscribe or /unsubscribe did, so the reply can say so."""

    changed: bool
    subscribed: bool


@dataclass(frozen=True)
class DueDelivery:
    """A pending delivery with what the sender needs: what to render and in which language."""

    broadcast_id: int
    chat_id: int
    kind: str
    ref: str
    attempts: int
    chat_type: str
    language: str | None
    language_code: str | None


@dataclass(frozen=True)
class DeliveryOutcome:
    """How one delivery ended this time: sent, retry later (not_before), or failed for good."""

    broadcast_id: int
    chat_id: int
    status: str  # sent | retry | failed
    error: str | None = None
    not_before: float = 0.0


@dataclass(frozen=True)
class BroadcastProgress:
    """Deliveries of one broadcast: all of them and those no longer pending."""

    broadcast_id: int
    kind: str
    ref: str
    total: int
    done: int


@dataclass(frozen=True)
class StatsOverview:
    """What /stats shows operators: audience, content and the outbox of the last day."""

    active: int
    by_language: list[tuple[str, int]]
    by_chat_type: list[tuple[str, int]]
    articles: int
    pending: int
    sent_24h: int
    failed_24h: int
