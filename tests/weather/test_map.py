"""The map of Turkey: a PNG coloured by its legend, drawn once per forecast, uploaded once, then file_id."""

from __future__ import annotations

import asyncio
import io
import threading
from dataclasses import replace
from datetime import timedelta

import pytest
from PIL import Image

from bot.weather.map import HEIGHT, WIDTH, render_map, temperature_colour
from bot.weather.maps import WeatherMaps, map_version
from bot.weather.provinces import PROVINCES, by_plate
from bot.weather.pushtime import parse_switch
from bot.weather.service import WeatherService
from tests.conversation import Reader, buttons
from tests.fake_telegram import FakeBotAPI, SentMessage
from tests.weather.conftest import DAY
from tests.weather.support import FakeClock, eventually, running_at

# Large inland provinces whose centre (provinces.csv) lies well inside them, away from coasts and lakes.
INLAND = (6, 42, 58, 25, 38, 26, 21, 66, 3, 40, 19, 44, 23, 50)
MAP_BUTTON = "🗺 Map of Turkey"


def photos(telegram: FakeBotAPI, chat_id: int) -> list[SentMessage]:
    return [m for m in telegram.messages_to(chat_id) if m.method == "sendPhoto"]


def rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def maps_of(app) -> WeatherMaps:
    maps = app.bot_data.weather_maps
    assert maps is not None
    return maps


async def shift_today(app, degrees: float, hours: float = 0.0) -> None:
    """Store today's forecasts again, `degrees` warmer and fetched `hours` later, as a refresh would."""
    store = app.bot_data.store
    forecasts = [await store.weather.forecast(p.plate, DAY) for p in PROVINCES]
    await store.weather.save_forecasts(
        [
            replace(f, temp_max=f.temp_max + degrees, fetched_at=f.fetched_at + timedelta(hours=hours))
            for f in forecasts
            if f is not None
        ],
        keep_from=DAY - timedelta(days=1),
    )


# --- the picture -----------------------------------------------------------------------------------


async def test_the_map_is_a_png_of_the_promised_size_whose_provinces_have_their_legend_colour(
    weather: WeatherService, app, english_reader: Reader, telegram: FakeBotAPI
):
    answers = await english_reader.send("/weather map")
    assert [a.method for a in answers] == ["sendPhoto"]
    assert answers[0].uploaded
    assert "Weather data by Open-Meteo.com" in answers[0].plain
    assert "OpenStreetMap contributors" in answers[0].plain
    png = telegram.uploads[-1].data
    image = Image.open(io.BytesIO(png))
    assert (image.format, image.size) == ("PNG", (WIDTH, HEIGHT))
    image = image.convert("RGB")

    maxima = (await app.bot_data.store.maps.day_maxima(DAY)).maxima
    drawn = render_map(DAY, maxima)
    assert drawn.png == png  # the picture sent is the one drawn from the stored forecasts
    assert len(drawn.labelled) >= 60  # temperatures on the provinces they fit in

    legend = {image.getpixel((x, drawn.legend_row)) for x in range(WIDTH)}
    checked = set()
    for plate in INLAND:
        province = by_plate(plate)
        column, row = drawn.pixel(province.latitude, province.longitude)
        boxes = drawn.label_boxes
        if any(x0 - 2 <= column <= x1 + 2 and y0 - 2 <= row <= y1 + 2 for x0, y0, x1, y1 in boxes):
            continue  # the temperature is written over the centre
        expected = rgb(temperature_colour(maxima[plate]))
        assert image.getpixel((column, row)) == expected, province.name
        assert expected in legend, f"{province.name}'s colour is not in the legend"
        checked.add(expected)
    assert len(checked) >= 4  # several provinces, in different colours


def test_the_colour_scale_is_the_same_every_day_and_rounds_like_the_label():
    assert temperature_colour(20.4) == temperature_colour(20.0) == temperature_colour(21.0)
    assert temperature_colour(21.6) == temperature_colour(22.0) != temperature_colour(20.0)
    assert temperature_colour(-0.4) == temperature_colour(0.0)
    assert temperature_colour(-80.0) == temperature_colour(-40.0)  # the scale's ends hold
    assert temperature_colour(None) not in {temperature_colour(t) for t in range(-40, 53)}


def test_the_home_province_is_outlined():
    maxima = {p.plate: 20.0 for p in PROVINCES}
    plain, outlined = render_map(DAY, maxima), render_map(DAY, maxima, home=42)
    assert plain.png != outlined.png
    konya = by_plate(42)
    column, row = plain.pixel(konya.latitude, konya.longitude)
    a = Image.open(io.BytesIO(plain.png)).convert("RGB")
    b = Image.open(io.BytesIO(outlined.png)).convert("RGB")
    # Far from Konya the pictures are the same; the outline changes pixels around Konya only.
    assert a.crop((1000, 100, 1200, 300)).tobytes() == b.crop((1000, 100, 1200, 300)).tobytes()
    around = (column - 120, row - 120, column + 120, row + 120)
    assert a.crop(around).tobytes() != b.crop(around).tobytes()


def test_equal_pictures_share_a_version():
    maxima = {p.plate: 20.2 for p in PROVINCES}
    assert map_version(DAY, maxima) == map_version(DAY, {**maxima, 6: 19.6})  # both written as 20°
    assert map_version(DAY, maxima) != map_version(DAY, {**maxima, 6: 21.0})
    assert map_version(DAY, maxima) != map_version(DAY + timedelta(days=1), maxima)


async def test_drawing_happens_in_a_worker_thread(weather: WeatherService, app):
    threads = []

    def spy(*args, **kwargs):
        threads.append(threading.current_thread())
        return render_map(*args, **kwargs)

    maps = WeatherMaps(app.bot_data.store, app.bot_data.renderer, clock=weather.clock, render=spy)
    assert await maps.prepare()
    assert threads and threads[0] is not threading.main_thread()


# --- drawn once, uploaded once -----------------------------------------------------------------------


async def test_one_render_per_refresh_one_upload_then_file_id(
    weather: WeatherService, app, telegram: FakeBotAPI
):
    maps = maps_of(app)
    await maps.prepare()  # what the refresh job does after every refresh (it may have done it already)
    assert maps.renders == 1

    readers = [Reader(app, telegram, 3000 + i, language_code="en") for i in range(4)]
    for reader in readers:
        await reader.says("/weather map")
    sent = [photos(telegram, reader.chat_id)[-1] for reader in readers]
    assert [m.uploaded for m in sent] == [True, False, False, False]
    assert len({m.file_id for m in sent}) == 1
    assert [m.params["photo"] for m in sent[1:]] == [sent[0].file_id] * 3
    assert (maps.renders, maps.uploads, len(telegram.uploads)) == (1, 1, 1)

    # Readers of one province get it outlined: drawn and uploaded once for all of them.
    for reader in readers[:2]:
        await reader.says("/province Ankara")
        await reader.says("/weather map")
    assert (maps.renders, maps.uploads) == (2, 2)
    ankara = [photos(telegram, reader.chat_id)[-1] for reader in readers[:2]]
    assert ankara[0].file_id == ankara[1].file_id != sent[0].file_id

    # A refresh that changes the temperatures: drawn again, once; one that changes nothing: not at all.
    await shift_today(app, 3.0, hours=3)
    assert await maps.prepare()
    assert not await maps.prepare()
    assert maps.renders == 3
    await readers[3].says("/weather map")
    assert photos(telegram, readers[3].chat_id)[-1].uploaded
    await shift_today(app, 0.0, hours=3)
    assert not await maps.prepare()
    assert maps.renders == 3


async def test_readers_asking_at_once_share_one_upload(weather: WeatherService, app, telegram):
    readers = [Reader(app, telegram, 3100 + i, language_code="en") for i in range(5)]
    await asyncio.gather(*(reader.send("/weather map") for reader in readers))
    assert len(telegram.uploads) == 1
    assert all(len(photos(telegram, r.chat_id)) == 1 for r in readers)


async def test_a_restart_sends_the_stored_file_id_without_drawing(
    weather: WeatherService, app, settings, clock: FakeClock, telegram: FakeBotAPI
):
    reader = Reader(app, telegram, 3200, language_code="en")
    await reader.says("/weather map")
    first = photos(telegram, 3200)[-1]
    assert first.uploaded
    await app.bot_data.weather_maps.prepare()
    await app.stop()  # the fixture's teardown copes with an application already stopped

    async with running_at(settings, clock) as again:
        maps = maps_of(again)
        assert not await maps.prepare()
        await Reader(again, telegram, 3201, language_code="en").says("/weather map")
        second = photos(telegram, 3201)[-1]
        assert not second.uploaded
        assert second.file_id == first.file_id
        assert (maps.renders, maps.uploads) == (0, 0)


async def test_a_file_id_telegram_does_not_know_is_uploaded_again(
    weather: WeatherService, app, settings, clock: FakeClock, telegram: FakeBotAPI
):
    await Reader(app, telegram, 3300, language_code="en").says("/weather map")
    await app.stop()
    async with (
        FakeBotAPI(token=settings.token, bot_username="other_bot") as other,  # another bot's files
        running_at(replace(settings, bot_api_url=other.base_url), clock) as again,
    ):
        answers = await Reader(again, other, 3301, language_code="en").send("/weather map")
        assert [a.uploaded for a in answers] == [True]
        refused = [r.description for r in other.requests if r.method == "sendPhoto" and r.status == 400]
        # Once: the start's own look-up of the map (refresh job) may read the old file_id just before the
        # reply forgets it, and must not hand it to the reply for a second try.
        assert refused == ["Bad Request: wrong file identifier/HTTP URL specified"]
        assert maps_of(again).uploads == 1
        await Reader(again, other, 3302, language_code="en").says("/weather map")
        assert not photos(other, 3302)[-1].uploaded


# --- asking for it ------------------------------------------------------------------------------------


async def test_the_button_under_the_forecast_sends_the_map_with_that_province_outlined(
    weather: WeatherService, app, english_reader: Reader, telegram
):
    await english_reader.says("/province Ankara")
    forecast = await english_reader.says("/weather")
    assert MAP_BUTTON in [b["text"] for b in buttons(forecast)]
    answers = await english_reader.presses(MAP_BUTTON, on=forecast)
    assert [a.method for a in answers] == ["sendPhoto"]
    assert "Ankara outlined" in answers[0].plain
    maxima = (await app.bot_data.store.maps.day_maxima(DAY)).maxima
    assert telegram.uploads[-1].data == render_map(DAY, maxima, home=6).png

    other = await english_reader.says("/weather İzmir")  # the button under İzmir's forecast: İzmir
    assert "İzmir outlined" in (await english_reader.presses(MAP_BUTTON, on=other))[0].plain


async def test_weather_map_in_turkish_and_with_a_province(weather: WeatherService, app, reader: Reader):
    answer = await reader.says("/weather harita")
    assert answer.method == "sendPhoto"
    assert "bugünün en yüksek sıcaklıkları" in answer.plain
    assert "çerçeveli" not in answer.plain  # no home province yet
    assert "İzmir çerçeveli" in (await reader.says("/weather map izmir")).plain
    assert "Kırşehir" in [b["text"] for b in buttons(await reader.says("/weather map Kır"))]
    assert (await reader.says("/weather map xyzzy")).method == "sendMessage"


async def test_without_todays_forecast_the_reader_is_told(
    weather: WeatherService, app, english_reader: Reader, clock: FakeClock, open_meteo
):
    open_meteo.mode = "error"
    clock.set_istanbul(DAY + timedelta(days=5), "09:00")
    answer = await english_reader.says("/weather map")
    assert answer.method == "sendMessage"
    assert "There is no map right now" in answer.plain


async def test_a_stale_map_says_how_old_it_is(weather: WeatherService, app, english_reader: Reader, clock):
    clock.advance(hours=5)
    assert "Updated 5 hours ago" in (await english_reader.says("/weather map")).plain


# --- the morning map ------------------------------------------------------------------------------------


SWITCHES = [("on", True), ("aç", True), ("AÇ", True), ("off", False), ("kapat", False), ("x", None)]


@pytest.mark.parametrize(("typed", "choice"), SWITCHES)
def test_parse_switch(typed: str, choice: bool | None):
    assert parse_switch(typed) is choice


async def test_weathermap_choice(weather: WeatherService, app, english_reader: Reader, reader: Reader):
    assert "text only" in (await english_reader.says("/weathermap")).plain
    answer = await english_reader.says("/weathermap on")
    assert "comes with the temperature map" in answer.plain
    assert "Choose your home province" in answer.plain
    assert await app.bot_data.store.maps.wants_map(english_reader.chat_id)
    assert "not a choice I understand" in (await english_reader.says("/weathermap sometimes")).plain
    assert "comes with the temperature map" in (await english_reader.says("/weathermap")).plain
    assert "text only" in (await english_reader.says("/weathermap off")).plain
    assert not await app.bot_data.store.maps.wants_map(english_reader.chat_id)
    assert "haritasıyla gelir" in (await reader.says("/weathermap aç")).plain


async def test_the_morning_map_follows_the_text_for_readers_who_chose_it(
    weather: WeatherService, app, telegram: FakeBotAPI, clock: FakeClock
):
    telegram.limits.enabled = False
    with_map = Reader(app, telegram, 3400, language_code="en")
    text_only = Reader(app, telegram, 3401, language_code="en")
    for reader in (with_map, text_only):
        await reader.says("/province Ankara")
    await with_map.says("/weathermap on")
    maps = maps_of(app)
    clock.set_istanbul(DAY, "08:00")
    assert await weather.enqueue_due() == {6: 2}
    await maps.push_due(app.bot)  # before the text has gone out: nothing yet
    assert photos(telegram, with_map.chat_id) == []

    await eventually(lambda: _texts_sent(app))  # the delivery engine sends the morning texts
    await maps.push_due(app.bot)
    sent = telegram.messages_to(with_map.chat_id)
    assert [m.method for m in sent[-2:]] == ["sendMessage", "sendPhoto"]
    assert "Ankara outlined" in sent[-1].plain
    assert photos(telegram, text_only.chat_id) == []

    await maps.push_due(app.bot)  # once a day
    clock.set_istanbul(DAY, "12:00")
    await maps.push_due(app.bot)
    assert len(photos(telegram, with_map.chat_id)) == 1


async def _texts_sent(app) -> bool:
    sent = await app.bot_data.store.db.fetchval("SELECT count(*) FROM deliveries WHERE status = 'sent'")
    return sent == 2
