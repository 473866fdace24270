"""Does the database stop growing? 60 simulated days of deliveries, pruned once a day with a moved clock.

.venv/bin/python bench/retention.py [--days 60] [--subscribers 100000] [--articles 20] [--retention 14]

Every simulated day queues `--articles` articles and the 81 morning forecasts to every subscriber, written
directly as finished deliveries (1 in 50 failed with Telegram's "blocked" error) with the finished_at they
would have had at 30 msg/s, then runs one production retention pass (bot/maintenance.py, default options)
with `now` at the end of that day. Meanwhile a reader asks the database something every 10 ms through the
same connection, as a handler would, and the longest wait is reported. Prints the file sizes day by day,
then the pass at the last day.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bot.maintenance import DAY, RetentionOptions, RetentionReport, prune
from storage import Store

START = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
RATE = 30.0  # messages per second: when each delivery finishes after its broadcast starts
FIRST_CHAT = 100_000_000
BLOCKED = "Forbidden: bot was blocked by the user"


async def add_readers(store: Store, subscribers: int) -> None:
    """Active private chats, each with a home province for the morning forecast."""
    await store.db.execute(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?) "
        "INSERT INTO chats (chat_id, chat_type, language_code, subscribed, province) "
        "SELECT ? + i, 'private', 'tr', 1, i % 81 + 1 FROM n",
        (subscribers, FIRST_CHAT),
    )


async def broadcast(store: Store, kind: str, ref: str, at: float, audience: str) -> int:
    """One broadcast sent to its whole audience, finished as the engine would have recorded it."""
    async with store.db.transaction() as tx:
        broadcast_id = await tx.insert(
            "INSERT INTO broadcasts (kind, ref, created_at) "
            "VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%SZ', ?, 'unixepoch'))",
            (kind, ref, at),
        )
        # As the engine leaves them: claimed a moment before the send, finished_at when it completed.
        added = await tx.execute(
            "INSERT INTO deliveries "
            "(broadcast_id, chat_id, status, attempts, error, claimed_at, finished_at) "
            "SELECT ?, chat_id, CASE WHEN chat_id % 50 = 0 THEN 'failed' ELSE 'sent' END, 1, "
            f" CASE WHEN chat_id % 50 = 0 THEN '{BLOCKED}' END, at - 0.2, at FROM ("
            "  SELECT chat_id, ? + row_number() OVER (ORDER BY chat_id) / ? AS at FROM chats"
            f"  WHERE subscribed = 1 AND reachable = 1 AND {audience}) ORDER BY chat_id",
            (broadcast_id, at, RATE),
        )
        await tx.execute("UPDATE broadcasts SET total = ? WHERE id = ?", (added, broadcast_id))
        return added


async def simulate_day(store: Store, day: int, articles: int) -> int:
    """Day `day` (1-based): the morning forecasts at 05:00 UTC (08:00 Istanbul), articles through the day."""
    midnight = START + (day - 1) * DAY
    rows = 0
    for plate in range(1, 82):
        rows += await broadcast(
            store, "weather", f"{plate}:{day}", midnight + 5 * 3600, f"province = {plate}"
        )
    for n in range(articles):
        at = midnight + 6 * 3600 + n * (17 * 3600 / max(articles, 1))
        rows += await broadcast(store, "article", f"{day}-{n}", at, "1")
    return rows


def sizes(path: Path) -> tuple[float, float]:
    """Database and WAL file sizes in MB."""
    wal = path.with_name(path.name + "-wal")
    return path.stat().st_size / 1e6, (wal.stat().st_size / 1e6 if wal.exists() else 0.0)


async def probe(store: Store, waits: list[float], stop: asyncio.Event) -> None:
    """A reader: one small query every 10 ms, timed from asking to answer."""
    while not stop.is_set():
        asked = time.perf_counter()
        await store.db.fetchval("SELECT language_code FROM chats WHERE chat_id = ?", (FIRST_CHAT + 7,))
        waits.append(time.perf_counter() - asked)
        await asyncio.sleep(0.01)


def percentile(values: list[float], share: float) -> float:
    """The value below which `share` of the values lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


async def main(args: argparse.Namespace) -> None:
    options = RetentionOptions(days=args.retention)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / "bench.db"
        store = await Store.open(path)
        await add_readers(store, args.subscribers)
        print(
            f"{args.subscribers} subscribers, {args.articles} articles and 81 forecasts a day, "
            f"retention {args.retention} days, {options.batch_rows} deliveries per transaction"
        )
        print(
            "day  deliveries  inserted    pass  writing  write p50  p99  longest  reader p99  max"
            "  db MB  wal MB"
        )
        marks: dict[int, tuple[float, float]] = {}
        report: RetentionReport | None = None
        all_writes: list[float] = []
        all_waits: list[float] = []
        for day in range(1, args.days + 1):
            inserted = await simulate_day(store, day, args.articles)
            writes: list[float] = []

            async def rest(seconds: float, writes: list[float] = writes) -> None:
                # The pass rests as long as each write transaction took (rest = 1.0): that is its duration.
                writes.append(seconds)
                await asyncio.sleep(seconds)

            waits: list[float] = []
            stop = asyncio.Event()
            reader = asyncio.create_task(probe(store, waits, stop))
            report = await prune(store, options, now=START + day * DAY, sleep=rest)
            stop.set()
            await reader
            if report.deleted:
                all_writes += writes
                all_waits += waits
            rows = await store.db.fetchval("SELECT count(*) FROM deliveries")
            db_mb, wal_mb = sizes(path)
            marks[day] = (db_mb, wal_mb)
            ms = [
                percentile(writes, 0.5) * 1000,
                percentile(writes, 0.99) * 1000,
                report.longest_write * 1000,
                percentile(waits, 0.99) * 1000,
                max(waits) * 1000,
            ]
            print(
                f"{day:3d} {rows:11d} {inserted:9d} {report.seconds:6.1f}s {report.write_seconds:7.1f}s "
                "{:8.0f}ms {:4.0f} {:6.0f}ms {:8.0f}ms {:4.0f}ms".format(*ms)
                + f" {db_mb:6.0f} {wal_mb:7.0f}",
                flush=True,
            )
        assert report is not None
        archive = await store.retention.archive()
        pages = await store.retention.pages()
        await store.close()
    print()
    print(report.summary())
    if archive is not None:
        print(
            f"daily counts kept: {archive.first_day} to {archive.last_day}, sent {archive.sent}, "
            f"failed {archive.failed}"
        )
    print(f"free pages left: {pages.freelist_count} of {pages.page_count}")
    if all_writes:
        print(
            f"over every pass that pruned: {len(all_writes)} write transactions, p50 "
            f"{percentile(all_writes, 0.5) * 1000:.0f} ms, p99 {percentile(all_writes, 0.99) * 1000:.0f} ms, "
            f"longest {max(all_writes) * 1000:.0f} ms; reader waits p99 "
            f"{percentile(all_waits, 0.99) * 1000:.0f} ms, longest {max(all_waits) * 1000:.0f} ms"
        )
    check = min(args.retention, args.days)
    first, last = marks[check][0], marks[args.days][0]
    print(
        f"database file at day {check}: {first:.0f} MB; at day {args.days}: {last:.0f} MB "
        f"({(last / first - 1) * 100:+.1f} %)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--articles", type=int, default=20)
    parser.add_argument("--retention", type=int, default=14)
    parser.add_argument(
        "--dir", default=None, help="where the temporary database goes (default: system temp)"
    )
    asyncio.run(main(parser.parse_args()))
