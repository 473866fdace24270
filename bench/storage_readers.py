"""How long a reader's /latest waits on the database while bulk work writes (storage only, no Telegram).

.venv/bin/python bench/storage_readers.py [--subscribers N] [--lock SECONDS] [--old]

Two scenes, each with a "reader" that repeats what /latest does for a known chat (the prelude's chat
lookup, then the newest article) every 5 ms and records how long each took:

- bulk write: one broadcast queued for N active subscribers in ONE transaction (Outbox.enqueue, as a morning
  weather push queues a province; articles are queued in 20,000-row chunks since the delivery rework);
- import lock: another connection (as `newsbot import` would) holds the write lock for --lock seconds.

--old reads the way the code did before the reader pool: on the writer connection, behind its lock (a
database opened without readers), with the prelude's unconditional write.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import tempfile
import threading
import time
from pathlib import Path

from bot.drafts import make_draft
from bot.publishing import publish
from storage import Store
from storage.database import READERS, Database
from storage.outbox import ACTIVE_SUBSCRIBERS

READER_CHAT = 1


async def reader(store: Store, stop: asyncio.Event, old: bool) -> tuple[list[float], list[str]]:
    """/latest's database work, again and again; its latencies and errors."""
    waits: list[float] = []
    errors: list[str] = []
    while not stop.is_set():
        started = time.perf_counter()
        try:
            if old:
                await store.chats.touch(READER_CHAT, "private", "en")
            else:
                await store.chats.remember(READER_CHAT, "private", "en")
            await store.articles.latest(1)
        except sqlite3.Error as error:
            errors.append(str(error))
        waits.append(time.perf_counter() - started)
        await asyncio.sleep(0.005)
    return waits, errors


def report(scene: str, waits: list[float], errors: list[str], extra: str) -> None:
    print(
        f"{scene}: {len(waits)} reads, median {statistics.median(waits) * 1000:.1f} ms, "
        f"max {max(waits) * 1000:.0f} ms, errors {len(errors)} {sorted(set(errors))}; {extra}"
    )


async def scene_bulk_write(store: Store, old: bool) -> None:
    await publish(store, make_draft(title="Benchmark", body="Text. " * 200, published=None, source="import"))
    stop = asyncio.Event()
    task = asyncio.create_task(reader(store, stop, old))
    await asyncio.sleep(0.05)
    started = time.perf_counter()
    async with store.db.transaction() as tx:
        await store.outbox.enqueue(tx, "bench", "1", ACTIVE_SUBSCRIBERS)
    elapsed = time.perf_counter() - started
    stop.set()
    waits, errors = await task
    queued = await store.db.fetchval("SELECT count(*) FROM deliveries")
    report("bulk write", waits, errors, f"queueing {queued:,} deliveries took {elapsed:.2f} s")


async def scene_import_lock(store: Store, path: Path, hold: float, old: bool) -> None:
    locked = threading.Event()

    def hold_lock() -> None:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        other.execute(
            "INSERT INTO articles (title, body, published_at, source) "
            "VALUES ('Import', 'b', '2020-01-01T00:00:00+00:00', 'import')"
        )
        locked.set()
        time.sleep(hold)
        other.execute("COMMIT")
        other.close()

    thread = threading.Thread(target=hold_lock)
    thread.start()
    await asyncio.to_thread(locked.wait)
    stop = asyncio.Event()
    task = asyncio.create_task(reader(store, stop, old))
    await asyncio.to_thread(thread.join)
    stop.set()
    waits, errors = await task
    report("import lock", waits, errors, f"another connection held the write lock for {hold:.1f} s")


async def main(subscribers: int, hold: float, old: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        store = Store(await Database.open(path, readers=0 if old else READERS))
        try:
            await store.db.executemany(
                "INSERT INTO chats (chat_id, chat_type, language_code, subscribed) "
                "VALUES (?, 'private', 'en', 1)",
                ((i,) for i in range(1, subscribers + 1)),
            )
            mode = "old: reads on the writer" if old else "reads on the reader pool"
            print(f"{mode}, {subscribers:,} subscribers")
            await scene_bulk_write(store, old)
            await scene_import_lock(store, path, hold, old)
        finally:
            await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=300_000)
    parser.add_argument("--lock", type=float, default=2.0, help="seconds the other connection holds the lock")
    parser.add_argument("--old", action="store_true", help="read on the writer, as before the reader pool")
    args = parser.parse_args()
    asyncio.run(main(args.subscribers, args.lock, args.old))
