"""Inline mode: "@bot words" in any chat offers article cards to send; every query gets an answer."""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application, InlineQueryHandler

from bot.arguments import parse_id, parse_offset
from bot.context import NewsbotContext
from bot.sharing import ShareLink, deep_link, inline_card
from storage import Store
from storage.articles import SearchTooCostly
from storage.models import Article

PAGE_SIZE = 20
MAX_OFFSET = 1000  # 50 pages: nobody scrolls further, and OFFSET stays cheap
CACHE_SECONDS = 30


async def inline_query(update: Update, context: NewsbotContext) -> None:
    """Latest articles for an empty query, an article for "12" or "#12", a search for words."""
    query = update.inline_query
    offset = parse_offset(query.offset, maximum=MAX_OFFSET)
    articles = [] if offset is None else await find_articles(context.store, query.query, offset)
    code = await context.store.referrals.code_for(query.from_user.id)
    results = [
        inline_card(
            context.renderer,
            context.lang,
            article,
            deep_link(context.bot.username, ShareLink(article.id, code)),
        )
        for article in articles
    ]
    more = offset is not None and len(articles) == PAGE_SIZE and offset + PAGE_SIZE <= MAX_OFFSET
    await query.answer(
        results,
        cache_time=CACHE_SECONDS,
        is_personal=True,  # the deep links carry the sharer's invite code
        # None, not "": with Defaults set, PTB 22.8 sends "" as "[]" (an empty list of poll options)
        next_offset=str(offset + PAGE_SIZE) if more else None,
    )


async def find_articles(store: Store, text: str, offset: int) -> list[Article]:
    """One page of articles for what was typed after the bot's name."""
    text = text.strip()
    if not text:
        return await store.articles.latest(PAGE_SIZE, offset)
    article_id = parse_id([text])
    if article_id is not None:
        found = await store.articles.get(article_id) if offset == 0 else None
        return [found] if found and not found.withdrawn else []
    try:
        return await store.articles.search(text, limit=PAGE_SIZE, offset=offset)
    except SearchTooCostly:  # too costly to answer now: no cards, the reader types on
        return []


def register(application: Application) -> None:
    """Wire inline queries (switched on for the bot with @BotFather's /setinline)."""
    application.add_handler(InlineQueryHandler(inline_query))
