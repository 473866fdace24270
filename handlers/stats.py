"""/stats for operators: audience, articles, the outbox of the last day and the current send rate."""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application, CommandHandler

from bot.context import NewsbotContext
from bot.delivery.ratelimit import TelegramRateLimiter
from bot.weather.provinces import PROVINCE_NAMES
from handlers.access import operators_only

TOP_SHARERS = 5


@operators_only
async def stats(update: Update, context: NewsbotContext) -> None:
    """Operators get the numbers (top sharers' user ids among them), so only in their private chat."""
    overview = await context.store.stats.overview()
    limiter = context.bot.rate_limiter
    rate = limiter.current_rate() if isinstance(limiter, TelegramRateLimiter) else 0
    await context.reply(
        update,
        "stats",
        stats=overview,
        rate=rate,
        paid=context.settings.paid_broadcast,
        limit=1000 if context.settings.paid_broadcast else context.settings.broadcast_rate,
        province_names=PROVINCE_NAMES,
        invited_subscribers=await context.store.referrals.invited_subscriber_count(),
        top_referrers=await context.store.referrals.top_referrers(TOP_SHARERS),
    )


def register(application: Application) -> None:
    """Wire /stats."""
    application.add_handler(CommandHandler("stats", stats))
