"""/feeds for operators: list the feeds, add one (fetched once right away) or change one, remove one."""

from __future__ import annotations

from datetime import UTC, datetime

from telegram import Update
from telegram.ext import Application, CommandHandler

from bot.arguments import ArticleOptions, OptionError, parse_feeds
from bot.clock import in_istanbul
from bot.context import NewsbotContext
from bot.feed_polling import poller_of
from bot.ingest import feed_key
from bot.news.sections import SECTION_LABEL_MAX, section_name
from bot.text import MESSAGE_LIMIT, visible_len
from handlers.access import operators_only
from storage.models import Feed, FeedStatus, Section

FEEDS_PER_MESSAGE = 8  # at most; fewer when long URLs, titles and errors would pass 4096 characters


@operators_only
async def feeds(update: Update, context: NewsbotContext) -> None:
    """Dispatch /feeds, /feeds add URL [options], /feeds remove URL."""
    message = update.effective_message
    command = parse_feeds(message.text or "") if message is not None else None
    if isinstance(command, OptionError):
        await context.reply(update, "option_refused", error=command, label_max=SECTION_LABEL_MAX, post=False)
    elif command is None:
        await context.reply(update, "feeds_usage", empty=False)
    elif command.action == "list":
        await _list(update, context)
    elif (key := feed_key(command.url)) is None:
        await context.reply(update, "feeds_bad_url", url=command.url[:200])
    elif command.action == "add":
        await _add(update, context, command.url, key, command.options)
    else:
        removed = await context.store.feeds.remove(key)
        await context.reply(update, "feed_removed", url=command.url[:200], removed=removed)


async def _list(update: Update, context: NewsbotContext) -> None:
    statuses = await context.store.feeds.statuses()
    if not statuses:
        await context.reply(update, "feeds_usage", empty=True)
        return
    rows, total, first = [_row(status) for status in statuses], len(statuses), True
    while rows:
        count = min(len(rows), FEEDS_PER_MESSAGE)
        while count > 1 and not _fits(context, rows[:count], first=first, total=total):
            count -= 1  # the longest URLs, titles, sections and errors: fewer feeds in this message
        await context.reply(update, "feeds_list", feeds=rows[:count], first=first, total=total)
        rows, first = rows[count:], False


def _fits(context: NewsbotContext, rows: list[dict[str, object]], *, first: bool, total: int) -> bool:
    text = context.render("feeds_list", feeds=rows, first=first, total=total)
    return visible_len(text) <= MESSAGE_LIMIT


async def _add(update: Update, context: NewsbotContext, url: str, key: str, options: ArticleOptions) -> None:
    poller = poller_of(context.services)
    if poller is None:
        await context.reply(update, "error")
        return
    added = await poller.add_feed(url, key, options)
    outcome = added.outcome
    await context.reply(
        update,
        "feed_added",
        url=added.feed.url[:200],
        created=added.created,
        error=outcome.error if outcome else None,
        new_articles=outcome.new_articles if outcome else 0,
        options_given=options.given,
        changed=added.changed,
        **_options(added.feed, added.section),
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
        **_options(feed, status.section),
    }


def _options(feed: Feed, section: Section | None) -> dict[str, object]:
    return {
        "language": feed.language,
        "section": section_name(section) if section else str(feed.section_id),
        "breaking": feed.breaking,
    }


def register(application: Application) -> None:
    """Wire /feeds."""
    application.add_handler(CommandHandler("feeds", feeds))
