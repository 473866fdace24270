"""Edit propagation benchmark: correct an article already delivered to N readers, at Telegram's 30 msg/s.

    python bench/edits.py                       # 10,000 readers
    python bench/edits.py --subscribers 2000    # a shorter run

The real bot (build_application, the delivery engine, the limiter, SQLite) runs against the fake Bot API in
its own process, which counts edits and deletions against the same flood windows as sends. Phase 1 pushes
the article to every reader as a paid broadcast (setup, fast); phase 2 restarts the bot at the 30 msg/s
limit, corrects the article (`/edit` does the same through bot.corrections.correct) and measures until every
copy is edited, while a reader sends /latest every 0.5 s. It prints edits per second, 429s, copies edited
more or less than once, and the readers' waits (update queued -> reply received by the server).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from telegram import Update

from bench.broadcast import OFFLINE_WEATHER_URL, TOKEN, draft
from bot.app import build_application
from bot.corrections import correct
from bot.publishing import publish
from bot.settings import Settings
from tests.fake_telegram import make_user, message_update

READERS = 3_000_000_000  # chat ids of the readers asking /latest meanwhile


async def serve(port_file: Path) -> None:
    """The fake Bot API until SIGTERM; then what it saw."""
    from tests.fake_telegram import FakeBotAPI

    gc.disable()  # see bench/broadcast.py
    api = FakeBotAPI(token=TOKEN, record_text=False)
    api.limit_edits = True
    await api.start()
    port_file.write_text(str(api.port))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    edits = sorted(m.time for m in api.edited)
    per_chat = Counter(m.chat_id for m in api.edited)
    report = {
        "sent": sum(1 for m in api.sent if m.chat_id < READERS),
        "edited": len(edits),
        "edited_chats": len(per_chat),
        "edited_twice": sum(1 for n in per_chat.values() if n > 1),
        "first": edits[0] if edits else 0.0,
        "last": edits[-1] if edits else 0.0,
        "violations": dict(Counter(f"{v.method}:{v.kind}" for v in api.violations)),
        "replies": {str(m.chat_id): m.time for m in api.sent if m.chat_id >= READERS},
    }
    port_file.with_suffix(".json").write_text(json.dumps(report))
    await api.stop()


async def started(settings: Settings):
    application = build_application(settings)
    await application.initialize()
    await application.post_init(application)
    await application.start()
    return application


async def stopped(application) -> None:
    await application.stop()
    await application.post_stop(application)
    await application.shutdown()
    await application.post_shutdown(application)


async def run(db: Path, subscribers: int, rate: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        server = subprocess.Popen(
            [sys.executable, __file__, "serve", str(port_file)], cwd=Path(__file__).resolve().parents[1]
        )
        asked: dict[int, float] = {}
        try:
            for _ in range(1200):  # the server imports the bot too: seconds on a busy machine
                if port_file.exists() and port_file.read_text():
                    break
                await asyncio.sleep(0.05)
            base = Settings(
                token=TOKEN,
                db_path=db,
                bot_api_url=f"http://127.0.0.1:{port_file.read_text()}/bot",
                weather_api_url=OFFLINE_WEATHER_URL,
            )
            # Phase 1 (setup): every reader gets the article, fast.
            application = await started(replace(base, paid_broadcast=True))
            try:
                store = application.bot_data.store
                article = (await publish(store, draft())).article
                while await store.outbox.pending_count():
                    await asyncio.sleep(0.2)
            finally:
                await stopped(application)
            await asyncio.sleep(1.1)  # the paid window empties
            # Phase 2: the correction at the ordinary limit, readers asking meanwhile.
            application = await started(replace(base, broadcast_rate=rate))
            counter = iter(range(READERS, READERS + 1_000_000))

            def ask() -> None:
                chat_id = next(counter)
                update = Update.de_json(message_update(make_user(chat_id), "/latest"), application.bot)
                asked[chat_id] = time.monotonic()
                application.update_queue.put_nowait(update)

            async def readers() -> None:
                while True:
                    ask()
                    await asyncio.sleep(0.5)

            try:
                store = application.bot_data.store
                began = time.perf_counter()
                result = await correct(
                    store, article.id, "Düzeltme: " + article.title, article.body + " (düzeltildi)",
                    datetime.now(UTC),
                )  # fmt: skip
                application.bot_data.delivery.wake()
                asking = asyncio.create_task(readers())
                while await store.outbox.pending_count():
                    await asyncio.sleep(0.2)
                elapsed = time.perf_counter() - began
                asking.cancel()
                await asyncio.sleep(1.0)  # the last replies
            finally:
                await stopped(application)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
        report = json.loads(port_file.with_suffix(".json").read_text())
    replies = report["replies"]
    waits = [(replies[str(c)] - at) * 1000 for c, at in asked.items() if str(c) in replies]
    span = report["last"] - report["first"]
    print(
        f"edits: {subscribers:,} readers, limit {rate}/s; {result.edits:,} copies queued for editing\n"
        f"  delivered first: {report['sent']:,}; edited {report['edited']:,} messages in "
        f"{report['edited_chats']:,} chats, {report['edited_twice']} chats edited twice\n"
        f"  {elapsed:.1f} s from the correction to the last edit; "
        f"{report['edited'] / elapsed:.1f} edits/s end to end, "
        f"{(report['edited'] - 1) / span if span else 0:.1f}/s sustained (server clock)\n"
        f"  429s: {sum(report['violations'].values())} {report['violations'] or ''}\n"
        f"  readers: {len(asked)} asked, {len(asked) - len(waits)} unanswered; waits p50 "
        f"{statistics.median(waits):.1f} ms, p99 {sorted(waits)[int(0.99 * (len(waits) - 1))]:.1f} ms, "
        f"max {max(waits):.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", nargs="?", default="run", choices=["run", "serve"])
    parser.add_argument("path", nargs="?", help=argparse.SUPPRESS)
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--rate", type=int, default=30, help="NEWSBOT_BROADCAST_RATE (default 30)")
    args = parser.parse_args()
    if args.mode == "serve":
        asyncio.run(serve(Path(args.path)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        subprocess.run(
            [sys.executable, str(Path(__file__).resolve().parents[0] / "broadcast.py"), "populate", str(db),
             "--subscribers", str(args.subscribers)],
            check=True,
        )  # fmt: skip
        asyncio.run(run(db, args.subscribers, args.rate))


if __name__ == "__main__":
    main()
