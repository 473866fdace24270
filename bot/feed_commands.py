"""`newsbot feed add|list|remove`: the operator's feed list from the shell, one line per result."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TextIO

from bot.arguments import ArticleOptions
from bot.clock import in_istanbul
from bot.ingest import FeedPoller, IngestLimits, feed_key
from bot.news.sections import section_name
from bot.settings import Settings
from storage import Store
from storage.models import Feed, Section
from storage.sections import GENERAL

EXIT_OK = 0
EXIT_FAILED = 1


async def add_feed(
    settings: Settings, url: str, options: ArticleOptions | None = None, *, out: TextIO, err: TextIO
) -> int:
    """Add a feed and fetch it once (silently); a failed fetch still adds it and says why.

    A feed already listed keeps everything, except the options given this time (`--language auto`
    goes back to detection, `--no-breaking` clears the mark); it answers with all its options.
    """
    key = feed_key(url)
    if key is None:
        print(f"error: {url}: not an http(s) URL", file=err)
        return EXIT_FAILED
    store = await Store.open(settings.database)
    limits = IngestLimits()
    session = FeedPoller.open_session(limits, settings.fetch_allow)
    try:
        poller = FeedPoller(store, session, interval=settings.feed_interval, limits=limits)
        added = await poller.add_feed(url, key, options)
    finally:
        await session.close()
        await store.close()
    marks = _marks(added.feed, added.section)
    if not added.created and options is not None and options.given:
        verb = "updated" if added.changed else "unchanged"
        print(f"{verb} {added.feed.url}: {_options(added.feed, added.section)}", file=out)
    elif not added.created:
        print(f"already listed: {added.feed.url}", file=out)
    elif added.outcome is not None and added.outcome.error:
        print(f"added {added.feed.url}{marks}", file=out)
        print(f"warning: {added.feed.url}: first fetch failed: {added.outcome.error}", file=err)
    else:
        count = added.outcome.new_articles if added.outcome else 0
        stored = f"{count} articles stored (first fetch, not announced)"
        print(f"added {added.feed.url}: {stored}{marks}", file=out)
    return EXIT_OK


def _options(feed: Feed, section: Section | None) -> str:
    """Every option of a feed, spelt out: `language en, section Ekonomi/Economy, breaking news`."""
    return ", ".join(
        (
            f"language {feed.language or 'auto'}",
            f"section {section_name(section) if section else feed.section_id}",
            "breaking news" if feed.breaking else "not breaking news",
        )
    )


def _marks(feed: Feed, section: Section | None) -> str:
    """` [en · Ekonomi/Economy · breaking]`: a new feed's options beyond the defaults."""
    named = section_name(section) if section and feed.section_id != GENERAL else None
    shown = " · ".join(mark for mark in (feed.language, named, feed.breaking and "breaking") if mark)
    return f" [{shown}]" if shown else ""


async def list_feeds(settings: Settings, *, out: TextIO) -> int:
    """URL, title, language, section, breaking mark, last fetch, article count, last error: tab-separated."""
    store = await Store.open(settings.database)
    try:
        statuses = await store.feeds.statuses()
    finally:
        await store.close()
    if not statuses:
        print("no feeds; add one with: newsbot feed add URL", file=out)
        return EXIT_OK
    print("URL\tTITLE\tLANGUAGE\tSECTION\tBREAKING\tLAST FETCH\tARTICLES\tLAST ERROR", file=out)
    for status in statuses:
        feed = status.feed
        fetched = (
            in_istanbul(datetime.fromtimestamp(feed.last_fetch_at, UTC)).strftime("%Y-%m-%d %H:%M")
            if feed.last_fetch_at
            else "never"
        )
        title = " ".join((feed.title or "-").split())
        section = section_name(status.section) if status.section else str(feed.section_id)
        options = f"{feed.language or 'auto'}\t{section}\t{'yes' if feed.breaking else 'no'}"
        print(
            f"{feed.url}\t{title}\t{options}\t{fetched}\t{status.article_count}\t{feed.last_error or '-'}",
            file=out,
        )
    return EXIT_OK


async def remove_feed(settings: Settings, url: str, *, out: TextIO, err: TextIO) -> int:
    """Stop fetching a feed; its articles stay."""
    key = feed_key(url)
    store = await Store.open(settings.database)
    try:
        removed = key is not None and await store.feeds.remove(key)
    finally:
        await store.close()
    if not removed:
        print(f"error: {url}: no such feed (see: newsbot feed list)", file=err)
        return EXIT_FAILED
    print(f"removed {url}; its articles stay", file=out)
    return EXIT_OK
