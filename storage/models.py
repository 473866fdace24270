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
class InviteCounts:
    """How many friends joined through a reader's links, and how many of them are active subscribers."""

    friends: int
    subscribers: int


@dataclass(frozen=True)
class ReferrerStat:
    """One line of the operators' "top sharers" table."""

    user_id: int
    friends: int
    subscribers: int
