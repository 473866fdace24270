"""Weather tests run on a fake Open-Meteo and a clock they move; the app starts at 06:00 Istanbul time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from telegram.ext import Application

from bot.settings import Settings
from bot.weather.service import WeatherService
from tests.weather.support import FakeClock, FakeOpenMeteo, running_at

DAY = date(2026, 3, 10)


@pytest.fixture
def clock() -> FakeClock:
    """06:00 in Istanbul on DAY, until the test moves it."""
    clock = FakeClock(datetime(2000, 1, 1, tzinfo=UTC))
    clock.set_istanbul(DAY, "06:00")
    return clock


@pytest.fixture
async def open_meteo(clock: FakeClock) -> AsyncIterator[FakeOpenMeteo]:
    """A local Open-Meteo whose forecasts start on DAY and whose conditions now follow the test's clock."""
    async with FakeOpenMeteo(DAY, clock=clock) as api:
        yield api


@pytest.fixture
def settings(settings: Settings, open_meteo: FakeOpenMeteo) -> Settings:
    """The usual test settings, with the weather service pointing at the fake."""
    return replace(settings, weather_api_url=open_meteo.url)


@pytest.fixture
async def app(settings: Settings, clock: FakeClock) -> AsyncIterator[Application]:
    """The production Application on the test's clock."""
    async with running_at(settings, clock) as application:
        yield application


@pytest.fixture
async def weather(app: Application) -> WeatherService:
    """The app's weather service with today's forecasts in place (fetched at start, or now)."""
    service = app.bot_data.weather
    assert service is not None
    await service.refresh_if_due()
    return service
