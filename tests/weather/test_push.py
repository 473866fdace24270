"""The morning push: queued in the outbox in its minute, once a day, caught up after a restart."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.weather.service import WeatherService
from storage import Store
from tests.conversation import Reader
from tests.telegram_html import validate_telegram_html
from tests.weather.conftest import DAY
from tests.weather.support import FakeClock, FakeOpenMeteo, eventually, running_at

TOMORROW = DAY + timedelta(days=1)


async def weather_deliveries(store) -> set[tuple[str, int]]:
    """(ref, chat_id) of every queued weather delivery."""
    rows = await store.db.fetchall(
        "SELECT b.ref, d.chat_id FROM deliveries d JOIN broadcasts b ON b.id = d.broadcast_id "
        "WHERE b.kind = 'weather'"
    )
    return {(row[0], row[1]) for row in rows}


async def reader_with(app, telegram, chat_id: int, province: str, time: str | None = None) -> Reader:
    reader = Reader(app, telegram, chat_id, language_code="en", first_name=f"R{chat_id}")
    await reader.says(f"/province {province}")
    if time is not None:
        await reader.says(f"/weathertime {time}")
    return reader


async def test_the_push_is_queued_in_its_minute_once_per_reader(
    weather: WeatherService, app, telegram, clock: FakeClock
):
    store = app.bot_data.store
    await reader_with(app, telegram, 1, "İstanbul")  # default 08:00
    await reader_with(app, telegram, 2, "34", "07:30")
    await reader_with(app, telegram, 3, "Ankara")
    await reader_with(app, telegram, 4, "İzmir", "off")
    await reader_with(app, telegram, 5, "Bursa")
    await store.chats.mark_reachable(5, False)  # blocked the bot
    await store.chats.touch(6, "private", "en")  # no province

    clock.set_istanbul(DAY, "07:29")
    assert await weather.enqueue_due() == {}
    clock.set_istanbul(DAY, "07:30")
    assert await weather.enqueue_due() == {34: 1}
    assert await weather_deliveries(store) == {("34:2026-03-10", 2)}
    clock.set_istanbul(DAY, "07:59")
    assert await weather.enqueue_due() == {}
    clock.set_istanbul(DAY, "08:00")
    assert await weather.enqueue_due() == {6: 1, 34: 1}
    clock.set_istanbul(DAY, "08:01")
    assert await weather.enqueue_due() == {}
    clock.set_istanbul(DAY, "23:59")
    assert await weather.enqueue_due() == {}
    assert await weather_deliveries(store) == {
        ("34:2026-03-10", 2),
        ("34:2026-03-10", 1),
        ("6:2026-03-10", 3),
    }

    clock.set_istanbul(TOMORROW, "08:00")  # yesterday's answer covers today as well
    assert await weather.enqueue_due() == {6: 1, 34: 2}
    assert await weather.enqueue_due() == {}
    assert len(await weather_deliveries(store)) == 6


async def test_a_reader_who_joins_after_their_time_gets_today_at_once_and_only_once(
    weather, app, telegram, clock
):
    clock.set_istanbul(DAY, "09:00")
    reader = await reader_with(app, telegram, 1, "Trabzon")
    replies = len(telegram.messages_to(1))
    assert await weather.enqueue_due() == {61: 1}
    *_, pushed = await telegram.wait_for_messages(replies + 1, chat_id=1)  # sent by the delivery engine
    assert "Trabzon" in pushed.plain and "Open-Meteo.com" in pushed.plain
    await reader.says("/weathertime 09:30")
    await reader.says("/province Rize")
    clock.set_istanbul(DAY, "09:30")
    assert await weather.enqueue_due() == {}
    clock.set_istanbul(TOMORROW, "09:29")
    assert await weather.enqueue_due() == {}
    clock.set_istanbul(TOMORROW, "09:30")
    assert await weather.enqueue_due() == {53: 1}
    assert await weather_deliveries(app.bot_data.store) == {("61:2026-03-10", 1), ("53:2026-03-11", 1)}


async def test_after_a_restart_the_missed_push_goes_out_once_the_same_day(
    settings, telegram, open_meteo: FakeOpenMeteo, clock: FakeClock
):
    async with running_at(settings, clock) as app:
        await app.bot_data.weather.refresh_if_due()
        await reader_with(app, telegram, 1, "Konya")  # 08:00
        await reader_with(app, telegram, 2, "Konya", "11:00")
    # the bot is down from 06:00 until 10:15
    clock.set_istanbul(DAY, "10:15")
    async with running_at(settings, clock) as app:
        store = app.bot_data.store
        assert await eventually(lambda: weather_deliveries(store)) == {("42:2026-03-10", 1)}
        await eventually(lambda: _ran(app))
    clock.set_istanbul(DAY, "10:20")  # and again: nothing twice
    async with running_at(settings, clock) as app:
        await eventually(lambda: _ran(app))
    # stopping waited for the start-up jobs to finish
    store = await Store.open(settings.database)
    try:
        assert await weather_deliveries(store) == {("42:2026-03-10", 1)}
    finally:
        await store.close()
    clock.set_istanbul(DAY, "11:00")
    async with running_at(settings, clock) as app:
        await eventually(lambda: _ran(app))
    store = await Store.open(settings.database)
    try:
        assert await weather_deliveries(store) == {("42:2026-03-10", 1), ("42:2026-03-10", 2)}
    finally:
        await store.close()


async def _ran(app) -> bool:
    """The start-up jobs have run (neither is scheduled as a one-off any more)."""
    return all("date" not in str(job.trigger) for job in app.job_queue.jobs())


async def test_a_province_without_any_forecast_waits_until_one_arrives(
    settings, telegram, open_meteo: FakeOpenMeteo, clock: FakeClock
):
    open_meteo.mode = "error"
    async with running_at(settings, clock) as app:
        await eventually(lambda: _ran(app))
        await reader_with(app, telegram, 1, "Van")
        weather = app.bot_data.weather
        clock.set_istanbul(DAY, "08:00")
        assert await weather.refresh_if_due() is False
        assert await weather.enqueue_due() == {}
        open_meteo.mode = "ok"
        clock.set_istanbul(DAY, "08:05")
        assert await weather.refresh_if_due() is True
        assert await weather.enqueue_due() == {65: 1}


# --- what the delivery engine will send ----------------------------------------------------------


@pytest.mark.parametrize("lang", ["tr", "en"])
async def test_render_broadcast_is_valid_telegram_html_with_the_credit(weather, lang: str):
    message = await weather.render_broadcast("34:2026-03-10", lang)
    assert message is not None
    validate_telegram_html(message.text)
    assert "İstanbul" in message.text
    assert '<a href="https://open-meteo.com/">Weather data by Open-Meteo.com</a>' in message.text
    assert await weather.render_broadcast("34:2026-03-10", lang) is message  # rendered once
    tomorrow = await weather.render_broadcast("34:2026-03-11", lang)
    assert tomorrow is not None and tomorrow.text != message.text


@pytest.mark.parametrize(
    "ref", ["", "34", "34:", "0:2026-03-10", "82:2026-03-10", "34:2026-13-40", "x:y", "34:2020-01-01"]
)
async def test_render_broadcast_refuses_refs_it_cannot_serve(weather, ref: str):
    assert await weather.render_broadcast(ref, "en") is None


async def test_render_broadcast_says_how_old_a_stale_forecast_is(weather, open_meteo, clock):
    open_meteo.mode = "error"
    clock.set_istanbul(DAY, "15:00")
    assert await weather.refresh_if_due() is False
    message = await weather.render_broadcast("6:2026-03-10", "en")
    assert message is not None and "Updated 9 hours ago" in message.text
    validate_telegram_html(message.text)


async def test_both_jobs_run_at_start_and_then_every_minute(settings, clock, open_meteo):
    async with running_at(settings, clock) as app:
        await eventually(lambda: _ran(app))
        jobs = {job.name: job for job in app.job_queue.jobs() if job.name.startswith("weather-")}
    assert set(jobs) == {"weather-refresh", "weather-push"}
    assert all(job.trigger.interval.total_seconds() == 60 for job in jobs.values())
    assert len(open_meteo.requests) == 1  # the start-up refresh, finished before stop returned
