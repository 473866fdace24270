"""Open-Meteo: one request for 81 provinces (now and 3 days), answers in request order, garbage refused."""

from __future__ import annotations

import copy
import logging
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.weather.openmeteo import OpenMeteoError, fetch_weather, parse_weather, request_params
from bot.weather.provinces import PROVINCES
from tests.weather.conftest import DAY
from tests.weather.support import FakeOpenMeteo, current_temperature_for, temperature_for

NOW = datetime(2026, 3, 10, 3, 0, tzinfo=UTC)


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as session:
        yield session


async def test_one_request_answers_every_province_in_request_order(open_meteo: FakeOpenMeteo, session):
    report = await fetch_weather(session, open_meteo.url, PROVINCES, NOW, timeout=30)
    assert len(open_meteo.requests) == 1
    forecasts = report.forecasts
    assert len(forecasts) == 81 * 3
    assert {f.day for f in forecasts} == {DAY, DAY + timedelta(days=1), DAY + timedelta(days=2)}
    today = {f.plate: f for f in forecasts if f.day == DAY}
    assert sorted(today) == list(range(1, 82))
    now = {c.plate: c for c in report.current}
    assert sorted(now) == list(range(1, 82))
    for index, province in enumerate(PROVINCES):
        assert today[province.plate].temp_max == temperature_for(index)
        assert today[province.plate].precipitation_sum is not None
        assert today[province.plate].wind_gusts_max == 20.0 + index % 40
        assert now[province.plate].temperature == current_temperature_for(index)
    assert {f.fetched_at for f in forecasts} == {c.fetched_at for c in report.current} == {NOW}
    # the fake's clock is 06:00 in Istanbul: current.time "2026-03-10T06:00" is local time, 03:00 UTC
    assert {c.observed_at for c in report.current} == {NOW}


def test_request_lists_coordinates_in_province_order():
    params = request_params(PROVINCES)
    latitudes = [float(x) for x in params["latitude"].split(",")]
    assert latitudes == [round(p.latitude, 4) for p in PROVINCES]
    assert params["forecast_days"] == "3" and params["timezone"] == "Europe/Istanbul"
    assert params["current"].split(",") == ["temperature_2m", "weather_code"]
    assert set(params["daily"].split(",")) == {
        "temperature_2m_max",
        "temperature_2m_min",
        "weather_code",
        "precipitation_probability_max",
        "precipitation_sum",
        "wind_gusts_10m_max",
    }


async def test_the_fake_answers_only_what_was_asked_like_the_real_api(open_meteo: FakeOpenMeteo, session):
    params = request_params(PROVINCES[:2]) | {"current": "temperature_2m", "daily": "weather_code"}
    async with session.get(open_meteo.url, params=params) as response:
        answer = await response.json()
    assert set(answer[0]["current"]) == {"time", "interval", "temperature_2m"}
    assert set(answer[0]["daily"]) == {"time", "weather_code"}
    with pytest.raises(OpenMeteoError, match=r"location 1 \(adana\): no 'temperature_2m_max'"):
        parse_weather(answer, PROVINCES[:2], NOW)
    async with session.get(open_meteo.url, params=params | {"current": "thunder"}) as response:
        assert response.status == 400


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("error", "HTTP 500: Internal error"),
        ("not_json", "HTTP 502, not JSON"),
        ("short", "expected 81 locations, got 80"),
        ("garbage", "location 41 (kocaeli): temperature is not a number: 'warm'"),
        ("hang", "no answer within 0.3 s"),
    ],
)
async def test_failures_are_refused_with_a_reason(open_meteo: FakeOpenMeteo, session, mode: str, reason: str):
    open_meteo.mode = mode  # type: ignore[assignment]
    timeout = 0.3 if mode == "hang" else 30  # the fake hangs 30 s; other answers may take their time
    with pytest.raises(OpenMeteoError) as refused:
        await fetch_weather(session, open_meteo.url, PROVINCES, NOW, timeout=timeout)
    assert reason in str(refused.value)


async def test_nothing_listening_is_a_reason_too(session):
    with pytest.raises(OpenMeteoError, match="request failed"):
        await fetch_weather(session, "http://127.0.0.1:9/v1/forecast", PROVINCES, NOW, timeout=30)


def _answer() -> list[dict]:
    days = [DAY.isoformat()]
    return [
        {
            "latitude": p.latitude,
            "longitude": p.longitude,
            "current": {
                "time": "2026-03-10T05:45",
                "interval": 900,
                "temperature_2m": 12.3,
                "weather_code": 2,
            },
            "daily": {
                "time": days,
                "temperature_2m_max": [20.5],
                "temperature_2m_min": [None],
                "weather_code": [3],
                "precipitation_probability_max": [None],
                "precipitation_sum": [None],
                "wind_gusts_10m_max": [None],
            },
        }
        for p in PROVINCES
    ]


def test_nulls_are_kept_as_unknown():
    answer = _answer()
    answer[0]["current"].update(temperature_2m=None, weather_code=None)
    report = parse_weather(answer, PROVINCES, NOW)
    forecast = report.forecasts[0]
    assert (forecast.temp_max, forecast.temp_min, forecast.weather_code) == (20.5, None, 3)
    assert forecast.precipitation_probability is None
    assert forecast.precipitation_sum is None and forecast.wind_gusts_max is None
    assert (report.current[0].temperature, report.current[0].weather_code) == (None, None)
    assert report.current[1].temperature == 12.3
    assert report.current[1].observed_at == datetime(2026, 3, 10, 2, 45, tzinfo=UTC)  # 05:45 in Istanbul


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        (lambda a: a.reverse(), "latitude"),
        (lambda a: a[5]["daily"].pop("weather_code"), "location 6"),
        (lambda a: a[5]["daily"]["time"].append("2026-03-11"), "has 1 values for 2 days"),
        (lambda a: a[5]["daily"].update(time=["tomorrow"]), "location 6"),
        (lambda a: a[5]["daily"].update(temperature_2m_max=[999]), "implausible"),
        (lambda a: a[5]["daily"].update(temperature_2m_max=[True]), "not a number"),
        (lambda a: a[5]["daily"].update(precipitation_probability_max=[140]), "not a percentage"),
        (lambda a: a.__setitem__(5, "oops"), "not an object"),
        (lambda a: a[5].update(daily=[]), "daily is not an object"),
        (lambda a: a[5]["daily"].update(wind_gusts_10m_max=[900]), "wind_gusts_10m_max 900.0 km/h"),
        (lambda a: a[5]["daily"].update(precipitation_sum=[-3]), "precipitation_sum -3.0 mm"),
        (lambda a: a[5].pop("current"), "location 6 .*: no 'current'"),
        (lambda a: a[5].update(current=[]), "current is not an object"),
        (lambda a: a[5]["current"].update(time="now"), "location 6"),
        (lambda a: a[5]["current"].update(time=1700000000), "current.time is not a string"),
        (lambda a: a[5]["current"].update(time="2025-03-10T05:45"), "is not near now"),
        (lambda a: a[5]["current"].update(time="0001-01-01T00:00"), "location 6"),
        (lambda a: a[5]["current"].update(temperature_2m=80), "implausible"),
        (lambda a: a[5]["current"].update(weather_code="sunny"), "not a number"),
    ],
)
def test_a_single_bad_entry_refuses_the_whole_answer(spoil, reason: str):
    answer = _answer()
    spoil(answer)
    with pytest.raises(OpenMeteoError, match=reason):
        parse_weather(answer, PROVINCES, NOW)


_ANSWER = _answer()
_json = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)


@given(_json)
@settings(max_examples=200)
def test_any_json_is_either_parsed_or_refused_with_a_reason(payload):
    try:
        parse_weather(payload, PROVINCES[:1], NOW)
    except OpenMeteoError as error:
        assert str(error)


@given(st.integers(0, 80), st.sampled_from(["latitude", "longitude", "daily", "current"]), _json)
@settings(max_examples=200)
def test_any_spoiled_field_is_parsed_or_refused(index, key, value):
    answer = copy.deepcopy(_ANSWER)
    answer[index][key] = value
    try:
        parse_weather(answer, PROVINCES, NOW)
    except OpenMeteoError as error:
        assert str(error)


@given(
    st.integers(0, 80),
    st.sampled_from(["time", "temperature_2m", "weather_code"]),
    _json | st.datetimes().map(lambda moment: moment.isoformat()),
)
@settings(max_examples=200)
def test_any_spoiled_current_value_is_parsed_or_refused(index, key, value):
    answer = copy.deepcopy(_ANSWER)
    answer[index]["current"][key] = value
    try:
        parse_weather(answer, PROVINCES, NOW)
    except OpenMeteoError as error:
        assert str(error)


# --- the service's schedule: fresh data is not fetched again, failures back off ------------------


async def test_refresh_only_when_due_and_back_off_after_failures(weather, open_meteo, clock, caplog):
    assert len(open_meteo.requests) == 1
    clock.advance(hours=2, minutes=59)
    assert await weather.refresh_if_due() is False
    assert len(open_meteo.requests) == 1
    open_meteo.mode = "short"
    clock.advance(minutes=2)
    with caplog.at_level(logging.WARNING, logger="bot.weather.service"):
        assert await weather.refresh_if_due() is False
    assert "weather refresh failed (1 in a row" in caplog.text
    assert "expected 81 locations, got 80" in caplog.text
    assert len(open_meteo.requests) == 2
    clock.advance(seconds=30)
    assert await weather.refresh_if_due() is False  # backing off: 1 minute
    assert len(open_meteo.requests) == 2
    clock.advance(seconds=31)
    assert await weather.refresh_if_due() is False
    assert len(open_meteo.requests) == 3
    clock.advance(seconds=100)
    assert await weather.refresh_if_due() is False  # second failure: 2 minutes
    assert len(open_meteo.requests) == 3
    open_meteo.mode = "ok"
    clock.advance(seconds=30)
    assert await weather.refresh_if_due() is True
    assert len(open_meteo.requests) == 4
    stored = await weather.store.weather.forecast(34, DAY)
    assert stored is not None and stored.fetched_at == clock()
