"""Readers first, measured: how long a reader's /latest takes, idle, four at once, and during bulk work.

    python bench/readers.py                        # 100,000 subscribers, paid broadcast
    python bench/readers.py --subscribers 300000   # the moment a 300,000-subscriber broadcast is queued

One run of the real bot (build_application, the delivery engine, the limiter, SQLite) against the fake Bot
API in its own process. A reader's latency is the time from the update entering the bot's update queue
(as polling or a webhook would put it there) to the reply reaching the fake Telegram server; both sides
read the same system-wide monotonic clock. Phases:

1. idle: 40 readers one after another;
2. four at once: 10 rounds of 4 readers in the same instant;
3. paid broadcast: 200 readers, one every 0.15 s, from the moment an article for N subscribers is queued
   (the chunked enqueue) through the first 30 s of its paid broadcast; then the bot stops.

It prints p50/p99/max per phase, and the broadcast's msg/s, 429s and the bot's CPU per message.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from telegram import Update

from bench.broadcast import OFFLINE_WEATHER_URL, TOKEN, cpu_seconds, draft
from bot.app import build_application
from bot.drafts import make_draft
from bot.publishing import publish
from bot.settings import Settings
from tests.fake_telegram import make_user, message_update

READERS = 3_000_000_000  # reader chat ids start here, far from the subscribers'


async def serve(port_file: Path) -> None:
    """The fake Bot API until SIGTERM; then what it saw, with the receipt time of every reader reply."""
    import gc

    from tests.fake_telegram import FakeBotAPI

    gc.disable()  # see bench/broadcast.py: the instrument must not add pauses of its own
    api = FakeBotAPI(token=TOKEN, record_text=False)
    await api.start()
    port_file.write_text(str(api.port))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    broadcast = sorted(m.time for m in api.sent if m.chat_id < READERS)
    report = {
        "replies": {str(m.chat_id): m.time for m in api.sent if m.chat_id >= READERS},
        "broadcast": len(broadcast),
        "first": broadcast[0] if broadcast else 0.0,
        "last": broadcast[-1] if broadcast else 0.0,
        "violations": len(api.violations),
        "kinds": {v.kind: 0 for v in api.violations},
    }
    for v in api.violations:
        report["kinds"][v.kind] += 1
    port_file.with_suffix(".json").write_text(json.dumps(report))
    await api.stop()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def run(db: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        server = subprocess.Popen(
            [sys.executable, __file__, "serve", str(port_file)], cwd=Path(__file__).resolve().parents[1]
        )
        try:
            for _ in range(200):
                if port_file.exists() and port_file.read_text():
                    break
                await asyncio.sleep(0.05)
            settings = Settings(
                token=TOKEN,
                db_path=db,
                bot_api_url=f"http://127.0.0.1:{port_file.read_text()}/bot",
                paid_broadcast=True,
                weather_api_url=OFFLINE_WEATHER_URL,
            )
            application = build_application(settings)
            await application.initialize()
            await application.post_init(application)
            await application.start()
            asked: dict[int, tuple[str, float]] = {}
            counter = iter(range(READERS, READERS + 1_000_000))

            def ask(phase: str) -> None:
                chat_id = next(counter)
                user = make_user(chat_id, language_code="en")
                update = Update.de_json(message_update(user, "/latest"), application.bot)
                asked[chat_id] = (phase, time.monotonic())
                application.update_queue.put_nowait(update)

            try:
                store = application.bot_data.store
                warm_up = make_draft(title="Warm-up", body="Text. " * 20, published=None, source="x")
                await publish(store, warm_up, announce=False)  # something for /latest, sent to nobody
                for _ in range(40):
                    ask("idle")
                    await asyncio.sleep(0.25)
                for _ in range(10):
                    for _ in range(4):
                        ask("four at once")
                    await asyncio.sleep(1.2)
                cpu_before = cpu_seconds()
                started = time.monotonic()
                readers = asyncio.create_task(spread(ask, 200, 0.15))
                await publish(store, draft())
                await readers
                await asyncio.sleep(1.0)  # the last replies
                elapsed = time.monotonic() - started
                cpu = cpu_seconds() - cpu_before
                sent = application.bot_data.delivery.sent
            finally:
                await application.stop()
                await application.post_stop(application)
                await application.shutdown()
                await application.post_shutdown(application)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
        report = json.loads(port_file.with_suffix(".json").read_text())
    by_phase: dict[str, list[float]] = {}
    missing = 0
    for chat_id, (phase, at) in asked.items():
        answered = report["replies"].get(str(chat_id))
        if answered is None:
            missing += 1
            continue
        by_phase.setdefault(phase, []).append((answered - at) * 1000)
    print(f"readers: {len(asked)} asked, {missing} unanswered")
    for phase, values in by_phase.items():
        print(
            f"  {phase:>14}: n={len(values):3d}  p50 {statistics.median(values):6.1f} ms  "
            f"p99 {percentile(values, 0.99):6.1f} ms  max {max(values):6.1f} ms"
        )
    span = report["last"] - report["first"]
    sustained = (report["broadcast"] - 1) / span if span > 0 else 0.0
    print(
        f"  broadcast: {report['broadcast']:,} messages, {sustained:.0f} msg/s sustained (server clock), "
        f"in the {elapsed:.1f} s measured; 429s: {report['violations']} {report['kinds'] or ''}\n"
        f"  bot CPU during the broadcast phase: {cpu:.1f} s = {cpu / max(sent, 1) * 1000:.2f} ms per message"
    )


async def spread(ask, count: int, interval: float) -> None:
    """`count` readers, one every `interval` seconds, from the moment the broadcast is queued."""
    for _ in range(count):
        ask("paid broadcast")
        await asyncio.sleep(interval)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", nargs="?", default="run", choices=["run", "serve"])
    parser.add_argument("path", nargs="?", help=argparse.SUPPRESS)
    parser.add_argument("--subscribers", type=int, default=100_000)
    args = parser.parse_args()
    if args.mode == "serve":
        asyncio.run(serve(Path(args.path)))
        return
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        subprocess.run(
            [sys.executable, str(Path(__file__).with_name("broadcast.py")), "populate", str(db),
             "--subscribers", str(args.subscribers)],
            check=True,
        )  # fmt: skip
        asyncio.run(run(db))


if __name__ == "__main__":
    main()
