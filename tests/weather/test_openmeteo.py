"""Open-Meteo: one request for 81 provinces, answers in request order, and garbage refused with a reason."""

from __future__ import annotations

import copy
import logging
from datetime import UTC, datetime

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.weather.openmeteo import OpenMeteoError, fetch_forecasts, parse_forecasts, request_params
from bot.weather.provinces import PROVINCES
from tests.weather.conftest import DAY
from tests.weather.support import FakeOpenMeteo, temperature_for

NOW = datetime(2026, 3, 10, 3, 0, tzinfo=UTC)


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as session:
        yield session


async def test_one_request_answers_every_province_in_request_order(open_meteo: FakeOpenMeteo, session):
    forecasts = await fetch_forecasts(session, open_meteo.url, PROVINCES, NOW, timeout=30)
    assert len(open_meteo.requests) == 1
    assert len(forecasts) == 81 * 2
    today = {f.plate: f for f in forecasts if f.day == DAY}
    assert sorted(today) == list(range(1, 82))
    for index, province in enumerate(PROVINCES):
        assert today[province.plate].temp_max == temperature_for(index)
    assert {f.fetched_at for f in forecasts} == {NOW}


def test_request_lists_coordinates_in_province_order():
    params = request_params(PROVINCES)
    latitudes = [float(x) for x in params["latitude"].split(",")]
    assert latitudes == [round(p.latitude, 4) for p in PROVINCES]
    assert params["forecast_days"] == "2" and params["timezone"] == "Europe/Istanbul"


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
        await fetch_forecasts(session, open_meteo.url, PROVINCES, NOW, timeout=timeout)
    assert reason in str(refused.value)


async def test_nothing_listening_is_a_reason_too(session):
    with pytest.raises(OpenMeteoError, match="request failed"):
        await fetch_forecasts(session, "http://127.0.0.1:9/v1/forecast", PROVINCES, NOW, timeout=30)


def _answer() -> list[dict]:
    days = [DAY.isoformat()]
    return [
        {
            "latitude": p.latitude,
            "longitude": p.longitude,
            "daily": {
                "time": days,
                "temperature_2m_max": [20.5],
                "temperature_2m_min": [None],
                "weather_code": [3],
                "precipitation_probability_max": [None],
            },
        }
        for p in PROVINCES
    ]


def test_nulls_are_kept_as_unknown():
    forecast = parse_forecasts(_answer(), PROVINCES, NOW)[0]
    assert (forecast.temp_max, forecast.temp_min, forecast.weather_code) == (20.5, None, 3)
    assert forecast.precipitation_probability is None


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
    ],
)
def test_a_single_bad_entry_refuses_the_whole_answer(spoil, reason: str):
    answer = _answer()
    spoil(answer)
    with pytest.raises(OpenMeteoError, match=reason):
        parse_forecasts(answer, PROVINCES, NOW)


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
        parse_forecasts(payload, PROVINCES[:1], NOW)
    except OpenMeteoError as error:
        assert str(error)


@given(st.integers(0, 80), st.sampled_from(["latitude", "longitude", "daily"]), _json)
@settings(max_examples=200)
def test_any_spoiled_field_is_parsed_or_refused(index, key, value):
    answer = copy.deepcopy(_ANSWER)
    answer[index][key] = value
    try:
        parse_forecasts(answer, PROVINCES, NOW)
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
