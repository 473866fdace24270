"""One way in for new articles, whatever their source: deduplicate, store, mark for delivery."""

from __future__ import annotations

from dataclasses import dataclass

from bot.readers.matching import matching_phrases
from storage import Store
from storage.database import Transaction
from storage.models import Article, ArticleDraft


@dataclass(frozen=True)
class PublishResult:
    """The stored article and whether it was new (a duplicate is not published twice)."""

    article: Article
    created: bool


async def publish(store: Store, draft: ArticleDraft, *, announce: bool = True) -> PublishResult:
    """Store the draft once; a new article is queued for its readers in the same transaction."""
    async with store.db.transaction() as tx:
        article, created = await store.articles.add(tx, draft)
        if created and announce:
            await queue_for_readers(store, tx, article)
    return PublishResult(article, created)


async def queue_for_readers(store: Store, tx: Transaction, article: Article) -> None:
    """Queue a stored article for its readers, knowing first which followed phrases it contains.

    Matching runs once over the distinct followed phrases (not the readers), before the audience is queued:
    routing lets their followers have the article whatever its section, and says which phrase matched.
    """
    phrases = await store.routing.followed_phrases(tx)
    if phrases:
        found = matching_phrases(f"{article.title}\n{article.body}", phrases)
        await store.routing.save_matches(tx, article.id, found)
    await store.announce_article(tx, article.id)
