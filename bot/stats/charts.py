"""The /stats chart, drawn at most once a minute, and the per-hour send counts it shows.

- **The chart** reads a few aggregates (30 days of subscriber events, 48 hours of send counts, the
  broadcasts in progress), draws them in a worker thread and keeps the PNG for a minute per language; the
  first send uploads it, the others in that minute pass its file_id.
- **Send counts**: the rate limiter counts every message it lets out (replies and broadcasts) and every 429
  since the process started; once a minute (and when the bot stops) the growth is added to the hour's row
  in send_hours. A crash loses at most the last minute's counts.
- **Subscriber events** are written by triggers in the database (migration 0017), nothing to do here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from telegram import Bot, InputFile, Message
from telegram.constants import ParseMode
from telegram.ext import JobQueue

from bot.clock import ISTANBUL, in_istanbul, utc_now
from bot.context import NewsbotContext
from bot.delivery.ratelimit import TelegramRateLimiter
from bot.render import Renderer
from bot.stats.chart import ChartData, render_chart
from storage import Store
from storage.database import StorageError

log = logging.getLogger(__name__)

CACHE_SECONDS = 60.0
DAYS = 30
HOURS = 48
BROADCASTS_SHOWN = 3
RECORD_JOB = "stats-record-sends"
RECORD_EVERY = 60.0
LABELS = (
    "title", "subscribers", "per_day", "joined", "left", "blocked", "active", "active_now", "not_recorded",
    "sends", "sent", "flood", "totals", "broadcasts", "no_broadcast", "filling", "progress", "article",
    "weather",
)  # fmt: skip
_KINDS = {"joined": 0, "left": 1, "blocked": 2}

RenderChart = Callable[[ChartData, Mapping[str, str]], bytes]


@dataclass
class _Drawn:
    drawn_at: datetime
    png: bytes
    file_id: str | None = None


class StatsCharts:
    """Gathers the chart's data, draws it in a thread (counted in `renders`), caches it for a minute."""

    def __init__(
        self,
        store: Store,
        renderer: Renderer,
        *,
        clock: Callable[[], datetime] = utc_now,
        render: RenderChart = render_chart,
    ) -> None:
        self.store = store
        self.renderer = renderer
        self.clock = clock
        self._render = render
        self.renders = 0
        self._drawn: dict[str, _Drawn] = {}
        self._lock = asyncio.Lock()
        self._counted = (0, 0)  # limiter counters (sends, 429s) already added to send_hours

    def labels(self, lang: str) -> dict[str, str]:
        """The chart's texts in one language (labels.html, chart_*)."""
        return {name: self.renderer.label(lang, f"chart_{name}") for name in LABELS}

    async def send(self, bot: Bot, chat_id: int, lang: str, caption: str) -> Message:
        """Send the chart: drawn now if the last one is a minute old, else the same picture by file_id."""
        async with self._lock:
            now = self.clock()
            drawn = self._drawn.get(lang)
            if drawn is None or (now - drawn.drawn_at).total_seconds() >= CACHE_SECONDS:
                data = await self.chart_data()
                png = await asyncio.to_thread(self._render, data, self.labels(lang))
                self.renders += 1
                drawn = self._drawn[lang] = _Drawn(now, png)
            photo = drawn.file_id or InputFile(drawn.png, filename="newsbot-stats.png")
            message = await bot.send_photo(chat_id, photo, caption=caption, parse_mode=ParseMode.HTML)
            if drawn.file_id is None:
                drawn.file_id = message.photo[-1].file_id
            return message

    async def chart_data(self) -> ChartData:
        """Bucket the database's history into Istanbul days and hours."""
        now = self.clock()
        local = in_istanbul(now)
        days = [local.date() - timedelta(days=DAYS - 1 - i) for i in range(DAYS)]
        index = {day: i for i, day in enumerate(days)}
        counts = [[0] * DAYS for _ in _KINDS]
        stats = self.store.stats
        for hour, kind, count in await stats.chat_events_by_hour(_day_start(days[0])):
            day = in_istanbul(datetime.fromtimestamp(hour, UTC)).date()
            if day in index and kind in _KINDS:
                counts[_KINDS[kind]][index[day]] += count
        joined, left, blocked = counts
        active = [0] * DAYS
        active[-1] = await stats.active_count()
        for i in range(DAYS - 1, 0, -1):  # the day before ended with this day's changes undone
            active[i - 1] = active[i] - joined[i] + left[i] + blocked[i]
        since = await stats.recording_since()
        this_hour = int(now.timestamp() // 3600) * 3600
        hour_starts = [this_hour - (HOURS - 1 - i) * 3600 for i in range(HOURS)]
        sends = await stats.send_hours(hour_starts[0])
        return ChartData(
            drawn_at=local,
            days=days,
            joined=joined,
            left=left,
            blocked=blocked,
            active=active,
            days_recorded_from=_before(since, [_day_start(d + timedelta(days=1)) for d in days]),
            hours=[in_istanbul(datetime.fromtimestamp(h, UTC)) for h in hour_starts],
            sent=[sends.get(h, (0, 0))[0] for h in hour_starts],
            flood=[sends.get(h, (0, 0))[1] for h in hour_starts],
            hours_recorded_from=_before(since, [h + 3600 for h in hour_starts]),
            broadcasts=await stats.broadcasts_in_progress(BROADCASTS_SHOWN),
        )

    async def record_sends(self, limiter: TelegramRateLimiter) -> None:
        """Add the sends and 429s counted since the last call to this hour's row."""
        counters = limiter.counters
        sent = counters["reader_sends"] + counters["broadcast_sends"] + counters["paid_sends"]
        flood = counters["retry_after"]
        grown = (sent - self._counted[0], flood - self._counted[1])
        if grown == (0, 0):
            return
        try:
            await self.store.stats.add_send_counts(self.clock().timestamp(), *grown)
        except StorageError as error:  # counted again, with what comes meanwhile, next time
            log.warning("send counts not recorded: %s", error)
            return
        self._counted = (sent, flood)


def _day_start(day: date) -> float:
    return datetime.combine(day, time(0, 0), ISTANBUL).timestamp()


def _before(since: float | None, ends: list[float]) -> int:
    """How many slots (by their end) lie wholly before recording started."""
    if since is None:
        return len(ends)
    return sum(1 for end in ends if end <= since)


async def record_sends(context: NewsbotContext) -> None:
    """Job: the limiter's counts into send_hours."""
    charts, limiter = context.services.charts, context.bot.rate_limiter
    if charts is not None and isinstance(limiter, TelegramRateLimiter):
        await charts.record_sends(limiter)


def schedule_send_recording(job_queue: JobQueue) -> None:
    """Record the send counts every minute."""
    job_queue.run_repeating(record_sends, interval=RECORD_EVERY, first=RECORD_EVERY, name=RECORD_JOB)
