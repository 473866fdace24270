"""Drawing the weather map and the operators' /stats chart: time (wall and CPU) and PNG size.

.venv/bin/python bench/weather_map.py [READERS] [RUNS]

The map: the boundaries' first-use projection, then RUNS renders of today's map without and with a
province outlined (targets: under 1 s, under 300 KB). The chart: a database of READERS active
subscribers (default 100,000) with 30 days of subscriber events, 48 hours of send counts and a broadcast
to all of them half done; gathering the chart's data and drawing it, RUNS times (target: under 1 s).
Wall time on a shared machine includes waiting for a core; CPU time is this process's own work.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

from bot.drafts import make_draft
from bot.publishing import publish
from bot.render import Renderer
from bot.stats.chart import render_chart
from bot.stats.charts import StatsCharts
from bot.weather import map as weather_map
from bot.weather.provinces import PROVINCES
from storage import Store

DAY = date(2026, 7, 21)


def timed(work: Callable[[], object]) -> tuple[float, float, object]:
    """(wall seconds, CPU seconds, result) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def summary(samples: list[tuple[float, float]]) -> str:
    walls, cpus = [s[0] for s in samples], [s[1] for s in samples]
    return (
        f"wall median {statistics.median(walls) * 1000:.0f} ms (max {max(walls) * 1000:.0f}), "
        f"CPU median {statistics.median(cpus) * 1000:.0f} ms"
    )


def bench_map(runs: int) -> None:
    rng = random.Random(7)
    maxima = {p.plate: round(rng.uniform(18, 44), 1) for p in PROVINCES}  # a July day
    wall, cpu, _ = timed(weather_map.geometry)
    print(f"map: boundaries read and projected once: {wall * 1000:.0f} ms wall, {cpu * 1000:.0f} ms CPU")
    wall, cpu, first = timed(lambda: weather_map.render_map(DAY, maxima))
    print(
        f"map: first render (font cache, glyph outlines): {wall * 1000:.0f} ms wall, {cpu * 1000:.0f} ms CPU"
    )
    for home in (None, 34):
        samples, sizes = [], []
        for i in range(runs):
            outlined = home if home is None else PROVINCES[(i * 7) % len(PROVINCES)].plate
            wall, cpu, image = timed(lambda o=outlined: weather_map.render_map(DAY, maxima, home=o))
            samples.append((wall, cpu))
            sizes.append(len(image.png))
        what = "without outline" if home is None else "a province outlined"
        print(
            f"map {what}: {summary(samples)}; PNG {min(sizes) / 1024:.0f}-{max(sizes) / 1024:.0f} KB, "
            f"{first.width}x{first.height}, {len(first.labelled)} of 81 provinces labelled"
        )


async def bench_chart(readers: int, runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = await Store.open(Path(tmp) / "bench.db")
        rng = random.Random(3)
        now = time.time()
        await store.db.executemany(
            "INSERT INTO chats (chat_id, language_code, subscribed) VALUES (?, 'tr', 1)",
            [(i,) for i in range(1, readers + 1)],
        )
        await store.db.execute("DELETE FROM chat_event_hours")  # the inserts' own: spread over 31 days
        this_hour = int(now // 3600) * 3600
        await store.db.executemany(
            "INSERT INTO chat_event_hours (hour, kind, count) VALUES (?, ?, ?)",
            [
                (this_hour - h * 3600, kind, rng.randint(0, readers // 2000))
                for h in range(31 * 24)
                for kind in ("joined", "left", "blocked")
            ],
        )
        await store.db.execute("UPDATE schema_migrations SET applied_at = '2020-01-01T00:00:00Z'")
        for hour in range(60):
            await store.stats.add_send_counts(
                now - hour * 3600, rng.randint(0, 100_000), rng.choice((0, 0, 2))
            )
        draft = make_draft(
            title="Bakanlıktan açıklama",
            body="Metin. " * 50,
            published=datetime.now(UTC),
            source="import",
            url="https://example.com/1",
        )
        await publish(store, draft)
        [status] = await store.stats.broadcasts_in_progress(1)
        while not await store.outbox.fill(status.broadcast_id):
            pass
        await store.db.execute(
            "UPDATE deliveries SET status = 'sent', finished_at = ? WHERE chat_id <= ?", (now, readers // 2)
        )
        charts = StatsCharts(store, Renderer())
        labels = charts.labels("en")
        samples, gathers, draws, size = [], [], [], 0
        for _ in range(runs):
            wall, cpu = time.perf_counter(), time.process_time()
            data = await charts.chart_data()
            gathered = time.perf_counter() - wall, time.process_time() - cpu
            draw_wall, draw_cpu, png = timed(lambda d=data: render_chart(d, labels))
            size = len(png)
            gathers.append(gathered)
            draws.append((draw_wall, draw_cpu))
            samples.append((gathered[0] + draw_wall, gathered[1] + draw_cpu))
        print(f"/stats chart, {readers:,} readers: data {summary(gathers)}")
        print(f"/stats chart, {readers:,} readers: drawing {summary(draws)}; PNG {size / 1024:.0f} KB")
        print(f"/stats chart, {readers:,} readers: in all {summary(samples)}")
        await store.close()


def main() -> None:
    readers = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    bench_map(runs)
    asyncio.run(bench_chart(readers, runs))


if __name__ == "__main__":
    main()
