"""/stats for operators (figures and a chart), /stats N (one article's reach), and deep-link opens counted."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import Application, CommandHandler, filters

from bot.arguments import parse_id
from bot.clock import in_istanbul
from bot.context import NewsbotContext
from bot.delivery.ratelimit import PAID_PER_SECOND, TelegramRateLimiter
from bot.sharing import parse_share_link
from bot.weather.provinces import PROVINCE_NAMES
from handlers.access import operators_only
from storage.database import StorageError

log = logging.getLogger(__name__)

TOP_SHARERS = 5
OPENS_GROUP = -50  # after the prelude (-100), before the features (0): it only counts, it never answers


@operators_only
async def stats(update: Update, context: NewsbotContext) -> None:
    """Operators get the numbers (top sharers' user ids among them), so only in their private chat."""
    if context.args:
        await article_reach(update, context)
        return
    overview = await context.store.stats.overview()
    limiter = context.bot.rate_limiter
    rate = limiter.current_rate() if isinstance(limiter, TelegramRateLimiter) else 0
    role = context.services.role
    await context.reply(
        update,
        "stats",
        stats=overview,
        rate=rate,
        paid=context.settings.paid_broadcast,
        limit=PAID_PER_SECOND if context.settings.paid_broadcast else context.settings.broadcast_rate,
        province_names=PROVINCE_NAMES,
        invited_subscribers=await context.store.referrals.invited_subscriber_count(),
        top_referrers=await context.store.referrals.top_referrers(TOP_SHARERS),
        instances=await role.overview() if role is not None else None,
    )
    charts = context.services.charts
    if charts is not None:
        await charts.send(context.bot, update.effective_chat.id, context.lang, context.render("stats_chart"))


async def article_reach(update: Update, context: NewsbotContext) -> None:
    """`/stats N`: how far article N got: its push, digests, deep-link opens and the friends it brought."""
    article_id = parse_id(context.args or [])
    if article_id is None:
        await context.reply(update, "stats_usage")
        return
    reach = await context.store.stats.article_reach(article_id)
    await context.reply(
        update,
        "stats_article",
        article_id=article_id,
        reach=reach,
        published=in_istanbul(reach.published_at) if reach is not None else None,
    )


async def count_article_open(update: Update, context: NewsbotContext) -> None:
    """`/start a12[-rCODE]`: a reader opened article 12 through a link (someone else's shared one?)."""
    link = parse_share_link(context.args or [])
    chat, user = update.effective_chat, update.effective_user
    if link is None or link.article_id is None or chat is None or user is None:
        return
    try:
        via_share = False
        if link.invite_code is not None:
            sharer = await context.store.referrals.referrer_for(link.invite_code)
            via_share = sharer is not None and sharer != user.id
        now = context.services.clock().timestamp()
        await context.store.stats.record_article_open(link.article_id, chat.id, via_share, now)
    except StorageError as error:  # a statistic: never worth failing the reader's /start over
        log.warning("article open not counted: %s", error)


def register(application: Application) -> None:
    """Wire /stats, and the counter of deep-link opens in its own group (it never stops /start)."""
    application.add_handler(CommandHandler("stats", stats))
    application.add_handler(
        CommandHandler("start", count_article_open, filters=filters.ChatType.PRIVATE), group=OPENS_GROUP
    )
