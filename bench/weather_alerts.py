"""How long a forecast refresh that raises severe-weather alerts takes to queue them, at outlet scale.

.venv/bin/python bench/weather_alerts.py [READERS] [PROVINCES]

READERS (default 100,000) readers, all living in the PROVINCES (default 20) whose forecast for tomorrow shows
thunderstorms and gusts of 80 km/h; a quarter of them are in their quiet hours (22:00-07:00) at the refresh,
06:00 Istanbul time. The refresh runs against a local fake Open-Meteo (tests/weather/support.py): fetch,
check, store, find the severe weather, queue one alert broadcast per province with every reader's delivery
(silent during quiet hours) in one transaction. A second refresh with the same findings queues nothing.
"""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the fake Open-Meteo lives in tests/

from bot.render import Renderer
from bot.weather.provinces import PROVINCES
from bot.weather.service import WeatherService
from storage import Store
from tests.weather.support import FakeClock, FakeOpenMeteo

DAY = date(2026, 3, 10)


async def main(readers: int, provinces: int) -> None:
    clock = FakeClock(datetime(2000, 1, 1, tzinfo=UTC))
    clock.set_istanbul(DAY, "06:00")
    alerted = [p.plate for p in random.Random(7).sample(PROVINCES, provinces)]
    with tempfile.TemporaryDirectory() as tmp:
        store = await Store.open(Path(tmp) / "bench.db")
        rng = random.Random(1)
        await store.db.executemany(
            "INSERT INTO chats (chat_id, province, quiet_start, quiet_end) VALUES (?, ?, ?, ?)",
            [
                (i, rng.choice(alerted), *((22 * 60, 7 * 60) if rng.random() < 0.25 else (None, None)))
                for i in range(1, readers + 1)
            ],
        )
        async with FakeOpenMeteo(DAY, clock=clock) as open_meteo:
            for plate in alerted:
                open_meteo.set_day(plate, DAY + timedelta(days=1), weather_code=95, wind_gusts_10m_max=80.0)
            service = WeatherService(store, Renderer(), open_meteo.url, clock=clock)
            timings: dict[str, float] = {}
            raise_alerts = store.weather.raise_alerts

            async def timed_raise(*args: object, **kwargs: object) -> object:
                started = time.perf_counter()
                try:
                    return await raise_alerts(*args, **kwargs)  # type: ignore[arg-type]
                finally:
                    timings["raise"] = time.perf_counter() - started

            store.weather.raise_alerts = timed_raise  # type: ignore[method-assign]
            started = time.perf_counter()
            assert await service.refresh_if_due()
            refresh_s = time.perf_counter() - started
            first_raise_s = timings["raise"]
            deliveries, silent = await _counts(store)
            broadcasts = await store.db.fetchval(
                "SELECT count(*) FROM broadcasts WHERE kind = 'weather_alert'"
            )

            clock.advance(hours=3)
            started = time.perf_counter()
            assert await service.refresh_if_due()
            again_s = time.perf_counter() - started
            again_raise_ms = timings["raise"] * 1000
            again = (await _counts(store))[0] - deliveries
            requests = len(open_meteo.requests)
            await service.close()
        await store.close()
    print(
        f"refresh raising alerts in {provinces} provinces for {readers} readers: {refresh_s:.2f} s in all "
        f"(fetch, check, store, alerts); queueing the alerts {first_raise_s:.2f} s: {broadcasts} broadcasts, "
        f"{deliveries} deliveries, {silent} silent (quiet hours)"
    )
    print(
        f"next refresh, same findings: {again_s:.2f} s in all, alerts step {again_raise_ms:.1f} ms, "
        f"{again} new deliveries; {requests} Open-Meteo requests for 2 refreshes"
    )


async def _counts(store: Store) -> tuple[int, int]:
    row = await store.db.fetchone(
        "SELECT count(*), coalesce(sum(d.silent), 0) FROM deliveries d "
        "JOIN broadcasts b ON b.id = d.broadcast_id WHERE b.kind = 'weather_alert'"
    )
    assert row is not None
    return row[0], row[1]


if __name__ == "__main__":
    asyncio.run(
        main(
            int(sys.argv[1]) if len(sys.argv) > 1 else 100_000,
            int(sys.argv[2]) if len(sys.argv) > 2 else 20,
        )
    )
