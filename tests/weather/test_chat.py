"""Readers choose a home province, ask for the weather and set the morning time, in Turkish and English."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.render import Renderer
from bot.weather.codes import WMO_CODES, weather_emoji
from bot.weather.provinces import by_plate
from tests.conversation import Reader, buttons
from tests.fake_telegram import callback_update
from tests.weather.conftest import DAY
from tests.weather.support import (
    FakeClock,
    FakeOpenMeteo,
    code_for,
    current_temperature_for,
    eventually,
    index_of,
    running_at,
    temperature_for,
)

CREDIT = "Weather data by Open-Meteo.com"


async def home_plate(app, reader: Reader) -> int | None:
    return (await app.bot_data.store.weather.settings(reader.chat_id)).province


# --- /province NAME ------------------------------------------------------------------------------

SPELLINGS = [
    ("İstanbul", "İstanbul"),
    ("istanbul", "İstanbul"),
    ("IZMIR", "İzmir"),
    ("34", "İstanbul"),
    ("06", "Ankara"),
    ("K.Maraş", "Kahramanmaraş"),
    ("Maraş", "Kahramanmaraş"),
    ("Afyon", "Afyonkarahisar"),
    ("Antep", "Gaziantep"),
    ("Urfa", "Şanlıurfa"),
    ("İçel", "Mersin"),
    ("kirsehir", "Kırşehir"),
    ("KIRIKKALE", "Kırıkkale"),
    ("Kirklareli", "Kırklareli"),
    ("Afyon Karahisar", "Afyonkarahisar"),
]


@pytest.mark.parametrize(("typed", "official"), SPELLINGS)
async def test_province_name_in_any_spelling_is_confirmed_by_its_official_name(
    app, english_reader: Reader, typed: str, official: str
):
    answer = await english_reader.says(f"/province {typed}")
    assert f"Your home province is now {official}." in answer.plain
    assert "every morning at 08:00" in answer.plain
    assert by_plate(await home_plate(app, english_reader)).name == official  # type: ignore[union-attr]


async def test_turkish_confirmation(app, reader: Reader):
    answer = await reader.says("/province izmir")
    assert "İliniz artık İzmir." in answer.plain
    assert "saat 08:00" in answer.plain


async def test_a_typo_gets_did_you_mean_buttons_and_no_silent_choice(app, english_reader: Reader):
    answer = await english_reader.says("/province Kır")
    assert "Did you mean" in answer.plain
    assert [b["text"] for b in buttons(answer)] == ["Kırşehir", "Kırıkkale", "Kırklareli"]
    assert await home_plate(app, english_reader) is None
    confirmation = await english_reader.presses("Kırıkkale", on=answer)
    assert "Your home province is now Kırıkkale." in confirmation[0].plain
    assert await home_plate(app, english_reader) == 71


async def test_unknown_province_says_how_to_find_it(app, english_reader: Reader):
    answer = await english_reader.says("/province xyzzy <b>")
    assert "I don't know a province “xyzzy <b>”" in answer.plain
    assert "/province alone" in answer.plain
    assert await home_plate(app, english_reader) is None
    assert "I don't know a province" in (await english_reader.says("/province " + "x" * 500)).plain
    assert "I don't know a province" in (await english_reader.says("/province 99")).plain


# --- the picker ----------------------------------------------------------------------------------


async def test_picker_region_page_province_confirmation(app, english_reader: Reader, telegram):
    prompt = await english_reader.says("/province")
    names = [b["text"] for b in buttons(prompt)]
    assert names[:7] == [
        "Marmara",
        "Aegean",
        "Mediterranean",
        "Central Anatolia",
        "Black Sea",
        "Eastern Anatolia",
        "Southeastern Anatolia",
    ]
    assert "By first letter" in names
    (region,) = await english_reader.presses("Black Sea", on=prompt)
    assert "Black Sea (1/2)" in region.plain
    assert len(buttons(region)) <= 12
    assert "Trabzon" not in [b["text"] for b in buttons(region)]
    (page_two,) = await english_reader.presses("Next ›", on=region)
    assert "Black Sea (2/2)" in page_two.plain
    (confirmation,) = await english_reader.presses("Trabzon", on=page_two)
    assert "Your home province is now Trabzon." in confirmation.plain
    assert await home_plate(app, english_reader) == 61
    every_button = [b for m in telegram.sent + telegram.edited for b in buttons(m)]
    assert all(len(b["callback_data"].encode()) <= 64 for b in every_button)


async def test_picker_by_letter_with_back_and_previous(app, reader: Reader):
    prompt = await reader.says("/province")
    (letters,) = await reader.presses("Baş harfe göre", on=prompt)
    assert {"Ç", "İ", "I", "Ş", "K"} <= {b["text"] for b in buttons(letters)}
    (k_page,) = await reader.presses("K", on=letters)
    assert "K (1/2)" in k_page.plain
    (k_two,) = await reader.presses("Sonraki ›", on=k_page)
    (k_one,) = await reader.presses("‹ Önceki", on=k_two)
    assert "K (1/2)" in k_one.plain
    (back,) = await reader.presses("Geri", on=k_one)
    assert "K" in [b["text"] for b in buttons(back)]
    (i_page,) = await reader.presses("İ", on=back)
    assert [b["text"] for b in buttons(i_page)][:2] == ["İstanbul", "İzmir"]
    (confirmation,) = await reader.presses("İzmir", on=i_page)
    assert "İliniz artık İzmir." in confirmation.plain


@pytest.mark.parametrize(
    "data", ["prov:r:7:0", "prov:r:4:9", "prov:l:99:0", "prov:s:0", "prov:s:82", "prov:x", "wx:99"]
)
async def test_stale_or_garbled_buttons_are_answered_and_change_nothing(
    app, english_reader: Reader, telegram, data: str
):
    update = callback_update(english_reader.user, data)
    answers = await english_reader.deliver(update)
    answer = telegram.answered_callbacks[update["callback_query"]["id"]]
    assert answer.text == "This button is out of date. Send the command again."
    assert answers == []
    assert await home_plate(app, english_reader) is None


async def test_pressing_the_same_picker_button_twice_is_answered_both_times(english_reader: Reader):
    prompt = await english_reader.says("/province")
    await english_reader.presses("Marmara", on=prompt)
    await english_reader.presses("Marmara", on=prompt)


# --- /weather ------------------------------------------------------------------------------------


async def test_weather_without_home_province_explains_how_to_set_it(weather, english_reader: Reader):
    answer = await english_reader.says("/weather")
    assert "You have not chosen a home province yet" in answer.plain
    assert "/province" in answer.plain


async def test_weather_for_the_home_province_now_and_three_days(
    weather, english_reader: Reader, reader: Reader
):
    await english_reader.says("/province 34")
    answer = await english_reader.says("/weather")
    i = index_of(34)
    now, high, low = (
        round(current_temperature_for(i)),
        round(temperature_for(i)),
        round(temperature_for(i) - 8.4),
    )
    words = Renderer().label("en", "wmo", code_for(i))
    lines = answer.plain.splitlines()
    assert lines[0] == f"{_emoji(i)} İstanbul now {now} °C, {words[0].lower()}{words[1:]}"
    assert lines[2].startswith(f"Today, 10 March: {_emoji(i)} {low} to {high} °C, ")
    assert lines[3].startswith(f"Tomorrow, 11 March: {_emoji(i)} {low + 1} to {high + 1} °C, ")
    assert lines[4].startswith(f"Thursday, 12 March: {_emoji(i)} {low + 2} to {high + 2} °C, ")
    assert "rain " in lines[2]
    assert CREDIT in answer.plain
    assert 'href="https://open-meteo.com/"' in answer.text
    assert "ago" not in answer.plain
    await reader.says("/province Ankara")
    turkish = await reader.says("/weather")
    j = index_of(6)
    assert turkish.plain.startswith(f"{_emoji(j)} Ankara şu an {round(current_temperature_for(j))} °C, ")
    assert [line.split(":")[0] for line in turkish.plain.splitlines()[2:5]] == [
        "Bugün, 10 Mart",
        "Yarın, 11 Mart",
        "Perşembe, 12 Mart",
    ]
    assert "yağış olasılığı" in turkish.plain
    assert CREDIT in turkish.plain


async def test_weather_mentions_rain_amounts_and_strong_gusts(
    weather, english_reader: Reader, open_meteo, clock
):
    open_meteo.set_day(
        35, DAY, precipitation_sum=12.4, wind_gusts_10m_max=63.0, precipitation_probability_max=90
    )
    open_meteo.set_day(35, DAY + timedelta(days=1), wind_gusts_10m_max=30.0, precipitation_sum=0.2)
    open_meteo.set_now(35, temperature_2m=-0.4, weather_code=2)
    clock.advance(hours=3)
    assert await weather.refresh_if_due() is True
    lines = (await english_reader.says("/weather İzmir")).plain.splitlines()
    assert lines[0] == "⛅ İzmir now 0 °C, partly cloudy"
    assert lines[2].endswith("; rain 90% (12 mm); gusts up to 63 km/h")
    assert "mm" not in lines[3] and "gusts" not in lines[3]


async def test_weather_for_any_province_and_did_you_mean(weather, english_reader: Reader):
    trabzon = (await english_reader.says("/weather trabzon")).plain
    assert " Trabzon now " in trabzon and "Thursday, 12 March: " in trabzon
    suggestion = await english_reader.says("/weather Eskisehr")
    assert [b["text"] for b in buttons(suggestion)] == ["Eskişehir"]
    (forecast,) = await english_reader.presses("Eskişehir", on=suggestion)
    assert " Eskişehir now " in forecast.plain and "Today, 10 March: " in forecast.plain
    assert CREDIT in forecast.plain
    assert await home_plate(english_reader.app, english_reader) is None
    assert "I don't know a province" in (await english_reader.says("/weather qqqq")).plain


async def test_ten_readers_in_ten_provinces_cost_one_request(weather, app, telegram, open_meteo):
    for i, plate in enumerate((1, 6, 7, 16, 21, 27, 34, 35, 55, 61)):
        reader = Reader(app, telegram, 5000 + i, language_code="en", first_name=f"R{i}")
        await reader.says(f"/province {plate}")
        answer = (await reader.says("/weather")).plain
        assert f" {by_plate(plate).name} now " in answer and "Thursday, 12 March: " in answer
    assert len(open_meteo.requests) == 1
    request = open_meteo.requests[0]
    assert len(request["latitude"].split(",")) == len(request["longitude"].split(",")) == 81
    assert request["timezone"] == "Europe/Istanbul"
    assert request["forecast_days"] == "3"
    assert set(request["current"].split(",")) == {"temperature_2m", "weather_code"}
    assert set(request["daily"].split(",")) == {
        "temperature_2m_max",
        "temperature_2m_min",
        "weather_code",
        "precipitation_probability_max",
        "precipitation_sum",
        "wind_gusts_10m_max",
    }


async def test_service_down_from_the_start_gives_a_clear_message(
    settings, telegram, open_meteo: FakeOpenMeteo, clock: FakeClock
):
    open_meteo.mode = "error"
    async with running_at(settings, clock) as app:
        service = app.bot_data.weather
        await eventually(lambda: _async(len(open_meteo.requests) == 1))  # the start job tried
        clock.advance(minutes=30)  # past the backoff
        assert await service.refresh_if_due() is False
        assert len(open_meteo.requests) == 2
        english_reader = Reader(app, telegram, 1002, language_code="en", first_name="John")
        await english_reader.says("/province Izmir")
        answer = await english_reader.says("/weather")
        assert "There is no forecast for İzmir right now" in answer.plain
        assert "try again later" in answer.plain
        assert CREDIT in answer.plain


async def _async(value: object) -> object:
    return value


async def test_stale_forecast_is_served_with_its_age(weather, english_reader: Reader, open_meteo, clock):
    await english_reader.says("/province Izmir")
    open_meteo.mode = "hang"
    weather.timeout = 0.3  # the fake hangs 30 s; only this timeout is short
    clock.advance(hours=7)
    assert await weather.refresh_if_due() is False
    answer = await english_reader.says("/weather")
    lines = answer.plain.splitlines()
    assert lines[0].startswith(f"{_emoji(index_of(35))} İzmir at 06:00, 7 hours ago: ")
    assert " now " not in answer.plain
    assert lines[2].startswith("Today, 10 March: ")
    assert "Forecast updated 7 hours ago" in answer.plain
    assert CREDIT in answer.plain


async def test_current_conditions_older_than_three_hours_show_their_age(
    weather, english_reader: Reader, reader: Reader, open_meteo, clock
):
    await english_reader.says("/province Izmir")
    await reader.says("/province Izmir")
    clock.advance(hours=2, minutes=59)
    assert await weather.refresh_if_due() is False  # 06:00's conditions are fresh enough
    assert " İzmir now " in (await english_reader.says("/weather")).plain
    open_meteo.mode = "error"
    clock.advance(minutes=2)  # 09:01: due, and the service is down
    assert await weather.refresh_if_due() is False
    assert len(open_meteo.requests) == 2
    english = (await english_reader.says("/weather")).plain
    assert " İzmir at 06:00, 3 hours ago: " in english
    assert "Forecast updated" not in english  # the day's forecast is not stale before 4 hours
    turkish = (await reader.says("/weather")).plain
    assert " İzmir, saat 06:00 (3 saat önce): " in turkish
    open_meteo.mode = "ok"
    clock.advance(minutes=10)  # past the backoff
    assert await weather.refresh_if_due() is True
    assert " İzmir now " in (await english_reader.says("/weather")).plain


async def test_conditions_reaching_three_hours_are_refreshed_though_the_fetch_is_younger(
    settings, telegram, open_meteo, clock
):
    clock.set_istanbul(DAY, "06:14")  # the start-up fetch reports the 06:00 slot
    async with running_at(settings, clock) as app:
        weather = app.bot_data.weather
        await eventually(lambda: _async(len(open_meteo.requests) == 1))
        clock.set_istanbul(DAY, "08:59")
        assert await weather.refresh_if_due() is False
        clock.set_istanbul(DAY, "09:00")  # 06:00's conditions are 3 hours old, the fetch 2 h 46 min
        assert await weather.refresh_if_due() is True
        assert len(open_meteo.requests) == 2


async def test_conditions_the_service_reports_old_are_shown_so_and_not_fetched_every_minute(
    weather, english_reader: Reader, open_meteo, clock
):
    open_meteo.set_now(34, time="2026-03-10T02:30")  # 3.5 hours before the fetch
    clock.advance(hours=3)
    assert await weather.refresh_if_due() is True
    assert " İstanbul at 02:30, 6 hours ago: " in (await english_reader.says("/weather 34")).plain
    clock.advance(minutes=59)
    assert await weather.refresh_if_due() is False  # at most one extra fetch an hour for them
    clock.advance(minutes=1)
    assert await weather.refresh_if_due() is True
    assert len(open_meteo.requests) == 3


# --- /weathertime --------------------------------------------------------------------------------


async def test_weathertime_shows_changes_and_stops(weather, english_reader: Reader):
    status = await english_reader.says("/weathertime")
    assert "comes at 08:00" in status.plain and "Choose your home province with /province" in status.plain
    await english_reader.says("/province Bursa")
    assert "comes at 08:00 (Istanbul time) for Bursa" in (await english_reader.says("/weathertime")).plain
    changed = await english_reader.says("/weathertime 7:05")
    assert "every day at 07:05 (Istanbul time) for Bursa" in changed.plain
    assert "comes at 07:05" in (await english_reader.says("/weathertime")).plain
    assert "The morning forecast is off" in (await english_reader.says("/weathertime off")).plain
    assert "The morning forecast is off" in (await english_reader.says("/weathertime")).plain
    assert "at 21:30" in (await english_reader.says("/weathertime 21.30")).plain


async def test_weathertime_in_turkish(weather, reader: Reader):
    await reader.says("/province Bursa")
    assert "saat 06:45" in (await reader.says("/weathertime 06:45")).plain
    assert "kapatıldı" in (await reader.says("/weathertime kapat")).plain


@pytest.mark.parametrize(
    "typed", ["25:00", "12:60", "abc", "8", "08:5", "24:00", "-1:00", "08:00 09:00", "８:００"]
)
async def test_invalid_times_show_the_expected_form(weather, english_reader: Reader, typed: str):
    answer = await english_reader.says(f"/weathertime {typed}")
    assert "Use 24-hour HH:MM, for example /weathertime 07:30" in answer.plain
    assert "comes at 08:00" in (await english_reader.says("/weathertime")).plain


# --- the rest of the bot knows about the weather -------------------------------------------------


async def test_help_and_menu_list_the_weather_commands(app, english_reader: Reader, reader: Reader, telegram):
    for who in (english_reader, reader):
        answer = (await who.says("/help")).plain
        for command in ("/province", "/weather", "/weathertime"):
            assert answer.count(command + " — ") == 1
    assert {"province", "weather", "weathertime"} <= {
        c["command"] for c in telegram.get_commands(language_code="tr")
    }


async def test_welcome_mentions_the_morning_weather(app, english_reader: Reader):
    assert "your province's weather every morning" in (await english_reader.says("/start")).plain


def test_every_wmo_code_has_words_in_both_languages_and_an_emoji():
    renderer = Renderer()
    assert set(WMO_CODES) == {
        0,
        1,
        2,
        3,
        45,
        48,
        51,
        53,
        55,
        56,
        57,
        61,
        63,
        65,
        66,
        67,
        71,
        73,
        75,
        77,
        80,
        81,
        82,
        85,
        86,
        95,
        96,
        99,
    }
    unknown = {lang: renderer.label(lang, "wmo", 12345) for lang in ("tr", "en")}
    for code in WMO_CODES:
        for lang in ("tr", "en"):
            words = renderer.label(lang, "wmo", code)
            assert words and words != unknown[lang], (code, lang)
        assert weather_emoji(code) != weather_emoji(None), code
    assert renderer.label("en", "wmo", 95) == "Thunderstorm"
    assert renderer.label("tr", "wmo", 0) == "Açık"


def _emoji(index: int) -> str:
    return weather_emoji(code_for(index))
