"""The feed-polling job on PTB's JobQueue: a thin tick that starts a cycle unless one still runs."""

from __future__ import annotations

from telegram.ext import Application

from bot.context import NewsbotContext, Services
from bot.ingest import FeedPoller, IngestLimits
from bot.instances import sender_only

POLLER = "feed_poller"  # key in Services.extras
FIRST_POLL_AFTER = 10.0  # seconds after start, so a restart picks up news soon


def poller_of(services: Services) -> FeedPoller | None:
    """The running bot's poller (None before post_init or after shutdown)."""
    return services.extras.get(POLLER)


async def start_feed_polling(application: Application) -> None:
    """Create the poller with its HTTP client and schedule the job every NEWSBOT_FEED_INTERVAL seconds."""
    services: Services = application.bot_data
    assert services.settings is not None and services.store is not None
    interval = services.settings.feed_interval
    limits = IngestLimits()
    services.extras[POLLER] = FeedPoller(
        services.store,
        FeedPoller.open_session(limits, services.settings.fetch_allow),
        interval=interval,
        limits=limits,
    )
    application.job_queue.run_repeating(  # several instances: the sender polls (bot/instances/)
        sender_only(_tick), interval=interval, first=min(interval, FIRST_POLL_AFTER), name="feed-poll"
    )


async def stop_feed_polling(application: Application) -> None:
    """Cancel a running cycle and close the HTTP client before the store closes."""
    poller = application.bot_data.extras.pop(POLLER, None)
    if poller is not None:
        await poller.stop()
        await poller.session.close()


async def _tick(context: NewsbotContext) -> None:
    poller = poller_of(context.services)
    if poller is not None:
        poller.start_cycle()
