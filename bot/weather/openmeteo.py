"""Open-Meteo's forecast API: one request for every province, and a strict check of what comes back."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import aiohttp

from bot.weather.provinces import Province
from storage.models import Forecast

DAILY_FIELDS = (
    "temperature_2m_max",
    "temperature_2m_min",
    "weather_code",
    "precipitation_probability_max",
)
FORECAST_DAYS = 2  # today and tomorrow, so yesterday's answer still covers today if the service is down
TIMEZONE = "Europe/Istanbul"
MAX_RESPONSE_BYTES = 2 * 1024 * 1024
COORDINATE_TOLERANCE = 0.5  # degrees; Open-Meteo snaps to its grid, a wrong order is much further off
TEMPERATURE_RANGE = (-70.0, 65.0)


class OpenMeteoError(Exception):
    """The service failed or answered something we refuse to store; the message is the logged reason."""


def request_params(provinces: Sequence[Province]) -> dict[str, str]:
    """Query string for all provinces at once: Open-Meteo answers a list in the same order."""
    return {
        "latitude": ",".join(f"{p.latitude:.4f}" for p in provinces),
        "longitude": ",".join(f"{p.longitude:.4f}" for p in provinces),
        "daily": ",".join(DAILY_FIELDS),
        "timezone": TIMEZONE,
        "forecast_days": str(FORECAST_DAYS),
    }


async def _read_capped(response: aiohttp.ClientResponse) -> bytes:
    """The whole body (it arrives in pieces over a real network), never more than the cap plus one chunk."""
    chunks: list[bytes] = []
    received = 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        chunks.append(chunk)
        received += len(chunk)
        if received > MAX_RESPONSE_BYTES:
            break
    return b"".join(chunks)


async def fetch_forecasts(
    session: aiohttp.ClientSession,
    url: str,
    provinces: Sequence[Province],
    fetched_at: datetime,
    *,
    timeout: float,
) -> list[Forecast]:
    """One GET for every province; raises OpenMeteoError with a reason for anything but a valid answer."""
    try:
        async with session.get(
            url, params=request_params(provinces), timeout=aiohttp.ClientTimeout(total=timeout)
        ) as response:
            body = await _read_capped(response)
            status = response.status
    except TimeoutError:
        raise OpenMeteoError(f"no answer within {timeout:g} s") from None
    except aiohttp.ClientError as error:
        raise OpenMeteoError(f"request failed: {error.__class__.__name__}: {error}") from None
    if len(body) > MAX_RESPONSE_BYTES:
        raise OpenMeteoError(f"answer larger than {MAX_RESPONSE_BYTES} bytes")
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise OpenMeteoError(f"HTTP {status}, not JSON: {body[:80]!r}") from None
    if status != 200:
        reason = payload.get("reason") if isinstance(payload, dict) else None
        raise OpenMeteoError(f"HTTP {status}: {str(reason or payload)[:200]}")
    return parse_forecasts(payload, provinces, fetched_at)


def parse_forecasts(payload: Any, provinces: Sequence[Province], fetched_at: datetime) -> list[Forecast]:
    """Check the answer's shape entry by entry; one bad entry refuses the whole answer."""
    if not isinstance(payload, list):
        raise OpenMeteoError(f"expected a list of {len(provinces)} locations, got {type(payload).__name__}")
    if len(payload) != len(provinces):
        raise OpenMeteoError(f"expected {len(provinces)} locations, got {len(payload)}")
    forecasts: list[Forecast] = []
    for province, entry in zip(provinces, payload, strict=True):
        try:
            forecasts.extend(_entry(province, entry, fetched_at))
        except (KeyError, TypeError, ValueError) as error:
            raise OpenMeteoError(f"location {province.plate} ({province.slug}): {error}") from None
    return forecasts


def _entry(province: Province, entry: Any, fetched_at: datetime) -> list[Forecast]:
    if not isinstance(entry, dict):
        raise TypeError("not an object")
    for key, expected in (("latitude", province.latitude), ("longitude", province.longitude)):
        got = _number(entry[key], key)
        if got is None or abs(got - expected) > COORDINATE_TOLERANCE:
            raise ValueError(f"{key} {got} is not near {expected}: answer out of order?")
    daily = entry["daily"]
    if not isinstance(daily, dict):
        raise TypeError("daily is not an object")
    days = [date.fromisoformat(day) for day in _column(daily, "time", None)]
    columns = {field: _column(daily, field, len(days)) for field in DAILY_FIELDS}
    result = []
    for i, day in enumerate(days):
        high = _temperature(columns["temperature_2m_max"][i])
        low = _temperature(columns["temperature_2m_min"][i])
        code = _number(columns["weather_code"][i], "weather_code")
        rain = _number(columns["precipitation_probability_max"][i], "precipitation_probability_max")
        if rain is not None and not 0 <= rain <= 100:
            raise ValueError(f"precipitation probability {rain} is not a percentage")
        result.append(
            Forecast(
                plate=province.plate,
                day=day,
                temp_max=high,
                temp_min=low,
                weather_code=None if code is None else int(code),
                precipitation_probability=None if rain is None else round(rain),
                fetched_at=fetched_at,
            )
        )
    return result


def _column(daily: dict[str, Any], field: str, length: int | None) -> list[Any]:
    values = daily[field]
    if not isinstance(values, list):
        raise TypeError(f"daily.{field} is not a list")
    if length is not None and len(values) != length:
        raise ValueError(f"daily.{field} has {len(values)} values for {length} days")
    return values


def _number(value: Any, name: str) -> float | None:
    """Open-Meteo sends null for values it does not have; anything else must be a finite number."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} is not a number: {value!r}")
    return float(value)


def _temperature(value: Any) -> float | None:
    number = _number(value, "temperature")
    if number is not None and not TEMPERATURE_RANGE[0] <= number <= TEMPERATURE_RANGE[1]:
        raise ValueError(f"temperature {number} °C is implausible")
    return number
