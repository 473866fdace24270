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
from bot.weather.codes import WMO_CODES
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


def temperature_for(index: int) -> float:
    """The fake's daily maximum for the index-th requested location, so tests can check the order."""
    return 5.0 + (index % 30)


class FakeOpenMeteo:
    """Answers like api.open-meteo.com/v1/forecast for many locations; counts requests; can misbehave."""

    def __init__(self, start_day: date) -> None:
        self.start_day = start_day
        self.mode: Mode = "ok"
        self.hang_seconds = 30.0
        self.requests: list[dict[str, str]] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

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
        entries: list[Any] = [
            self._entry(i, lat, lon, days)
            for i, (lat, lon) in enumerate(zip(latitudes, longitudes, strict=True))
        ]
        if self.mode == "short":
            entries = entries[:-1]
        if self.mode == "garbage":
            entries[40]["daily"]["temperature_2m_max"][0] = "warm"
        return web.json_response(entries if len(entries) != 1 else entries[0])

    @staticmethod
    def _entry(index: int, latitude: float, longitude: float, days: list[date]) -> dict[str, Any]:
        high = temperature_for(index)
        return {
            "latitude": round(latitude, 2) + 0.01,  # Open-Meteo snaps to its grid
            "longitude": round(longitude, 2) - 0.01,
            "generationtime_ms": 0.5,
            "utc_offset_seconds": 10800,
            "timezone": "Europe/Istanbul",
            "timezone_abbreviation": "GMT+3",
            "elevation": 100.0,
            "daily_units": {"time": "iso8601", "temperature_2m_max": "°C"},
            "daily": {
                "time": [d.isoformat() for d in days],
                "temperature_2m_max": [high + i for i in range(len(days))],
                "temperature_2m_min": [high - 8.4 + i for i in range(len(days))],
                "weather_code": [WMO_CODES[index % len(WMO_CODES)] for _ in days],
                "precipitation_probability_max": [(index * 7) % 101 for _ in days],
            },
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
