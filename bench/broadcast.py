"""Broadcast benchmark: the real bot against the fake Bot API running in its own process.

    python bench/broadcast.py limits            # (a) 3,000 subscribers, 150 ms per call, 30 msg/s limit
    python bench/broadcast.py paid              # (b) 50,000 subscribers, no latency, paid broadcast
    python bench/broadcast.py enqueue           # (c) queue one article for 1,000,000 subscribers
    python bench/broadcast.py limits --subscribers 500 --latency 0.2

It prints messages per second (end to end: from publish() to the last committed outcome, and sustained:
first to last send as the server saw them), the 429s the fake server answered, duplicates, and the peak
RSS of the bot process (resource.getrusage maxrss).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.app import build_application
from bot.drafts import make_draft
from bot.publishing import publish
from bot.settings import Settings
from storage import Store

TOKEN = "123456:BENCH-token"
OFFLINE_WEATHER_URL = "http://127.0.0.1:9/v1/forecast"  # benchmarks touch no network, weather stays off
MODES = {
    "limits": {"subscribers": 3_000, "latency": 0.15, "paid": False},
    "paid": {"subscribers": 50_000, "latency": 0.0, "paid": True},
    "enqueue": {"subscribers": 1_000_000, "latency": 0.0, "paid": False},
}


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """User + system CPU time of this process, to tell which side is the bottleneck."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ------------------------------------------------------------------ the fake server process


async def serve(port_file: Path, latency: float) -> None:
    """Run the fake Bot API until SIGTERM, then write what it saw next to the port file."""
    from tests.fake_telegram import FakeBotAPI

    # The recordings grow by one object per message; full garbage collections over them would pause this
    # server for tens of milliseconds, a jitter real Telegram does not add, so the instrument runs without.
    gc.disable()
    api = FakeBotAPI(token=TOKEN, record_text=False)
    api.latency = latency
    await api.start()
    port_file.write_text(str(api.port))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    sends = sorted(m.time for m in api.sent)
    per_chat = Counter(m.chat_id for m in api.sent)
    report = {
        "sent": len(api.sent),
        "chats": len(per_chat),
        "duplicates": sum(n - 1 for n in per_chat.values()),
        "violations": len(api.violations),
        "violation_kinds": dict(Counter(v.kind for v in api.violations)),
        "first": sends[0] if sends else 0.0,
        "last": sends[-1] if sends else 0.0,
        "paid": sum(1 for m in api.sent if m.allow_paid_broadcast),
        "cpu": cpu_seconds(),
    }
    port_file.with_suffix(".json").write_text(json.dumps(report))
    await api.stop()


# ------------------------------------------------------------------ setup


async def populate(db: Path, subscribers: int) -> None:
    """Bulk-insert active subscribers (benchmark setup, not timed); half Turkish, half English.

    The English half reads both languages, so the (Turkish) article still goes to every subscriber, rendered
    in two languages (bench/choices.py measures routing by readers' choices).
    """
    store = await Store.open(db)
    try:
        rows = ((i, "tr" if i % 2 else "en", None if i % 2 else "en,tr") for i in range(1, subscribers + 1))
        await store.db.executemany(
            "INSERT INTO chats (chat_id, chat_type, language_code, languages, subscribed) "
            "VALUES (?, 'private', ?, ?, 1)",
            rows,
        )
    finally:
        await store.close()


def draft():
    return make_draft(
        title="Bakanlıktan açıklama: bölgedeki gelişmeler <önemli>",
        body="Dışişleri Bakanlığı bugün yazılı bir açıklama yaptı. " * 40,
        published=None,
        source="import",
        url="https://example.com/news/benchmark",
    )


# ------------------------------------------------------------------ modes


async def bench_enqueue(db: Path) -> None:
    """Publish one article and queue its audience the way the engine's filler does, chunk by chunk."""
    store = await Store.open(db)
    try:
        started = time.perf_counter()
        await publish(store, draft())
        published = time.perf_counter() - started
        chunks: list[float] = []
        for broadcast_id in await store.outbox.filling():
            done = False
            while not done:
                chunk_started = time.perf_counter()
                done = await store.outbox.fill(broadcast_id)
                chunks.append(time.perf_counter() - chunk_started)
        elapsed = time.perf_counter() - started
        queued = await store.outbox.pending_count()
    finally:
        await store.close()
    print(
        f"enqueue: {queued:,} deliveries queued in {elapsed:.2f} s (publishing {published * 1000:.0f} ms, "
        f"then {len(chunks)} chunks, the longest {max(chunks) * 1000:.0f} ms); "
        f"peak RSS {peak_rss_mb():.0f} MB"
    )


async def bench_broadcast(
    db: Path, subscribers: int, latency: float, paid: bool, rate: int, margin: float | None = None
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        server = subprocess.Popen(
            [sys.executable, __file__, "serve", str(port_file), "--latency", str(latency)],
            cwd=Path(__file__).resolve().parents[1],
        )
        try:
            for _ in range(200):
                if port_file.exists() and port_file.read_text():
                    break
                await asyncio.sleep(0.05)
            url = f"http://127.0.0.1:{port_file.read_text()}/bot"
            settings = Settings(
                token=TOKEN,
                db_path=db,
                bot_api_url=url,
                broadcast_rate=rate,
                paid_broadcast=paid,
                weather_api_url=OFFLINE_WEATHER_URL,
                **({} if margin is None else {"send_margin": margin}),
            )
            application = build_application(settings)
            await application.initialize()
            await application.post_init(application)
            await application.start()
            try:
                store = application.bot_data.store
                cpu_before = cpu_seconds()
                started = time.perf_counter()
                engine = application.bot_data.delivery
                await publish(store, draft())
                # Count the queue only once the engine's own counters say it is done (or every 5 s): SQLite
                # counts 50,000 pending rows in ~35 ms of CPU, and ten counts a second were a quarter of the
                # CPU this measures, spent by the instrument rather than the broadcast.
                counted = time.monotonic()
                while True:
                    await asyncio.sleep(0.1)
                    if engine.sent + engine.failed < subscribers and time.monotonic() - counted < 5.0:
                        continue
                    counted = time.monotonic()
                    if not await store.outbox.pending_count():
                        break
                elapsed = time.perf_counter() - started
                cpu_broadcast = cpu_seconds() - cpu_before
                sent, failed = engine.sent, engine.failed
            finally:
                await application.stop()
                await application.post_stop(application)
                await application.shutdown()
                await application.post_shutdown(application)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
        report = json.loads(port_file.with_suffix(".json").read_text())
    sustained = (report["sent"] - 1) / (report["last"] - report["first"]) if report["sent"] > 1 else 0.0
    print(
        f"{'paid' if paid else 'limits'}: {subscribers:,} subscribers, {latency * 1000:.0f} ms per call, "
        f"limit {1000 if paid else rate}/s\n"
        f"  delivered {report['chats']:,} chats ({sent:,} sent, {failed:,} failed) in {elapsed:.1f} s\n"
        f"  end to end {subscribers / elapsed:.1f} msg/s; sustained {sustained:.1f} msg/s (server clock)\n"
        f"  429s: {report['violations']} {report['violation_kinds'] or ''}; "
        f"duplicates: {report['duplicates']}; paid flag on {report['paid']:,}\n"
        f"  CPU: bot {cpu_seconds():.1f} s ({cpu_broadcast:.1f} s while broadcasting: "
        f"{cpu_broadcast / max(sent, 1) * 1000:.2f} ms per message), fake server {report['cpu']:.1f} s\n"
        f"  peak RSS of the bot process: {peak_rss_mb():.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", choices=[*MODES, "serve", "populate"])
    parser.add_argument("path", nargs="?", help=argparse.SUPPRESS)
    parser.add_argument("--subscribers", type=int)
    parser.add_argument("--latency", type=float)
    parser.add_argument("--rate", type=int, default=30, help="NEWSBOT_BROADCAST_RATE (default 30)")
    parser.add_argument("--send-margin", type=float, help="NEWSBOT_SEND_MARGIN in seconds (default 0.03)")
    parser.add_argument("--verbose", action="store_true", help="show the engine's progress lines")
    args = parser.parse_args()
    if args.mode == "serve":
        asyncio.run(serve(Path(args.path), args.latency or 0.0))
        return
    if args.mode == "populate":
        asyncio.run(populate(Path(args.path), args.subscribers))
        return
    config = MODES[args.mode]
    subscribers = args.subscribers or config["subscribers"]
    latency = config["latency"] if args.latency is None else args.latency
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        # Setup in another process, so the peak RSS below is the enqueue's/the bot's own.
        subprocess.run(
            [sys.executable, __file__, "populate", str(db), "--subscribers", str(subscribers)], check=True
        )
        if args.mode == "enqueue":
            asyncio.run(bench_enqueue(db))
        else:
            paid = config["paid"]
            asyncio.run(bench_broadcast(db, subscribers, latency, paid, args.rate, args.send_margin))


if __name__ == "__main__":
    main()
