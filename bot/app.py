"""The composition root: production and tests build the bot with the same function."""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable

from telegram import LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationBuilder, ContextTypes, Defaults

from bot.commands import publish_command_menu
from bot.context import NewsbotContext, Services
from bot.delivery import DeliveryEngine, DeliveryOptions
from bot.delivery.botapi import BotApi
from bot.delivery.notices import operator_notice
from bot.delivery.ratelimit import TelegramRateLimiter
from bot.feed_polling import start_feed_polling, stop_feed_polling
from bot.instances import role_for
from bot.intake import ChatLanes, UserThrottle
from bot.maintenance import schedule_retention
from bot.photos import ArticlePhotos
from bot.readers.digests import digest_renderer
from bot.readers.jobs import schedule_reader_jobs
from bot.settings import Settings
from bot.stats.charts import StatsCharts, schedule_send_recording
from bot.transport import AiohttpRequest
from bot.weather.jobs import schedule_weather_jobs
from bot.weather.maps import WeatherMaps
from bot.weather.service import WeatherService
from storage import Store

log = logging.getLogger(__name__)

ALLOWED_UPDATES = [
    Update.MESSAGE,
    Update.CALLBACK_QUERY,
    Update.INLINE_QUERY,
    Update.MY_CHAT_MEMBER,
]  # no edited messages: an edited /post must not publish a second article

YOUNG_COLLECTION = 10_000  # allocations between young garbage collections (Python's default: 700)
UPDATE_WORKERS = 64  # updates working at once; a send waiting for the rate limiter does not count


def broadcast_share(rate: int) -> int:
    """Sends per window broadcasts keep however many readers talk: a sixth of the rate (30/s: 5)."""
    return min(max(1, rate // 6), rate // 2)


MARGIN_STEP = 0.01  # seconds of margin a window gains per 429 Telegram gives it (bot/delivery/ratelimit.py)
WIDEST_MARGIN = 0.1  # the most margin 429s add up to: 1000/s paid -> 909/s


def waiting_senders(settings: Settings) -> int | None:
    """Broadcast sends that may wait for their slot with a connection ready: a tenth of a second's worth.

    Enough that the limiter always has the next send at hand, few enough that a 30 msg/s broadcast does not
    keep a connection open for each of the engine's 128 senders (30/s: 8). Paid broadcasts (1,000/s) keep
    every sender's connection busy anyway, and skip the extra wait (None).
    """
    return None if settings.paid_broadcast else max(8, settings.broadcast_rate // 10)


def rate_limiter(settings: Settings, clock: Callable[[], float] = time.monotonic) -> TelegramRateLimiter:
    """The one pacing mechanism for replies and broadcasts, from the operator's settings."""
    return TelegramRateLimiter(
        overall_per_second=settings.broadcast_rate,
        # Our clock is not Telegram's: a request reaches it some milliseconds after we count it, and
        # not always equally late; counting each window as its length + send_margin (default 20 ms)
        # keeps us under every limit despite that jitter (30/s -> 29.4/s, paid 1000/s -> 980/s). Should
        # Telegram still answer 429 for a whole window, that window gets 10 ms more margin each time, up
        # to 100 ms. Readers need no reserved slots: they are always first in line for the next one,
        # except for the broadcasts' share.
        private_period=settings.private_chat_interval + settings.send_margin,
        group_period=60.0 + settings.send_margin,
        overall_period=1.0 + settings.send_margin,
        widen_on_flood=MARGIN_STEP,
        widest_period=1.0 + max(settings.send_margin, WIDEST_MARGIN),
        reader_reserve=0,
        smooth=True,
        broadcast_share=broadcast_share(settings.broadcast_rate),
        clock=clock,
    )


def update_processor(settings: Settings, clock: Callable[[], float] = time.monotonic) -> ChatLanes:
    """Per-chat lanes with the per-sender throttle; operators are never throttled."""
    throttle = None
    if settings.user_rate is not None:
        limit, period = settings.user_rate
        throttle = UserThrottle(
            limit, period, quiet=settings.user_quiet, exempt=settings.admin_ids, clock=clock
        )
    return ChatLanes(UPDATE_WORKERS, throttle=throttle)


def build_application(settings: Settings, *, request_pool_size: int = 256) -> Application:
    """Wire settings, transport, handlers and jobs; the database opens in post_init inside the loop."""
    if not settings.token:
        raise ValueError("build_application needs settings.token")
    import handlers  # local import: handlers depend on bot.context, which this module also provides

    application = (
        ApplicationBuilder()
        .token(settings.token)
        .base_url(settings.bot_api_url)
        .request(AiohttpRequest(connection_pool_size=request_pool_size))
        .get_updates_request(AiohttpRequest(connection_pool_size=2, read_timeout=40))
        .context_types(ContextTypes(context=NewsbotContext, bot_data=Services))
        .defaults(
            Defaults(parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True))
        )
        .rate_limiter(rate_limiter(settings))
        .concurrent_updates(update_processor(settings))
        .post_init(_post_init)
        .post_stop(_post_stop)
        .post_shutdown(_post_shutdown)
        .build()
    )
    application.bot_data.settings = settings
    handlers.register(application)
    return application


async def _post_init(application: Application) -> None:
    services: Services = application.bot_data
    assert services.settings is not None
    # NEWSBOT_DEFAULT_LANGUAGE (branch meta) is the language of articles stored without one; "tr" until then.
    default_language = getattr(services.settings, "default_language", "tr")
    services.store = await Store.open(services.settings.database, default_language=default_language)
    services.weather = WeatherService(
        services.store, services.renderer, services.settings.weather_api_url, clock=services.clock
    )
    services.weather_maps = WeatherMaps(services.store, services.renderer, clock=services.clock)
    services.charts = StatsCharts(services.store, services.renderer, clock=services.clock)
    services.photos = ArticlePhotos(services.store, services.settings.fetch_allow)
    limiter = application.bot.rate_limiter
    assert isinstance(limiter, TelegramRateLimiter)
    # Alone on SQLite; on PostgreSQL one of several instances: the sender sends broadcasts and runs the
    # jobs, and each instance's limiter holds its share of Telegram's global budget (bot/instances/).
    services.role = role_for(services.store.db, limiter, services.settings.broadcast_rate)
    await services.role.start()
    if application.job_queue is not None:
        schedule_weather_jobs(application.job_queue)
        schedule_retention(application.job_queue)
        schedule_reader_jobs(application.job_queue)
        schedule_send_recording(application.job_queue)
    await start_feed_polling(application)
    try:
        await publish_command_menu(application.bot, services.renderer, services.settings.admin_ids)
    except TelegramError as error:
        log.warning("could not publish the command menu: %s", error)
    settings = services.settings
    services.delivery = DeliveryEngine(
        BotApi(f"{settings.bot_api_url}{settings.token}", max_waiting=waiting_senders(settings)),
        limiter,
        services.store,
        services.renderer,
        DeliveryOptions(
            paid=settings.paid_broadcast,
        ),
        notify_operators=operator_notice(
            application.bot, services.store, services.renderer, settings.admin_ids
        ),
        clock=lambda: services.clock().timestamp(),
        photos=services.photos,
        role=services.role,
    )
    services.delivery.register_renderer("weather", services.weather.render_broadcast)
    services.delivery.register_renderer("digest", digest_renderer(services.store, services.renderer))
    services.delivery.register_renderer("weather_alert", services.weather.render_alert)
    await services.delivery.start()
    # Everything loaded so far lives until exit; freezing it keeps full garbage collections short, because a
    # 30 ms collection between counting a send and making it is exactly the jitter that breaks a window.
    gc.freeze()
    # A broadcast allocates a few dozen short-lived objects per send, and what a young collection walks is
    # what is alive then (the sends in flight), not what was allocated: collecting every 700 allocations
    # (Python's default) walked those a few times per message, and pushed them into the older generations.
    gc.set_threshold(YOUNG_COLLECTION, *gc.get_threshold()[1:])


async def _post_stop(application: Application) -> None:
    services: Services = application.bot_data
    if services.weather_maps is not None:
        await services.weather_maps.close()
    if services.delivery is not None:
        await services.delivery.stop()
    if services.role is not None:
        await services.role.stop()  # after the engine: its claims are given back first
    limiter = application.bot.rate_limiter
    if services.charts is not None and isinstance(limiter, TelegramRateLimiter):
        await services.charts.record_sends(limiter)  # the last minute's sends


async def _post_shutdown(application: Application) -> None:
    services: Services = application.bot_data
    if services.weather is not None:
        await services.weather.close()
        services.weather = None
    if services.photos is not None:
        await services.photos.close()
    await stop_feed_polling(application)
    if services.store is not None:
        await services.store.close()
        services.store = None
