"""/feeds for operators: list the feeds, add one (fetched once right away), remove one."""

from __future__ import annotations

from datetime import UTC, datetime

from telegram import Update
from telegram.ext import Application, CommandHandler

from bot.clock import in_istanbul
from bot.context import NewsbotContext
from bot.feed_polling import poller_of
from bot.ingest import feed_key
from handlers.access import operators_only
from storage.models import FeedStatus

FEEDS_PER_MESSAGE = 8  # each feed takes up to ~450 characters; this keeps a message under 4096


@operators_only
async def feeds(update: Update, context: NewsbotContext) -> None:
    """Dispatch /feeds, /feeds add URL, /feeds remove URL."""
    args = context.args or []
    if not args:
        await _list(update, context)
    elif len(args) == 2 and args[0].lower() in ("add", "remove"):
        key = feed_key(args[1])
        if key is None:
            await context.reply(update, "feeds_bad_url", url=args[1][:200])
        elif args[0].lower() == "add":
            await _add(update, context, args[1], key)
        else:
            removed = await context.store.feeds.remove(key)
            await context.reply(update, "feed_removed", url=args[1][:200], removed=removed)
    else:
        await context.reply(update, "feeds_usage", empty=False)


async def _list(update: Update, context: NewsbotContext) -> None:
    statuses = await context.store.feeds.statuses()
    if not statuses:
        await context.reply(update, "feeds_usage", empty=True)
        return
    for start in range(0, len(statuses), FEEDS_PER_MESSAGE):
        chunk = [_row(status) for status in statuses[start : start + FEEDS_PER_MESSAGE]]
        await context.reply(update, "feeds_list", feeds=chunk, first=start == 0, total=len(statuses))


async def _add(update: Update, context: NewsbotContext, url: str, key: str) -> None:
    poller = poller_of(context.services)
    if poller is None:
        await context.reply(update, "error")
        return
    added = await poller.add_feed(url, key)
    outcome = added.outcome
    await context.reply(
        update,
        "feed_added",
        url=added.feed.url[:200],
        created=added.created,
        error=outcome.error if outcome else None,
        new_articles=outcome.new_articles if outcome else 0,
    )


def _row(status: FeedStatus) -> dict[str, object]:
    feed = status.feed
    fetched = feed.last_fetch_at
    return {
        "url": feed.url[:200],
        "title": (feed.title or "")[:80],
        "last_fetch": in_istanbul(datetime.fromtimestamp(fetched, UTC)) if fetched else None,
        "last_error": (feed.last_error or "")[:120],
        "articles": status.article_count,
    }


def register(application: Application) -> None:
    """Wire /feeds."""
    application.add_handler(CommandHandler("feeds", feeds))
