"""Severe-weather alerts: found in today's and tomorrow's forecast, sent once per province, day and kind."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.weather.alerts import ALERT_KINDS, findings, parse_alert_ref
from bot.weather.pushtime import parse_switch
from storage import Store
from storage.models import Forecast
from tests.conversation import Reader
from tests.fake_telegram import make_chat
from tests.telegram_html import validate_telegram_html
from tests.weather.conftest import DAY
from tests.weather.support import FakeClock, FakeOpenMeteo, eventually, running_at

TOMORROW = DAY + timedelta(days=1)
ISTANBUL, ANKARA = 34, 6
NOT_OFFICIAL = "not an official warning"
MGM = "Meteoroloji Genel Müdürlüğü"


async def alert_deliveries(store: Store) -> set[tuple[str, int]]:
    """(ref, chat_id) of every queued weather alert."""
    rows = await store.db.fetchall(
        "SELECT b.ref, d.chat_id FROM deliveries d JOIN broadcasts b ON b.id = d.broadcast_id "
        "WHERE b.kind = 'weather_alert'"
    )
    return {(row[0], row[1]) for row in rows}


async def reader_in(app, telegram, chat_id: int, province: str | None, lang: str = "en") -> Reader:
    reader = Reader(app, telegram, chat_id, language_code=lang, first_name=f"R{chat_id}")
    if province is not None:
        await reader.says(f"/province {province}")
    else:
        await reader.says("/weatheralerts")
    return reader


async def refresh(weather, clock: FakeClock, hours: float = 3) -> None:
    clock.advance(hours=hours)
    assert await weather.refresh_if_due() is True


async def test_an_alert_goes_out_once_per_province_day_and_kind(
    weather, app, telegram, open_meteo: FakeOpenMeteo, clock: FakeClock
):
    store = app.bot_data.store
    await reader_in(app, telegram, 1, "İstanbul")
    await reader_in(app, telegram, 2, "34", lang="tr")
    await reader_in(app, telegram, 3, "Ankara")
    switched_off = await reader_in(app, telegram, 4, "İstanbul")
    assert "are off" in (await switched_off.says("/weatheralerts off")).plain
    await reader_in(app, telegram, 5, None)  # no home province
    replies = {chat: len(telegram.messages_to(chat)) for chat in (1, 2, 3, 4, 5)}

    open_meteo.set_day(ISTANBUL, TOMORROW, weather_code=96, wind_gusts_10m_max=82.4)
    await refresh(weather, clock)
    ref = "34:2026-03-11:thunderstorm+gusts"
    assert await alert_deliveries(store) == {(ref, 1), (ref, 2)}
    *_, alert = await telegram.wait_for_messages(replies[1] + 1, chat_id=1)
    assert alert.plain.startswith("⚠️ Severe weather forecast for İstanbul: tomorrow, Wednesday 11 March")
    assert "⛈ Thunderstorms with hail" in alert.plain
    assert "💨 Wind gusts up to 82 km/h" in alert.plain
    assert NOT_OFFICIAL in alert.plain and MGM in alert.plain
    assert '<a href="https://www.mgm.gov.tr/">mgm.gov.tr</a>' in alert.text
    assert "Weather data by Open-Meteo.com" in alert.plain
    *_, uyari = await telegram.wait_for_messages(replies[2] + 1, chat_id=2)
    assert uyari.plain.startswith("⚠️ İstanbul için şiddetli hava tahmini: yarın, 11 Mart Çarşamba")
    assert "resmî bir uyarı değildir" in uyari.plain and MGM in uyari.plain

    # The same findings in the next refreshes: nothing again. A new kind: only that one.
    await refresh(weather, clock)
    assert len(await alert_deliveries(store)) == 2
    open_meteo.set_day(ISTANBUL, TOMORROW, temperature_2m_max=41.0)
    open_meteo.set_day(ANKARA, DAY, temperature_2m_min=-12.5, weather_code=75)
    await refresh(weather, clock)
    assert await alert_deliveries(store) == {
        (ref, 1),
        (ref, 2),
        ("34:2026-03-11:heat", 1),
        ("34:2026-03-11:heat", 2),
        ("6:2026-03-10:heavy_snow+cold", 3),
    }
    *_, cold = await telegram.wait_for_messages(replies[3] + 1, chat_id=3)
    assert cold.plain.startswith("⚠️ Severe weather forecast for Ankara: today, Tuesday 10 March")
    assert "❄️ Heavy snow" in cold.plain and "🥶 Severe cold: down to -12 °C" in cold.plain

    # Next day: tomorrow's thunderstorm is today's now (known), the day after's is new.
    clock.set_istanbul(TOMORROW, "06:00")
    open_meteo.set_day(ISTANBUL, TOMORROW + timedelta(days=1), weather_code=95)
    assert await weather.refresh_if_due() is True
    new = {ref for ref, _ in await alert_deliveries(store)} - {
        ref,
        "34:2026-03-11:heat",
        "6:2026-03-10:heavy_snow+cold",
    }
    assert new == {"34:2026-03-12:thunderstorm"}
    assert len(open_meteo.requests) == 5  # one request per refresh, nothing else
    await telegram.wait_for_messages(replies[1] + 3, chat_id=1)
    assert len(telegram.messages_to(4)) == replies[4] and len(telegram.messages_to(5)) == replies[5]


async def test_alerts_are_not_sent_twice_across_a_restart(
    settings, telegram, open_meteo: FakeOpenMeteo, clock: FakeClock
):
    open_meteo.set_day(ISTANBUL, DAY, wind_gusts_10m_max=90.0)
    async with running_at(settings, clock) as app:
        store = app.bot_data.store
        # the start-up refresh finds the gusts while nobody lives in İstanbul yet
        await eventually(lambda: store.weather.alerts(ISTANBUL, DAY, ["gusts"]))
        await reader_in(app, telegram, 1, "İstanbul")
        await reader_in(app, telegram, 2, "Ankara")
        assert await alert_deliveries(app.bot_data.store) == set()
        open_meteo.set_day(ANKARA, TOMORROW, weather_code=82, precipitation_sum=48.6)
        await refresh(app.bot_data.weather, clock)
        assert await alert_deliveries(app.bot_data.store) == {("6:2026-03-11:heavy_rain", 2)}
        *_, rain = await telegram.wait_for_messages(2, chat_id=2)
        assert "🌧 Heavy rain or showers, about 49 mm over the day" in rain.plain
    for hours in (1, 3):  # a restart without a refresh, then one with a refresh
        clock.advance(hours=hours)
        async with running_at(settings, clock) as app:
            await eventually(lambda: _started(app))
    assert len(open_meteo.requests) == 3
    store = await Store.open(settings.database)
    try:
        assert await alert_deliveries(store) == {("6:2026-03-11:heavy_rain", 2)}
        sent = await store.db.fetchval("SELECT count(*) FROM broadcasts WHERE kind = 'weather_alert'")
        assert sent == 1
    finally:
        await store.close()
    alerts = [m for m in telegram.messages_to(2) if "Severe weather" in (m.plain or "")]
    assert len(alerts) == 1  # (besides the /province answer and the morning forecast)


async def test_findings_stored_before_a_crash_are_alerted_at_the_next_start(
    settings, telegram, open_meteo: FakeOpenMeteo, clock: FakeClock
):
    async with running_at(settings, clock) as app:
        await eventually(lambda: _started(app))
        await reader_in(app, telegram, 1, "Ankara")
    # A refresh stored a severe forecast, and the bot died before it queued the alert.
    store = await Store.open(settings.database)
    try:
        fetched = clock()
        await store.weather.save_forecasts([_forecast(ANKARA, DAY, fetched, temp_max=42.0)], keep_from=DAY)
    finally:
        await store.close()
    clock.advance(minutes=30)  # no refresh due at start
    async with running_at(settings, clock) as app:
        store = app.bot_data.store
        assert await eventually(lambda: alert_deliveries(store)) == {("6:2026-03-10:heat", 1)}
        *_, heat = await telegram.wait_for_messages(2, chat_id=1)
        assert "🔥 Extreme heat: up to 42 °C" in heat.plain
    assert len(open_meteo.requests) == 1


async def test_readers_in_their_quiet_hours_get_the_alert_silently(
    weather, app, telegram, open_meteo: FakeOpenMeteo, clock: FakeClock
):
    store = app.bot_data.store
    quiet_hours = {
        1: (22 * 60, 10 * 60),  # 22:00-10:00, across midnight: quiet at 09:30
        2: (23 * 60, 9 * 60 + 30),  # 23:00-09:30: the end is not quiet
        3: (9 * 60, 12 * 60),  # 09:00-12:00: quiet
        4: (9 * 60 + 30, 9 * 60 + 30),  # start = end: no quiet hours
        5: (None, None),
        6: (10 * 60, 9 * 60),  # 10:00-09:00, across midnight: awake at 09:30
        7: (9 * 60, None),  # half a setting is none
    }
    for chat_id, (start, end) in quiet_hours.items():
        await reader_in(app, telegram, chat_id, "Konya")
        await store.db.execute(
            "UPDATE chats SET quiet_start = ?, quiet_end = ? WHERE chat_id = ?", (start, end, chat_id)
        )
    open_meteo.set_day(42, TOMORROW, weather_code=67)
    clock.set_istanbul(DAY, "09:30")
    await refresh(weather, clock, hours=0)
    rows = await store.db.fetchall(
        "SELECT d.chat_id, d.silent FROM deliveries d JOIN broadcasts b ON b.id = d.broadcast_id "
        "WHERE b.kind = 'weather_alert' AND b.ref = '42:2026-03-11:freezing_rain'"
    )
    assert {row[0]: row[1] for row in rows} == {1: 1, 2: 0, 3: 1, 4: 0, 5: 0, 6: 0, 7: 0}


@pytest.mark.parametrize("lang", ["tr", "en"])
async def test_an_alert_is_valid_telegram_html_and_expires_with_its_day(
    weather, open_meteo: FakeOpenMeteo, clock: FakeClock, lang: str
):
    for kind_values in ({"weather_code": 99}, {"weather_code": 66, "temperature_2m_min": -10.0}):
        open_meteo.set_day(ISTANBUL, DAY, **kind_values)
        await refresh(weather, clock)
    for ref in ("34:2026-03-10:thunderstorm", "34:2026-03-10:freezing_rain+cold"):
        message = await weather.render_alert(ref, lang)
        assert message is not None, ref
        validate_telegram_html(message.text)
        assert "mgm.gov.tr" in message.text
    assert "Severe cold: down to -10 °C" in (await weather.render_alert("34:2026-03-10:cold", "en")).text
    assert await weather.render_alert("34:2026-03-10:gusts", lang) is None  # never found
    clock.set_istanbul(TOMORROW, "00:01")
    assert await weather.render_alert("34:2026-03-10:thunderstorm", lang) is None  # the day is over


@pytest.mark.parametrize(
    "ref",
    [
        "",
        "34",
        "34:2026-03-10",
        "34:2026-03-10:",
        "82:2026-03-10:heat",
        "34:2026-13-40:heat",
        "34:2026-03-10:tornado",
        "34:2026-03-10:heat+",
        "x:y:z",
    ],
)
async def test_render_alert_refuses_refs_it_cannot_serve(weather, ref: str):
    assert await weather.render_alert(ref, "en") is None


# --- /weatheralerts ------------------------------------------------------------------------------


async def test_weatheralerts_shows_and_switches(weather, english_reader: Reader, reader: Reader):
    status = (await english_reader.says("/weatheralerts")).plain
    assert "Severe-weather alerts are on." in status
    assert "Choose your home province with /province" in status
    await english_reader.says("/province Bursa")
    status = (await english_reader.says("/weatheralerts")).plain
    assert "are on for Bursa" in status and "gusts of 75 km/h or more" in status
    assert "are off" in (await english_reader.says("/weatheralerts off")).plain
    assert "are off" in (await english_reader.says("/weatheralerts")).plain
    assert "are on for Bursa" in (await english_reader.says("/weatheralerts ON")).plain
    assert "not something I understand" in (await english_reader.says("/weatheralerts maybe <b>")).plain
    assert "kapatıldı" in (await reader.says("/weatheralerts kapat")).plain
    assert "açık" in (await reader.says("/weatheralerts aç")).plain
    settings = await english_reader.app.bot_data.store.weather.settings(english_reader.chat_id)
    assert settings.alerts is True


async def test_a_group_member_cannot_switch_the_groups_alerts(app, telegram, weather):
    group = make_chat(-1_001_234_567_001, "supergroup", "Okurlar")
    telegram.set_chat_admins(group["id"], [7002])
    admin = Reader(app, telegram, 7002, first_name="Yönetici", chat=group)
    member = Reader(app, telegram, 7001, first_name="Üye", chat=group)
    await admin.says("/province Izmir")
    refused = await member.says("/weatheralerts kapat")
    assert "yalnızca grubun yöneticileri" in refused.plain
    assert (await app.bot_data.store.weather.settings(group["id"])).alerts is True
    assert "açık" in (await member.says("/weatheralerts")).plain  # reading the setting is for everyone
    assert "kapatıldı" in (await admin.says("/weatheralerts kapat")).plain
    assert (await app.bot_data.store.weather.settings(group["id"])).alerts is False


async def test_help_and_menu_list_weatheralerts(app, english_reader: Reader, telegram):
    assert "/weatheralerts — " in (await english_reader.says("/help")).plain
    assert "weatheralerts" in {c["command"] for c in telegram.get_commands(language_code="tr")}


# --- the rules -----------------------------------------------------------------------------------


def _forecast(plate: int, day: date, fetched: datetime | None = None, **values) -> Forecast:
    fields = {
        "temp_max": 20.0,
        "temp_min": 10.0,
        "weather_code": 3,
        "precipitation_probability": 10,
        "precipitation_sum": 0.0,
        "wind_gusts_max": 30.0,
    } | values
    return Forecast(plate=plate, day=day, fetched_at=fetched or datetime(2026, 3, 10, tzinfo=UTC), **fields)


@pytest.mark.parametrize(
    ("values", "kinds"),
    [
        ({}, []),
        ({"weather_code": 95}, ["thunderstorm"]),
        ({"weather_code": 96}, ["thunderstorm"]),
        ({"weather_code": 99}, ["thunderstorm"]),
        ({"weather_code": 65}, ["heavy_rain"]),
        ({"weather_code": 82}, ["heavy_rain"]),
        ({"weather_code": 63}, []),
        ({"weather_code": 81}, []),
        ({"weather_code": 75}, ["heavy_snow"]),
        ({"weather_code": 86}, ["heavy_snow"]),
        ({"weather_code": 73}, []),
        ({"weather_code": 66}, ["freezing_rain"]),
        ({"weather_code": 67}, ["freezing_rain"]),
        ({"weather_code": 57}, []),
        ({"wind_gusts_max": 74.9}, []),
        ({"wind_gusts_max": 75.0}, ["gusts"]),
        ({"temp_max": 39.9}, []),
        ({"temp_max": 40.0}, ["heat"]),
        ({"temp_min": -9.9}, []),
        ({"temp_min": -10.0}, ["cold"]),
        ({"weather_code": None, "temp_max": None, "temp_min": None, "wind_gusts_max": None}, []),
        (
            {"weather_code": 95, "wind_gusts_max": 100.0, "temp_max": 45.0, "temp_min": -20.0},
            ["thunderstorm", "gusts", "heat", "cold"],
        ),
    ],
)
def test_what_counts_as_severe(values: dict, kinds: list[str]):
    assert [finding.kind for finding in findings(_forecast(ISTANBUL, DAY, **values))] == kinds


@given(st.text(max_size=60))
def test_any_ref_is_parsed_or_refused(ref: str):
    parsed = parse_alert_ref(ref)
    if parsed is not None:
        assert set(parsed.kinds) <= set(ALERT_KINDS)


@given(st.sets(st.sampled_from(ALERT_KINDS), min_size=1), st.integers(1, 81), st.dates())
def test_every_ref_the_bot_writes_parses_back(kinds: set[str], plate: int, day: date):
    ordered = tuple(kind for kind in ALERT_KINDS if kind in kinds)
    parsed = parse_alert_ref(f"{plate}:{day.isoformat()}:{'+'.join(ordered)}")
    assert parsed is not None and (parsed.plate, parsed.day, parsed.kinds) == (plate, day, ordered)


@pytest.mark.parametrize(
    ("typed", "choice"),
    [
        ("on", True),
        ("ON", True),
        ("aç", True),
        ("AÇ", True),
        ("açık", True),
        ("off", False),
        ("kapat", False),
        ("KAPALI", False),
        ("maybe", None),
        ("", None),
        ("on off", None),
    ],
)
def test_switch_words(typed: str, choice: bool | None):
    assert parse_switch(typed) is choice


async def _started(app) -> bool:
    """The start-up jobs have run (neither is scheduled as a one-off any more)."""
    return all("date" not in str(job.trigger) for job in app.job_queue.jobs())
