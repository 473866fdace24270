"""Daily forecasts for the 81 provinces: fetched in one request, stored, rendered and queued each morning."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from datetime import date, datetime, timedelta

import aiohttp

from bot.clock import in_istanbul, utc_now
from bot.render import Renderer
from bot.views import RenderedMessage
from bot.weather.buttons import map_keyboard
from bot.weather.codes import weather_emoji
from bot.weather.openmeteo import OpenMeteoError, fetch_forecasts
from bot.weather.provinces import PROVINCES, Province, by_plate
from storage import Store
from storage.models import Forecast

log = logging.getLogger(__name__)

REFRESH_EVERY = timedelta(hours=3)
STALE_AFTER = timedelta(hours=4)  # older than this, a forecast says how old it is
BACKOFF_FIRST = timedelta(minutes=1)
BACKOFF_MAX = timedelta(hours=1)
REQUEST_TIMEOUT = 20.0  # seconds; jobs must stay short, shutdown waits for them
_REF = re.compile(r"([0-9]{1,2}):([0-9]{4}-[0-9]{2}-[0-9]{2})")


class WeatherService:
    """Owns the Open-Meteo session, the refresh schedule's backoff, and every weather message."""

    def __init__(
        self,
        store: Store,
        renderer: Renderer,
        api_url: str,
        *,
        clock: Callable[[], datetime] = utc_now,
        timeout: float = REQUEST_TIMEOUT,
    ) -> None:
        self.store = store
        self.renderer = renderer
        self.api_url = api_url
        self.clock = clock
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._lock = asyncio.Lock()
        self._failures = 0
        self._next_attempt: datetime | None = None
        self._rendered: dict[tuple[str, str], tuple[tuple[datetime, int | None], RenderedMessage]] = {}

    async def close(self) -> None:
        """Release the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def local_now(self) -> datetime:
        """Now in Istanbul, where readers' push times and forecast days live."""
        return in_istanbul(self.clock())

    # --- fetching ------------------------------------------------------------------------------

    async def refresh_if_due(self) -> bool:
        """Fetch when today's forecasts are missing or older than REFRESH_EVERY, unless backing off."""
        async with self._lock:
            now = self.clock()
            if self._next_attempt is not None and now < self._next_attempt:
                return False
            count, oldest = await self.store.weather.oldest_fetch_for(in_istanbul(now).date())
            if count == len(PROVINCES) and oldest is not None and now - oldest < REFRESH_EVERY:
                return False
            return await self._refresh(now)

    async def _refresh(self, now: datetime) -> bool:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            forecasts = await fetch_forecasts(
                self._session, self.api_url, PROVINCES, now, timeout=self.timeout
            )
        except OpenMeteoError as error:
            self._failures += 1
            delay = min(BACKOFF_FIRST * 2 ** (self._failures - 1), BACKOFF_MAX)
            self._next_attempt = now + delay
            log.warning(
                "weather refresh failed (%d in a row, next try in %s): %s", self._failures, delay, error
            )
            return False
        await self.store.weather.save_forecasts(forecasts, keep_from=in_istanbul(now).date() - timedelta(1))
        self._failures, self._next_attempt = 0, None
        log.info("weather refreshed: %d daily forecasts for %d provinces", len(forecasts), len(PROVINCES))
        return True

    # --- messages ------------------------------------------------------------------------------

    async def forecast_message(self, province: Province, lang: str) -> RenderedMessage:
        """Today's forecast for /weather, with its age when stale, or a clear "not available"."""
        today = self.local_now().date()
        forecast = await self.store.weather.forecast(province.plate, today)
        if forecast is None:
            return RenderedMessage(self.renderer.message(lang, "weather_unavailable", province=province.name))
        return self._render(forecast, lang)

    async def render_broadcast(self, ref: str, lang: str) -> RenderedMessage | None:
        """The delivery engine's renderer for kind "weather" (ref "plate:YYYY-MM-DD"); None if unservable."""
        # Rendered once per province, day and language while the stored forecast stays the same.
        parsed = _parse_ref(ref)
        if parsed is None:
            log.warning("weather broadcast with a malformed ref %r", ref)
            return None
        forecast = await self.store.weather.forecast(*parsed)
        if forecast is None:
            log.warning("weather broadcast %s: no forecast stored for that day", ref)
            return None
        version = (forecast.fetched_at, self._age_hours(forecast))  # a stale note must not be cached away
        cached = self._rendered.get((ref, lang))
        if cached is not None and cached[0] == version:
            return cached[1]
        if len(self._rendered) > 4 * len(PROVINCES):
            self._rendered.clear()
        message = self._render(forecast, lang)
        self._rendered[(ref, lang)] = (version, message)
        return message

    def _render(self, forecast: Forecast, lang: str) -> RenderedMessage:
        province = by_plate(forecast.plate)
        assert province is not None
        code = forecast.weather_code
        text = self.renderer.message(
            lang,
            "weather",
            province=province.name,
            day=forecast.day,
            emoji=weather_emoji(code),
            description=self.renderer.label(lang, "wmo", code),
            high=_degrees(forecast.temp_max),
            low=_degrees(forecast.temp_min),
            rain=forecast.precipitation_probability,
            age_hours=self._age_hours(forecast),
        )
        return RenderedMessage(text, map_keyboard(self.renderer, lang, province.plate))

    def _age_hours(self, forecast: Forecast) -> int | None:
        """Hours since the fetch once a forecast is stale, so readers see how old it is."""
        age = self.clock() - forecast.fetched_at
        return int(age.total_seconds() // 3600) if age >= STALE_AFTER else None

    # --- the morning push ----------------------------------------------------------------------

    async def enqueue_due(self) -> dict[int, int]:
        """Queue today's forecast for readers whose time has come; safe to call every minute."""
        queued = await self.store.weather.enqueue_due(self.local_now())
        if queued:
            log.info("weather push queued for %d readers in %d provinces", sum(queued.values()), len(queued))
        return queued


def _parse_ref(ref: str) -> tuple[int, date] | None:
    match = _REF.fullmatch(ref)
    if match is None or by_plate(int(match.group(1))) is None:
        return None
    try:
        return int(match.group(1)), date.fromisoformat(match.group(2))
    except ValueError:
        return None


def _degrees(value: float | None) -> int | None:
    return None if value is None else round(value)
