"""Severe weather in a day's forecast: which findings raise an alert, and the alert broadcast's ref."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from bot.weather.provinces import by_plate
from storage.models import Forecast, WeatherAlert

THUNDERSTORM_CODES = frozenset({95, 96, 99})  # thunderstorm, with slight or heavy hail
HEAVY_RAIN_CODES = frozenset({65, 82})  # heavy rain, violent rain showers
HEAVY_SNOW_CODES = frozenset({75, 86})  # heavy snowfall, heavy snow showers
FREEZING_RAIN_CODES = frozenset({66, 67})  # light and heavy freezing rain
GUSTS_FROM = 75.0  # km/h
HEAT_FROM = 40.0  # °C, the day's maximum
COLD_TO = -10.0  # °C, the day's minimum
# In the order an alert lists them.
ALERT_KINDS = ("thunderstorm", "heavy_rain", "heavy_snow", "freezing_rain", "gusts", "heat", "cold")
_REF = re.compile(r"([0-9]{1,2}):([0-9]{4}-[0-9]{2}-[0-9]{2}):([a-z_]+(?:\+[a-z_]+)*)")


def findings(forecast: Forecast) -> list[WeatherAlert]:
    """Every severe-weather kind one day's forecast shows, with the figure that raised it."""
    code = forecast.weather_code
    found: list[tuple[str, float | None]] = []
    if code in THUNDERSTORM_CODES:
        found.append(("thunderstorm", code))
    if code in HEAVY_RAIN_CODES:
        found.append(("heavy_rain", forecast.precipitation_sum))
    if code in HEAVY_SNOW_CODES:
        found.append(("heavy_snow", forecast.precipitation_sum))
    if code in FREEZING_RAIN_CODES:
        found.append(("freezing_rain", code))
    if forecast.wind_gusts_max is not None and forecast.wind_gusts_max >= GUSTS_FROM:
        found.append(("gusts", forecast.wind_gusts_max))
    if forecast.temp_max is not None and forecast.temp_max >= HEAT_FROM:
        found.append(("heat", forecast.temp_max))
    if forecast.temp_min is not None and forecast.temp_min <= COLD_TO:
        found.append(("cold", forecast.temp_min))
    return [WeatherAlert(forecast.plate, forecast.day, kind, value) for kind, value in found]


def all_findings(forecasts: Iterable[Forecast]) -> list[WeatherAlert]:
    """The findings of many days and provinces, province by province."""
    return [finding for forecast in forecasts for finding in findings(forecast)]


@dataclass(frozen=True)
class AlertRef:
    """What an alert broadcast is about: "34:2026-03-11:thunderstorm+gusts"."""

    plate: int
    day: date
    kinds: tuple[str, ...]


def parse_alert_ref(ref: str) -> AlertRef | None:
    """The parts of an alert broadcast's ref, or None for one this version cannot serve."""
    match = _REF.fullmatch(ref)
    if match is None or by_plate(int(match.group(1))) is None:
        return None
    kinds = tuple(match.group(3).split("+"))
    if any(kind not in ALERT_KINDS for kind in kinds):
        return None
    try:
        day = date.fromisoformat(match.group(2))
    except ValueError:
        return None
    return AlertRef(int(match.group(1)), day, kinds)
