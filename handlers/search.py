"""/search: full-text search over headlines and bodies, Turkish-aware."""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application, CommandHandler

from bot.context import NewsbotContext
from bot.text import cut_text
from bot.views import for_listing
from storage.articles import SearchTooCostly
from storage.fulltext import query_tokens

SEARCH_RESULTS = 5


async def search(update: Update, context: NewsbotContext) -> None:
    """Answer with the best matches, newest first among equals; odd queries get a hint, never an error."""
    query = " ".join(context.args or [])
    if not query_tokens(query):
        await context.reply(update, "search_usage")
        return
    try:
        found = await context.store.articles.find(query, limit=SEARCH_RESULTS)
    except SearchTooCostly:
        await context.reply(update, "search_too_costly", query=cut_text(query, 100))
        return
    if not found.articles:
        await context.reply(update, "search_none", query=cut_text(query, 100))
        return
    shown = for_listing(found.articles)
    await context.reply(update, "search_results", articles=shown, found=found, query=cut_text(query, 100))


def register(application: Application) -> None:
    """Wire /search."""
    application.add_handler(CommandHandler("search", search))
