"""The storage facade handed to services and handlers."""

from __future__ import annotations

from pathlib import Path

from storage.articles import Articles
from storage.chats import Chats
from storage.database import Database, Transaction
from storage.feeds import Feeds
from storage.maps import MapStore
from storage.outbox import Outbox
from storage.readers import Readers
from storage.referrals import Referrals
from storage.routing import Routing
from storage.sections import Sections
from storage.stats import Stats
from storage.weather import WeatherStore


def is_database_url(target: Path | str) -> bool:
    """Whether `target` names a PostgreSQL database (NEWSBOT_DATABASE_URL) rather than an SQLite file."""
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


class Store:
    """One database, its repositories by topic."""

    def __init__(self, db: Database, *, default_language: str = "tr") -> None:
        self.db = db
        self.chats = Chats(db)
        self.articles = Articles(db)
        self.readers = Readers(db)
        self.routing = Routing(db, default_language)
        self.outbox = Outbox(db, self.routing)
        self.weather = WeatherStore(db, self.outbox)
        self.maps = MapStore(db)
        self.feeds = Feeds(db)
        self.sections = Sections(db)
        self.referrals = Referrals(db)
        self.retention = db.dialect.retention(db)
        self.stats = Stats(db, self.outbox, self.retention)

    @classmethod
    async def open(cls, target: Path | str, *, default_language: str = "tr") -> Store:
        """Open and migrate the database: a postgresql:// URL, else an SQLite file's path.

        A small older SQLite file converts to incremental vacuum. `default_language` is the language of
        articles stored without one (NEWSBOT_DEFAULT_LANGUAGE).
        """
        if is_database_url(target):
            from storage.postgres.database import PgDatabase  # asyncpg only for those who use it

            db: Database = await PgDatabase.open(str(target))  # type: ignore[assignment]  # same surface
        else:
            db = await Database.open(target)
        store = cls(db, default_language=default_language)
        await store.retention.ensure_incremental_vacuum()
        await store.articles.index_missing()
        return store

    async def announce_article(self, tx: Transaction, article_id: int) -> None:
        """Mark a new article for delivery to every active subscriber; the delivery engine sends it."""
        await self.outbox.enqueue_article(tx, article_id)

    async def close(self) -> None:
        """Release the connection."""
        await self.db.close()
