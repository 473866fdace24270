"""Open-Meteo's forecast API: one request for every province, now and three days; a strict check of it."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import aiohttp

from bot.clock import ISTANBUL
from bot.weather.provinces import Province
from storage.models import CurrentConditions, Forecast, WeatherReport

DAILY_FIELDS = (
    "temperature_2m_max",
    "temperature_2m_min",
    "weather_code",
    "precipitation_probability_max",
    "precipitation_sum",
    "wind_gusts_10m_max",
)
CURRENT_FIELDS = ("temperature_2m", "weather_code")
FORECAST_DAYS = 3  # today and the next two days; yesterday's answer still covers today if the service is down
CURRENT_SKEW = timedelta(days=1)  # current.time further than this from our clock is refused
GUST_RANGE = (0.0, 500.0)  # km/h
PRECIPITATION_RANGE = (0.0, 2000.0)  # mm a day
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
        "current": ",".join(CURRENT_FIELDS),
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


async def fetch_weather(
    session: aiohttp.ClientSession,
    url: str,
    provinces: Sequence[Province],
    fetched_at: datetime,
    *,
    timeout: float,
) -> WeatherReport:
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
    return parse_weather(payload, provinces, fetched_at)


def parse_weather(payload: Any, provinces: Sequence[Province], fetched_at: datetime) -> WeatherReport:
    """Check the answer's shape entry by entry; one bad entry refuses the whole answer."""
    if not isinstance(payload, list):
        raise OpenMeteoError(f"expected a list of {len(provinces)} locations, got {type(payload).__name__}")
    if len(payload) != len(provinces):
        raise OpenMeteoError(f"expected {len(provinces)} locations, got {len(payload)}")
    report = WeatherReport(forecasts=[], current=[])
    for province, entry in zip(provinces, payload, strict=True):
        try:
            _check_location(province, entry)
            report.forecasts.extend(_daily(province, entry["daily"], fetched_at))
            report.current.append(_current(province, entry["current"], fetched_at))
        except KeyError as error:
            raise OpenMeteoError(f"location {province.plate} ({province.slug}): no {error}") from None
        except (TypeError, ValueError, OverflowError) as error:
            raise OpenMeteoError(f"location {province.plate} ({province.slug}): {error}") from None
    return report


def _check_location(province: Province, entry: Any) -> None:
    if not isinstance(entry, dict):
        raise TypeError("not an object")
    for key, expected in (("latitude", province.latitude), ("longitude", province.longitude)):
        got = _number(entry[key], key)
        if got is None or abs(got - expected) > COORDINATE_TOLERANCE:
            raise ValueError(f"{key} {got} is not near {expected}: answer out of order?")


def _current(province: Province, current: Any, fetched_at: datetime) -> CurrentConditions:
    """`current.time` is local time in the zone we asked for (Europe/Istanbul), without an offset."""
    if not isinstance(current, dict):
        raise TypeError("current is not an object")
    stamp = current["time"]
    if not isinstance(stamp, str):
        raise TypeError(f"current.time is not a string: {stamp!r}")
    local = datetime.fromisoformat(stamp)
    if local.tzinfo is None:
        local = local.replace(tzinfo=ISTANBUL)
    observed_at = local.astimezone(UTC)
    if abs(observed_at - fetched_at) > CURRENT_SKEW:
        raise ValueError(f"current.time {stamp} is not near now")
    code = _number(current["weather_code"], "weather_code")
    return CurrentConditions(
        plate=province.plate,
        observed_at=observed_at,
        temperature=_temperature(current["temperature_2m"]),
        weather_code=None if code is None else int(code),
        fetched_at=fetched_at,
    )


def _daily(province: Province, daily: Any, fetched_at: datetime) -> list[Forecast]:
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
        amount = _within(columns["precipitation_sum"][i], "precipitation_sum", PRECIPITATION_RANGE, "mm")
        gusts = _within(columns["wind_gusts_10m_max"][i], "wind_gusts_10m_max", GUST_RANGE, "km/h")
        result.append(
            Forecast(
                plate=province.plate,
                day=day,
                temp_max=high,
                temp_min=low,
                weather_code=None if code is None else int(code),
                precipitation_probability=None if rain is None else round(rain),
                fetched_at=fetched_at,
                precipitation_sum=amount,
                wind_gusts_max=gusts,
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
    return _within(value, "temperature", TEMPERATURE_RANGE, "°C")


def _within(value: Any, name: str, limits: tuple[float, float], unit: str) -> float | None:
    number = _number(value, name)
    if number is not None and not limits[0] <= number <= limits[1]:
        raise ValueError(f"{name} {number} {unit} is implausible")
    return number
