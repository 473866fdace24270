"""The weather's JobQueue jobs: thin, idempotent, all state in the database."""

from __future__ import annotations

from telegram.ext import JobQueue

from bot.context import NewsbotContext
from bot.instances import sender_only

REFRESH_JOB = "weather-refresh"
PUSH_JOB = "weather-push"
EVERY_MINUTE = 60.0


async def refresh_forecasts(context: NewsbotContext) -> None:
    """Fetch the 81 forecasts if today's are missing or old; the service decides and backs off."""
    if context.services.weather is not None:
        await context.services.weather.refresh_if_due()
    if context.services.weather_maps is not None:  # draws only when the map's data changed
        await context.services.weather_maps.prepare()


async def push_forecasts(context: NewsbotContext) -> None:
    """Queue the morning forecast for every reader whose time has come and who has not had it today."""
    if context.services.weather is not None:
        await context.services.weather.enqueue_due()
    if context.services.weather_maps is not None:  # the map after the text, for readers who chose it
        context.services.weather_maps.push_due(context.bot)


def schedule_weather_jobs(job_queue: JobQueue) -> None:
    """Both jobs run once at start (catch-up after downtime) and then every minute."""
    for callback, name in ((refresh_forecasts, REFRESH_JOB), (push_forecasts, PUSH_JOB)):
        # A repeating job cannot start at once (APScheduler), and a one-off scheduled before the scheduler
        # starts must not count as "missed": no misfire grace limit.
        job = sender_only(callback)  # several instances: the sender runs it (bot/instances/)
        job_queue.run_once(job, when=0, name=name, job_kwargs={"misfire_grace_time": None})
        job_queue.run_repeating(job, interval=EVERY_MINUTE, first=EVERY_MINUTE, name=name)
