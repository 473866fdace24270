"""`newsbot feed add|list|remove`: the operator's feed list from the shell, one line per result."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TextIO

from bot.clock import in_istanbul
from bot.ingest import FeedPoller, IngestLimits, feed_key
from bot.settings import Settings
from storage import Store

EXIT_OK = 0
EXIT_FAILED = 1


async def add_feed(settings: Settings, url: str, *, out: TextIO, err: TextIO) -> int:
    """Add a feed and fetch it once (silently); a failed fetch still adds it and says why."""
    key = feed_key(url)
    if key is None:
        print(f"error: {url}: not an http(s) URL", file=err)
        return EXIT_FAILED
    store = await Store.open(settings.db_path)
    limits = IngestLimits()
    session = FeedPoller.open_session(limits, settings.fetch_allow)
    try:
        poller = FeedPoller(store, session, interval=settings.feed_interval, limits=limits)
        added = await poller.add_feed(url, key)
    finally:
        await session.close()
        await store.close()
    if not added.created:
        print(f"already listed: {added.feed.url}", file=out)
    elif added.outcome is not None and added.outcome.error:
        print(f"added {added.feed.url}", file=out)
        print(f"warning: {added.feed.url}: first fetch failed: {added.outcome.error}", file=err)
    else:
        count = added.outcome.new_articles if added.outcome else 0
        print(f"added {added.feed.url}: {count} articles stored (first fetch, not announced)", file=out)
    return EXIT_OK


async def list_feeds(settings: Settings, *, out: TextIO) -> int:
    """URL, title, last fetch, last error and article count of every feed, tab-separated."""
    store = await Store.open(settings.db_path)
    try:
        statuses = await store.feeds.statuses()
    finally:
        await store.close()
    if not statuses:
        print("no feeds; add one with: newsbot feed add URL", file=out)
        return EXIT_OK
    print("URL\tTITLE\tLAST FETCH\tARTICLES\tLAST ERROR", file=out)
    for status in statuses:
        feed = status.feed
        fetched = (
            in_istanbul(datetime.fromtimestamp(feed.last_fetch_at, UTC)).strftime("%Y-%m-%d %H:%M")
            if feed.last_fetch_at
            else "never"
        )
        title = " ".join((feed.title or "-").split())
        print(f"{feed.url}\t{title}\t{fetched}\t{status.article_count}\t{feed.last_error or '-'}", file=out)
    return EXIT_OK


async def remove_feed(settings: Settings, url: str, *, out: TextIO, err: TextIO) -> int:
    """Stop fetching a feed; its articles stay."""
    key = feed_key(url)
    store = await Store.open(settings.db_path)
    try:
        removed = key is not None and await store.feeds.remove(key)
    finally:
        await store.close()
    if not removed:
        print(f"error: {url}: no such feed (see: newsbot feed list)", file=err)
        return EXIT_FAILED
    print(f"removed {url}; its articles stay", file=out)
    return EXIT_OK
