"""The 81 provinces' weather: fetched in one request, stored, rendered, pushed, and alerted when severe."""

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
from bot.weather.alerts import all_findings, parse_alert_ref
from bot.weather.buttons import map_keyboard
from bot.weather.codes import weather_emoji
from bot.weather.openmeteo import OpenMeteoError, fetch_weather
from bot.weather.provinces import PROVINCES, Province, by_plate
from storage import Store
from storage.database import StorageError
from storage.models import CurrentConditions, Forecast, WeatherAlert
from storage.weather import QueuedAlert

log = logging.getLogger(__name__)

REFRESH_EVERY = timedelta(hours=3)
STALE_AFTER = timedelta(hours=4)  # older than this, a forecast says how old it is
CURRENT_STALE_AFTER = timedelta(hours=3)  # older than this, conditions "now" say how old they are
# Conditions reaching CURRENT_STALE_AFTER are refreshed (Open-Meteo's current.time is the start of its
# 15-minute slot, so they age a little faster than the fetch), but never more often than this.
CURRENT_REFRESH_GAP = timedelta(hours=1)
OUTLOOK_DAYS = 3  # /weather: today and the next two days
ALERT_DAYS = 2  # alerts: today and tomorrow
NOTABLE_GUSTS = 50.0  # km/h; /weather mentions gusts from here on
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
        # Findings of the stored forecast are (re)checked at start and after a refresh, until queued.
        self._alerts_pending = True

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
        """Fetch when today's forecasts or the conditions now are missing or old, unless backing off.

        After a refresh (and once at start) the stored forecast's severe weather is alerted.
        """
        async with self._lock:
            now = self.clock()
            refreshed = False
            backing_off = self._next_attempt is not None and now < self._next_attempt
            if not backing_off and await self._due(now):
                refreshed = await self._refresh(now)
            if self._alerts_pending:
                await self._raise_alerts()
            return refreshed

    async def _due(self, now: datetime) -> bool:
        count, oldest = await self.store.weather.oldest_fetch_for(in_istanbul(now).date())
        if count < len(PROVINCES) or oldest is None or now - oldest >= REFRESH_EVERY:
            return True
        current = await self.store.weather.current_freshness()
        observed, fetched = current.oldest_observed, current.oldest_fetched
        if current.count < len(PROVINCES) or observed is None or fetched is None:
            return True
        return now - observed >= CURRENT_STALE_AFTER and now - fetched >= CURRENT_REFRESH_GAP

    async def _refresh(self, now: datetime) -> bool:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            report = await fetch_weather(self._session, self.api_url, PROVINCES, now, timeout=self.timeout)
        except OpenMeteoError as error:
            self._failures += 1
            delay = min(BACKOFF_FIRST * 2 ** (self._failures - 1), BACKOFF_MAX)
            self._next_attempt = now + delay
            log.warning(
                "weather refresh failed (%d in a row, next try in %s): %s", self._failures, delay, error
            )
            return False
        await self.store.weather.save_forecasts(
            report.forecasts, keep_from=in_istanbul(now).date() - timedelta(1), current=report.current
        )
        self._failures, self._next_attempt = 0, None
        self._alerts_pending = True
        log.info(
            "weather refreshed: %d daily forecasts and %d current conditions for %d provinces",
            len(report.forecasts),
            len(report.current),
            len(PROVINCES),
        )
        return True

    # --- severe-weather alerts -----------------------------------------------------------------

    async def _raise_alerts(self) -> list[QueuedAlert]:
        """Queue an alert for every finding in today's and tomorrow's forecast not alerted before."""
        local = self.local_now()
        days = [local.date() + timedelta(days=i) for i in range(ALERT_DAYS)]
        try:
            forecasts = await self.store.weather.forecasts_on(days)
            queued = await self.store.weather.raise_alerts(
                all_findings(forecasts), minute=local.hour * 60 + local.minute
            )
        except StorageError as error:  # full disk, lock held too long: the next minute tries again
            log.warning("weather alerts not queued yet: %s", error)
            return []
        self._alerts_pending = False
        for alert in queued:
            log.info(
                "weather alert %s queued for %d readers (%d silent, in their quiet hours)",
                alert.ref,
                alert.readers,
                alert.silent,
            )
        return queued

    async def render_alert(self, ref: str, lang: str) -> RenderedMessage | None:
        """The delivery engine's renderer for kind "weather_alert"; None once the day is past."""
        parsed = parse_alert_ref(ref)
        if parsed is None:
            log.warning("weather alert with a malformed ref %r", ref)
            return None
        today = self.local_now().date()
        if parsed.day < today:
            return None  # delivered too late to be of use
        recorded = {
            alert.kind: alert
            for alert in await self.store.weather.alerts(parsed.plate, parsed.day, parsed.kinds)
        }
        alerts = [recorded[kind] for kind in parsed.kinds if kind in recorded]
        if not alerts:
            log.warning("weather alert %s: no findings recorded", ref)
            return None
        province = by_plate(parsed.plate)
        assert province is not None
        text = self.renderer.message(
            lang,
            "weather_alert",
            province=province.name,
            day=parsed.day,
            relative=(parsed.day - today).days,
            alerts=[_alert_view(alert) for alert in alerts],
        )
        return RenderedMessage(text)

    # --- messages ------------------------------------------------------------------------------

    async def forecast_message(self, province: Province, lang: str) -> RenderedMessage:
        """/weather: now, today and the next two days, each with its age when stale, or "not available"."""
        today = self.local_now().date()
        days = await self.store.weather.forecasts(
            province.plate, today, today + timedelta(days=OUTLOOK_DAYS - 1)
        )
        if not days or days[0].day != today:
            return RenderedMessage(self.renderer.message(lang, "weather_unavailable", province=province.name))
        current = await self.store.weather.current(province.plate)
        text = self.renderer.message(
            lang,
            "weather_outlook",
            province=province.name,
            now=None if current is None else self._now_view(current, lang),
            days=[self._day_view(forecast, today, lang) for forecast in days],
            age_hours=self._age_hours(days[0]),
        )
        return RenderedMessage(text, map_keyboard(self.renderer, lang, province.plate))

    def _now_view(self, current: CurrentConditions, lang: str) -> dict[str, object] | None:
        """The conditions now for the template; None when Open-Meteo gave no temperature."""
        if current.temperature is None:
            return None
        age = self.clock() - current.observed_at
        return {
            "emoji": weather_emoji(current.weather_code),
            "temperature": round(current.temperature),
            "description": _lower_first(self.renderer.label(lang, "wmo", current.weather_code), lang),
            "time": in_istanbul(current.observed_at).strftime("%H:%M"),
            "age_hours": int(age.total_seconds() // 3600) if age > CURRENT_STALE_AFTER else None,
        }

    def _day_view(self, forecast: Forecast, today: date, lang: str) -> dict[str, object]:
        gusts = forecast.wind_gusts_max
        amount = forecast.precipitation_sum
        return {
            "day": forecast.day,
            "relative": (forecast.day - today).days,
            "emoji": weather_emoji(forecast.weather_code),
            "description": _lower_first(self.renderer.label(lang, "wmo", forecast.weather_code), lang),
            "high": _degrees(forecast.temp_max),
            "low": _degrees(forecast.temp_min),
            "rain": forecast.precipitation_probability,
            "amount": round(amount) if amount is not None and amount >= 0.5 else None,
            "gusts": round(gusts) if gusts is not None and gusts >= NOTABLE_GUSTS else None,
        }

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


def _lower_first(words: str, lang: str) -> str:
    """ "Partly cloudy" -> "partly cloudy" after "now 18 °C, "; Turkish dotted and dotless I kept apart."""
    if not words:
        return words
    first = words[0]
    lowered = {"I": "ı", "İ": "i"}.get(first, first.lower()) if lang == "tr" else first.lower()
    return lowered + words[1:]


def _alert_view(alert: WeatherAlert) -> dict[str, object]:
    value = alert.value
    return {
        "kind": alert.kind,
        "value": None if value is None else round(value),
        "hail": alert.kind == "thunderstorm" and value in (96, 99),
    }
