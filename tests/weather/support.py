"""A local fake of Open-Meteo's forecast API, a clock tests can move, and an app started on that clock."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from aiohttp import web
from telegram.ext import Application

from bot.app import build_application
from bot.clock import ISTANBUL
from bot.settings import Settings
from bot.weather.alerts import FREEZING_RAIN_CODES, HEAVY_RAIN_CODES, HEAVY_SNOW_CODES, THUNDERSTORM_CODES
from bot.weather.codes import WMO_CODES
from bot.weather.provinces import PROVINCES
from tests.conftest import running

Mode = Literal["ok", "error", "hang", "garbage", "short", "not_json"]


class FakeClock:
    """A callable returning an aware UTC time that only moves when the test says so."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def set_istanbul(self, day: date, hhmm: str) -> None:
        """Jump to a wall-clock time in Istanbul."""
        hour, minute = (int(part) for part in hhmm.split(":"))
        self.now = datetime(day.year, day.month, day.day, hour, minute, tzinfo=ISTANBUL).astimezone(UTC)

    def advance(self, **delta: float) -> None:
        """Let time pass."""
        self.now += timedelta(**delta)


SEVERE_CODES = THUNDERSTORM_CODES | HEAVY_RAIN_CODES | HEAVY_SNOW_CODES | FREEZING_RAIN_CODES
MILD_CODES = tuple(code for code in WMO_CODES if code not in SEVERE_CODES)


def temperature_for(index: int) -> float:
    """The fake's daily maximum for the index-th requested location, so tests can check the order."""
    return 5.0 + (index % 30)


def current_temperature_for(index: int) -> float:
    """The fake's temperature now for the index-th location (never a day's maximum: tests tell them apart)."""
    return temperature_for(index) - 2.6


def code_for(index: int) -> int:
    """The fake's weather code for the index-th location: every mild code in turn, never severe weather."""
    return MILD_CODES[index % len(MILD_CODES)]


def index_of(plate: int) -> int:
    """Where a province stands in the bot's request (its coordinates' position)."""
    return next(i for i, province in enumerate(PROVINCES) if province.plate == plate)


class FakeOpenMeteo:
    """Answers like api.open-meteo.com/v1/forecast for many locations; counts requests; can misbehave.

    Only the requested `daily` and `current` variables are answered, as the real API does; an unknown one is
    a 400. By default nothing is severe; tests make it so with `set_day` and `set_now`.
    """

    DAILY = frozenset(
        {
            "temperature_2m_max",
            "temperature_2m_min",
            "weather_code",
            "precipitation_probability_max",
            "precipitation_sum",
            "wind_gusts_10m_max",
        }
    )
    CURRENT = frozenset({"temperature_2m", "weather_code"})

    def __init__(self, start_day: date, clock: Callable[[], datetime] | None = None) -> None:
        self.start_day = start_day
        self.clock = clock or (lambda: datetime.now(UTC))
        self.mode: Mode = "ok"
        self.hang_seconds = 30.0
        self.requests: list[dict[str, str]] = []
        self.daily_overrides: dict[tuple[int, date], dict[str, Any]] = {}
        self.current_overrides: dict[int, dict[str, Any]] = {}
        self._runner: web.AppRunner | None = None
        self.port = 0

    def set_day(self, plate: int, day: date, **values: Any) -> None:
        """From the next request on, a province's daily values for one day (e.g. weather_code=95)."""
        self.daily_overrides.setdefault((index_of(plate), day), {}).update(values)

    def set_now(self, plate: int, **values: Any) -> None:
        """From the next request on, a province's current values (temperature_2m, weather_code, time)."""
        self.current_overrides.setdefault(index_of(plate), {}).update(values)

    @property
    def url(self) -> str:
        """What NEWSBOT_WEATHER_API_URL would be."""
        return f"http://127.0.0.1:{self.port}/v1/forecast"

    async def __aenter__(self) -> FakeOpenMeteo:
        app = web.Application()
        app.router.add_get("/v1/forecast", self._forecast)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def _forecast(self, request: web.Request) -> web.StreamResponse:
        query = dict(request.query)
        self.requests.append(query)
        if self.mode == "hang":
            await asyncio.sleep(self.hang_seconds)
        if self.mode == "error":
            return web.json_response({"error": True, "reason": "Internal error"}, status=500)
        if self.mode == "not_json":
            return web.Response(text="<html>Bad gateway</html>", status=502, content_type="text/html")
        latitudes = [float(x) for x in query["latitude"].split(",")]
        longitudes = [float(x) for x in query["longitude"].split(",")]
        days = [self.start_day + timedelta(days=i) for i in range(int(query.get("forecast_days", "7")))]
        daily = [name for name in query.get("daily", "").split(",") if name]
        current = [name for name in query.get("current", "").split(",") if name]
        for name in (*daily, *current):
            if name not in self.DAILY | self.CURRENT:
                reason = f"Cannot initialize WeatherVariable from invalid String value {name}"
                return web.json_response({"error": True, "reason": reason}, status=400)
        entries: list[Any] = [
            self._entry(i, lat, lon, days, daily, current)
            for i, (lat, lon) in enumerate(zip(latitudes, longitudes, strict=True))
        ]
        if self.mode == "short":
            entries = entries[:-1]
        if self.mode == "garbage":
            entries[40]["daily"]["temperature_2m_max"][0] = "warm"
        return web.json_response(entries if len(entries) != 1 else entries[0])

    def _entry(
        self,
        index: int,
        latitude: float,
        longitude: float,
        days: list[date],
        daily_fields: list[str],
        current_fields: list[str],
    ) -> dict[str, Any]:
        high = temperature_for(index)
        values: dict[str, list[Any]] = {
            "time": [d.isoformat() for d in days],
            "temperature_2m_max": [high + i for i in range(len(days))],
            "temperature_2m_min": [high - 8.4 + i for i in range(len(days))],
            "weather_code": [code_for(index) for _ in days],
            "precipitation_probability_max": [(index * 7) % 101 for _ in days],
            "precipitation_sum": [round((index % 9) * 0.7, 1) for _ in days],
            "wind_gusts_10m_max": [20.0 + index % 40 for _ in days],
        }
        for i, day in enumerate(days):
            for name, value in self.daily_overrides.get((index, day), {}).items():
                values[name][i] = value
        entry: dict[str, Any] = {
            "latitude": round(latitude, 2) + 0.01,  # Open-Meteo snaps to its grid
            "longitude": round(longitude, 2) - 0.01,
            "generationtime_ms": 0.5,
            "utc_offset_seconds": 10800,
            "timezone": "Europe/Istanbul",
            "timezone_abbreviation": "GMT+3",
            "elevation": 100.0,
        }
        if current_fields:
            # The start of the current 15-minute slot, in the requested zone, without an offset.
            local = self.clock().astimezone(ISTANBUL)
            slot = local.replace(minute=local.minute - local.minute % 15, second=0, microsecond=0)
            now: dict[str, Any] = {
                "time": slot.strftime("%Y-%m-%dT%H:%M"),
                "interval": 900,
                "temperature_2m": current_temperature_for(index),
                "weather_code": code_for(index),
            }
            now.update(self.current_overrides.get(index, {}))
            entry["current_units"] = {"time": "iso8601", "interval": "seconds"} | {
                name: UNITS[name] for name in current_fields
            }
            entry["current"] = {key: now[key] for key in ("time", "interval", *current_fields)}
        if daily_fields:
            entry["daily_units"] = {"time": "iso8601"} | {name: UNITS[name] for name in daily_fields}
            entry["daily"] = {key: values[key] for key in ("time", *daily_fields)}
        return entry


UNITS = {
    "temperature_2m": "°C",
    "temperature_2m_max": "°C",
    "temperature_2m_min": "°C",
    "weather_code": "wmo code",
    "precipitation_probability_max": "%",
    "precipitation_sum": "mm",
    "wind_gusts_10m_max": "km/h",
}


class running_at(running):
    """`running`, with the application's clock replaced before post_init and the jobs see it."""

    def __init__(self, settings: Settings, clock: FakeClock) -> None:
        super().__init__(settings)
        self.clock = clock

    async def __aenter__(self) -> Application:
        self.application = build_application(self.settings)
        self.application.bot_data.clock = self.clock
        await self.application.initialize()
        if self.application.post_init:
            await self.application.post_init(self.application)
        await self.application.start()
        return self.application


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 30.0) -> Any:
    """Poll an async check until it is truthy (background jobs), or fail; the timeout only bounds a hang."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"still {result!r} after {timeout} s")
        await asyncio.sleep(0.02)
