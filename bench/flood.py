"""One reader floods, the others wait? The real bot during a broadcast while one user sends 100 commands.

    python bench/flood.py                      # 1,000 subscribers, a flood of 100 /help, 20 other readers
    python bench/flood.py --flood 72 --readers 40

One run of the real bot (build_application: the update processor, the throttle, the limiter, SQLite)
against the fake Bot API in its own process, with Telegram's limits on. An article for N subscribers is
published; 5 s into its broadcast one user puts FLOOD /help into the update queue at once, and READERS
others ask /latest, one every 0.1 s. It prints how long each reader waited (from the update entering the
queue to the reply reaching the fake server; both read the system-wide monotonic clock), what the flooder
got, and the broadcast's messages per second while the readers were served (server clock), and the 429s.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from telegram import Update

from bench.broadcast import OFFLINE_WEATHER_URL, TOKEN, draft
from bot.app import build_application
from bot.publishing import publish
from bot.settings import Settings
from tests.fake_telegram import make_user, message_update

FLOODER = 2_000_000_000
READERS = 3_000_000_000  # reader chat ids start here, far from the subscribers'


async def serve(port_file: Path) -> None:
    """The fake Bot API until SIGTERM; then every message's chat and receipt time, and the 429s."""
    from tests.fake_telegram import FakeBotAPI

    gc.disable()  # see bench/broadcast.py: the instrument must not add pauses of its own
    api = FakeBotAPI(token=TOKEN)
    await api.start()
    port_file.write_text(str(api.port))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    report = {
        "sent": [(m.chat_id, m.time, (m.plain or "")[:40]) for m in api.sent],
        "violations": dict(Counter(v.kind for v in api.violations)),
    }
    port_file.with_suffix(".json").write_text(json.dumps(report))
    await api.stop()


async def run(db: Path, flood: int, readers: int) -> None:
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
                weather_api_url=OFFLINE_WEATHER_URL,
            )
            application = build_application(settings)
            await application.initialize()
            await application.post_init(application)
            await application.start()
            asked: dict[int, float] = {}

            def put(user_id: int, text: str) -> None:
                update = message_update(make_user(user_id, language_code="tr"), text)
                application.update_queue.put_nowait(Update.de_json(update, application.bot))

            try:
                await publish(application.bot_data.store, draft())
                await asyncio.sleep(5.0)
                flood_at = time.monotonic()
                for _ in range(flood):
                    put(FLOODER, "/help")
                for reader in range(READERS, READERS + readers):
                    asked[reader] = time.monotonic()
                    put(reader, "/latest")
                    await asyncio.sleep(0.1)
                await asyncio.sleep(3.0)
            finally:
                await application.stop()
                await application.post_stop(application)
                await application.shutdown()
                await application.post_shutdown(application)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
        report = json.loads(port_file.with_suffix(".json").read_text())
    answered = {chat: at for chat, at, _ in reversed(report["sent"]) if chat >= READERS}
    waits = [(answered[r] - at) * 1000 for r, at in asked.items() if r in answered]
    to_flooder = [text for chat, _, text in report["sent"] if chat == FLOODER]
    last = max(answered.values(), default=flood_at)
    broadcast = [at for chat, at, _ in report["sent"] if chat < FLOODER]
    seconds = max(1, round(last - flood_at + 0.5))
    per_second = [sum(flood_at + k <= t < flood_at + k + 1 for t in broadcast) for k in range(seconds)]
    print(
        f"readers: {len(waits)} of {len(asked)} answered; wait p50 {statistics.median(waits):.0f} ms, "
        f"max {max(waits):.0f} ms\n"
        f"flooder: {flood} commands, {len(to_flooder)} messages back: "
        f"{', '.join(f'{n} x {text[:24]!r}' for text, n in Counter(to_flooder).items())}\n"
        f"broadcast from the flood until the last reader's answer: {per_second} messages per second; "
        f"{len(broadcast)} sent in all\n"
        f"429s: {sum(report['violations'].values())} {report['violations'] or ''}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", nargs="?", default="run", choices=["run", "serve"])
    parser.add_argument("path", nargs="?", help=argparse.SUPPRESS)
    parser.add_argument("--subscribers", type=int, default=1_000)
    parser.add_argument("--flood", type=int, default=100)
    parser.add_argument("--readers", type=int, default=20)
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
        asyncio.run(run(db, args.flood, args.readers))


if __name__ == "__main__":
    main()
