"""/latest and /article: reading the store."""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application, CommandHandler

from bot.arguments import parse_count, parse_id
from bot.context import NewsbotContext
from bot.views import FULL_TEXT_LIMIT, render_article, render_article_list

LATEST_MAX = 10


async def latest(update: Update, context: NewsbotContext) -> None:
    """The newest article in full, or a compact list of the N newest."""
    count = parse_count(context.args or [], default=1, maximum=LATEST_MAX)
    if count is None:
        await context.reply(update, "latest_usage", max=LATEST_MAX)
        return
    articles = await context.store.articles.latest(count)
    if not articles:
        await context.reply(update, "no_articles")
    elif count == 1:
        await context.send(update, render_article(context.renderer, context.lang, articles[0]))
    else:
        await context.send(update, render_article_list(context.renderer, context.lang, articles))


async def article(update: Update, context: NewsbotContext) -> None:
    """One article by id."""
    article_id = parse_id(context.args or [])
    if article_id is None:
        await context.reply(update, "article_usage")
        return
    found = await context.store.articles.get(article_id)
    if found is None:
        await context.reply(update, "article_not_found", article_id=article_id)
        return
    if found.withdrawn:
        await context.reply(update, "article_withdrawn")
        return
    await context.send(
        update, render_article(context.renderer, context.lang, found, teaser_limit=FULL_TEXT_LIMIT)
    )


def register(application: Application) -> None:
    """Wire the reading commands."""
    application.add_handler(CommandHandler("latest", latest))
    application.add_handler(CommandHandler("article", article))
