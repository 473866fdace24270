"""How long the morning push takes to queue, and one Open-Meteo answer to check, at outlet scale.

.venv/bin/python bench/weather_push.py [READERS]
"""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

from bot.clock import ISTANBUL
from bot.render import Renderer
from bot.weather.openmeteo import parse_weather
from bot.weather.provinces import PROVINCES
from bot.weather.service import WeatherService
from storage import Store

DAY = date(2026, 3, 10)


def answer() -> list[dict]:
    """An Open-Meteo answer for the 81 provinces: conditions now and three days each."""
    return [
        {
            "latitude": p.latitude,
            "longitude": p.longitude,
            "current": {
                "time": "2026-03-10T06:00",
                "interval": 900,
                "temperature_2m": 9.4,
                "weather_code": 2,
            },
            "daily": {
                "time": [DAY.isoformat(), "2026-03-11", "2026-03-12"],
                "temperature_2m_max": [14.2, 15.0, 16.1],
                "temperature_2m_min": [5.1, 6.0, 7.3],
                "weather_code": [61, 3, 2],
                "precipitation_probability_max": [70, 20, 5],
                "precipitation_sum": [4.2, 0.3, 0.0],
                "wind_gusts_10m_max": [35.0, 22.1, 18.0],
            },
        }
        for p in PROVINCES
    ]


async def main(readers: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = await Store.open(Path(tmp) / "bench.db")
        rng = random.Random(1)
        await store.db.executemany(
            "INSERT INTO chats (chat_id, province, weather_time) VALUES (?, ?, ?)",
            [
                (i, rng.randint(1, 81), f"0{rng.randint(7, 8)}:{rng.choice(('00', '30'))}")
                for i in range(readers)
            ],
        )
        fetched = datetime(2026, 3, 10, 3, 0, tzinfo=UTC)
        started = time.perf_counter()
        for _ in range(100):
            report = parse_weather(answer(), PROVINCES, fetched)
        parse_ms = (time.perf_counter() - started) * 10
        await store.weather.save_forecasts(report.forecasts, keep_from=DAY, current=report.current)

        clock_at = datetime(2026, 3, 10, 9, 0, tzinfo=ISTANBUL)
        service = WeatherService(store, Renderer(), "http://127.0.0.1:9/", clock=lambda: clock_at)
        started = time.perf_counter()
        queued = await service.enqueue_due()
        enqueue_s = time.perf_counter() - started
        started = time.perf_counter()
        again = await service.enqueue_due()
        idle_ms = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        for p in PROVINCES:
            for lang in ("tr", "en"):
                await service.render_broadcast(f"{p.plate}:{DAY}", lang)
        render_ms = (time.perf_counter() - started) * 1000
        deliveries = await store.db.fetchval("SELECT count(*) FROM deliveries")
        await store.close()
    print(f"parse+validate one 81-location answer: {parse_ms:.2f} ms")
    print(
        f"enqueue_due for {readers} due readers: {enqueue_s:.2f} s, {len(queued)} broadcasts, "
        f"{deliveries} deliveries; next run, nothing due: {idle_ms:.1f} ms ({len(again)} queued)"
    )
    print(f"render_broadcast for 81 provinces x 2 languages: {render_ms:.1f} ms")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000))
