"""Reader choices at outlet scale: routing one article, the 08:00 digests, the per-minute check.

.venv/bin/python bench/choices.py enqueue [--subscribers 1000000]   # one article through everyone's choices
.venv/bin/python bench/choices.py digests [--readers 100000]        # digest readers due at 08:00
.venv/bin/python bench/choices.py idle [--subscribers 1000000]      # the per-minute check, nobody due

enqueue: subscribers with mixed settings (a quarter with an English interface, one in seven reading both
languages, half with a section muted, 10% following 5 words, 20% digest readers, 10% in quiet hours at the
fill moment, 02:00); one Turkish article in a section some muted, containing some followed words, published
(matching over the distinct followed phrases) and queued chunk by chunk as the engine's filler does. Then
the quiet-hours release at 07:00 for the readers it held. Prints the time, deliveries and peak RSS.

digests: digest readers with mixed languages, muted sections and follows, 100 articles of the day; times
the 08:00 run (chunks of 10,000, one transaction each), counts the distinct digests (each is rendered once
per language by the engine) and renders them all.

idle: the check the per-minute job makes first, with nobody due, among the subscribers (1,000 runs).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.clock import ISTANBUL
from bot.drafts import make_draft
from bot.publishing import publish, queue_for_readers
from bot.readers.digests import digest_renderer, queue_due_digests, release_quiet
from bot.readers.schedule import minute_of_day
from bot.render import Renderer
from storage import Store

DAY = date(2026, 3, 10)
VOCABULARY = 5_000  # distinct followable words ("kelime17"); province names are followed too
PROVINCES = ["ankara", "cankiri", "istanbul", "izmir", "kirikkale", "sanliurfa", "kahramanmaras", "hatay"]
SECTIONS = [
    (2, "ekonomi", "Ekonomi", "Economy"),
    (3, "spor", "Spor", "Sports"),
    (4, "dunya", "Dünya", "World"),
    (5, "saglik", "Sağlık", "Health"),
    (6, "kultur", "Kültür", "Culture"),
]


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """User + system CPU of this process (SQLite runs in its threads): a shared machine's load aside."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def at(hhmm: str, day: date = DAY) -> float:
    hour, minute = (int(part) for part in hhmm.split(":"))
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ISTANBUL).timestamp()


def populate(db: Path, subscribers: int, *, digest_share: int = 5, quiet: bool = True) -> None:
    """Bulk setup in SQLite itself (not timed; this process's memory stays out of it).

    Chat i: English interface when i % 4 == 0; both languages when i % 7 == 0; section 2 + (i / 7) % 5
    muted when (i / 3) is even; 5 followed words when i % 10 == 7; digest at 08:00 when
    i % digest_share == 1; quiet hours 23:00-07:00 when i % 10 == 3.
    """
    with sqlite3.connect(db) as connection:
        connection.executemany("INSERT OR IGNORE INTO sections VALUES (?, ?, ?, ?, '2026-03-10T00:00:00Z')",
                               SECTIONS)  # fmt: skip
        connection.execute(
            "INSERT INTO chats (chat_id, chat_type, language_code, subscribed, languages, muted_sections, "
            " digest_times, digest_next, digest_after, quiet_start, quiet_end, quiet_next_end) "
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count) "
            "SELECT i, 'private', CASE WHEN i % 4 = 0 THEN 'en' ELSE 'tr' END, 1, "
            " CASE WHEN i % 7 = 0 THEN 'en,tr' END, "
            " CASE WHEN (i / 3) % 2 = 0 THEN ',' || (2 + (i / 7) % 5) || ',' END, "
            " CASE WHEN i % :share = 1 THEN '08:00' END, CASE WHEN i % :share = 1 THEN :digest END, "
            " CASE WHEN i % :share = 1 THEN 0 END, "
            " CASE WHEN :quiet AND i % 10 = 3 THEN 1380 END, CASE WHEN :quiet AND i % 10 = 3 THEN 420 END, "
            " CASE WHEN :quiet AND i % 10 = 3 THEN :quiet_end END "
            "FROM n",
            {"count": subscribers, "share": digest_share, "digest": at("08:00"), "quiet": int(quiet),
             "quiet_end": at("07:00")},
        )  # fmt: skip
        connection.execute("CREATE TEMP TABLE provinces (k INTEGER PRIMARY KEY, name TEXT)")
        connection.executemany("INSERT INTO temp.provinces VALUES (?, ?)", list(enumerate(PROVINCES)))
        four = "SELECT 1 AS k UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4"
        connection.execute(
            "INSERT OR IGNORE INTO follows (chat_id, folded, phrase) "
            "SELECT c.chat_id, 'kelime' || (((c.chat_id / 10) * 7919 + r.k * 104729) % :vocabulary), "
            " 'Kelime' || (((c.chat_id / 10) * 7919 + r.k * 104729) % :vocabulary) "
            f"FROM chats c CROSS JOIN ({four}) r WHERE c.chat_id % 10 = 7 "
            "UNION ALL SELECT c.chat_id, p.name, upper(p.name) FROM chats c "
            " JOIN temp.provinces p ON p.k = c.chat_id % 8 WHERE c.chat_id % 10 = 7",
            {"vocabulary": VOCABULARY},
        )
        connection.commit()


def article_body(words: int = 300) -> str:
    """About 2 kB of text with some followed words in it (a province and a few of the vocabulary)."""
    filler = "Bakanlık bugün yaptığı yazılı açıklamada yeni düzenlemenin ayrıntılarını paylaştı."
    tagged = " ".join(f"kelime{n}" for n in range(7, VOCABULARY, VOCABULARY // 20))
    return f"Çankırı ve Ankara'da {tagged}. " + " ".join([filler] * (words // 10))


async def bench_enqueue(db: Path, subscribers: int) -> None:
    store = await Store.open(db)
    await store.close()
    setup = time.perf_counter()
    populate(db, subscribers)
    print(f"setup: {subscribers:,} subscribers in {time.perf_counter() - setup:.1f} s (not timed below)")
    store = await Store.open(db)
    try:
        follows = await store.db.fetchval("SELECT count(*) FROM follows")
        phrases = await store.db.fetchval("SELECT count(DISTINCT folded) FROM follows")
        rss_before = peak_rss_mb()
        cpu = cpu_seconds()
        started = time.perf_counter()
        draft = make_draft(
            title="Ekonomide yeni düzenleme", body=article_body(), published=None, source="import"
        )
        async with store.db.transaction() as tx:  # section 2 (Economy), Turkish, not breaking
            article, _ = await store.articles.add(tx, draft)
            await tx.execute(
                "UPDATE articles SET section_id = 2, language = 'tr' WHERE id = ?", (article.id,)
            )
        async with store.db.transaction() as tx:
            await queue_for_readers(store, tx, article)
        published = time.perf_counter() - started
        minute = minute_of_day(at("02:00"))
        chunks: list[float] = []
        for broadcast_id in await store.outbox.filling():
            done = False
            while not done:
                chunk_started = time.perf_counter()
                done = await store.outbox.fill(broadcast_id, minute=minute)
                chunks.append(time.perf_counter() - chunk_started)
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds() - cpu
        queued = await store.outbox.pending_count()
        matched = await store.db.fetchval("SELECT count(*) FROM deliveries WHERE matched IS NOT NULL")
        matches = await store.db.fetchval("SELECT count(*) FROM article_matches")
        print(
            f"enqueue: {queued:,} of {subscribers:,} subscribers queued in {elapsed:.2f} s ({cpu:.2f} s CPU) "
            f"(publishing with matching over {phrases:,} distinct phrases of {follows:,} follows: "
            f"{published * 1000:.0f} ms, {matches} matched; then {len(chunks)} chunks, "
            f"the longest {max(chunks) * 1000:.0f} ms); {matched:,} deliveries name a followed word; "
            f"peak RSS {peak_rss_mb():.0f} MB (before publishing {rss_before:.0f} MB)"
        )
        started, cpu = time.perf_counter(), cpu_seconds()
        report = await release_quiet(store, at("07:00"))
        print(
            f"quiet release at 07:00: {report.readers:,} readers, {report.queued:,} held articles queued in "
            f"{time.perf_counter() - started:.2f} s ({cpu_seconds() - cpu:.2f} s CPU)"
        )
    finally:
        await store.close()


async def bench_digests(db: Path, readers: int) -> None:
    store = await Store.open(db)
    await store.close()
    populate(db, readers * 2, digest_share=2, quiet=False)  # every other subscriber reads digests
    store = await Store.open(db)
    try:
        await store.db.execute("UPDATE chats SET digest_after = 0 WHERE digest_times IS NOT NULL")
        for number in range(100):  # the day's articles, matched against the follows as published
            draft = make_draft(
                title=f"Haber {number}",
                body=article_body(40) if number % 10 == 0 else f"Gündem {number}. " * 30,
                published=None,
                source="import",
            )
            await publish(store, draft)
        await store.db.execute(
            "UPDATE articles SET section_id = 1 + id % 6, breaking = (id = 42), "
            " language = CASE WHEN id % 5 = 0 THEN 'en' ELSE 'tr' END"
        )
        due = await store.db.fetchval("SELECT count(*) FROM chats WHERE digest_next <= ?", (at("08:00"),))
        started, cpu = time.perf_counter(), cpu_seconds()
        report = await queue_due_digests(store, at("08:00"))
        elapsed, cpu = time.perf_counter() - started, cpu_seconds() - cpu
        pairs = await store.db.fetchall(
            "SELECT DISTINCT b.ref, CASE WHEN c.language_code = 'tr' THEN 'tr' ELSE 'en' END "
            "FROM deliveries d JOIN broadcasts b ON b.id = d.broadcast_id AND b.kind = 'digest' "
            "JOIN chats c ON c.chat_id = d.chat_id"
        )
        render = digest_renderer(store, Renderer())
        started_render = time.perf_counter()
        for ref, lang in pairs:
            assert await render(ref, lang) is not None
        render_s = time.perf_counter() - started_render
        again = time.perf_counter()
        second = await queue_due_digests(store, at("08:00"))
        again_ms = (time.perf_counter() - again) * 1000
        print(
            f"digests: {due:,} readers due at 08:00, {report.queued:,} digests queued in {elapsed:.2f} s "
            f"({cpu:.2f} s CPU) "
            f"as {report.broadcasts:,} distinct contents ({len(pairs)} renders, one per content and "
            f"language: {render_s * 1000:.0f} ms); the same minute again: {second.readers} due, "
            f"{again_ms:.1f} ms; peak RSS {peak_rss_mb():.0f} MB"
        )
    finally:
        await store.close()


async def bench_idle(db: Path, subscribers: int) -> None:
    store = await Store.open(db)
    await store.close()
    populate(db, subscribers)
    store = await Store.open(db)
    try:
        now = at("07:59")  # digests are due at 08:00, quiet hours end at 07:00 tomorrow
        await store.db.execute("UPDATE chats SET quiet_next_end = ? WHERE quiet_next_end IS NOT NULL",
                               (at("07:00") + 86400,))  # fmt: skip
        timings = []
        for _ in range(1000):
            started = time.perf_counter()
            due = await store.routing.anyone_due(now)
            timings.append((time.perf_counter() - started) * 1000)
            assert not due
        timings.sort()
        print(
            f"idle: the per-minute check among {subscribers:,} subscribers, nobody due: "
            f"median {statistics.median(timings):.3f} ms, p99 {timings[989]:.3f} ms, max {timings[-1]:.3f} ms"
        )
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=["enqueue", "digests", "idle"])
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--readers", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        if args.mode == "enqueue":
            asyncio.run(bench_enqueue(db, args.subscribers))
        elif args.mode == "digests":
            asyncio.run(bench_digests(db, args.readers))
        else:
            asyncio.run(bench_idle(db, args.subscribers))


if __name__ == "__main__":
    main()
