"""Broadcast benchmark: the real bot against the fake Bot API running in its own process.

    python bench/broadcast.py limits            # (a) 3,000 subscribers, 150 ms per call, 30 msg/s limit
    python bench/broadcast.py paid              # (b) 50,000 subscribers, no latency, paid broadcast
    python bench/broadcast.py enqueue           # (c) queue one article for 1,000,000 subscribers
    python bench/broadcast.py limits --subscribers 500 --latency 0.2
    python bench/broadcast.py enqueue --backends sqlite,postgresql   # both backends, one table

It prints messages per second (end to end: from publish() to the last committed outcome, and sustained:
first to last send as the server saw them), the 429s the fake server answered, duplicates, and the peak
RSS of the bot process (resource.getrusage maxrss).

`--backends sqlite,postgresql` runs the mode once per backend, each in its own process (so each peak RSS
is its own), and prints the figures side by side. PostgreSQL: NEWSBOT_BENCH_DATABASE_URL (a role that may
create schemas; each run gets a new schema, dropped afterwards), else a throw-away local cluster started
with scripts/pg-cluster.sh and stopped at the end. Its database is filled the way an operator's is:
the same SQLite setup, copied by `newsbot migrate-to-postgres`'s copy (storage/postgres/copy.py). The
server's CPU (the postmaster and its backends, from /proc) is reported when the server runs on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.app import build_application
from bot.drafts import make_draft
from bot.publishing import publish
from bot.settings import Settings
from storage import Store

ROOT = Path(__file__).resolve().parents[1]
PG_CLUSTER = ROOT / "scripts" / "pg-cluster.sh"
BACKENDS = ("sqlite", "postgresql")
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


class ServerCPU:
    """CPU seconds a local PostgreSQL server spent: its postmaster, live backends and reaped children.

    Read from /proc: the postmaster's own and its waited-for children's time (backends that ended) plus
    every live child's. None when the server is not a process on this machine (or /proc is not readable).
    """

    def __init__(self, postmaster: int | None) -> None:
        self.postmaster = postmaster
        self.tick = os.sysconf("SC_CLK_TCK")

    @classmethod
    async def of(cls, url: str) -> ServerCPU:
        import asyncpg

        connection = await asyncpg.connect(url, timeout=30)
        try:
            stat = _proc_stat(await connection.fetchval("SELECT pg_backend_pid()"))
        finally:
            await connection.close()
        return cls(int(stat[1]) if stat else None)  # the postmaster is every backend's parent

    def seconds(self) -> float | None:
        """The server's CPU so far; compare two readings."""
        if self.postmaster is None:
            return None
        own = _proc_stat(self.postmaster)
        if own is None:
            return None
        ticks = sum(int(value) for value in own[11:15])  # utime, stime, cutime, cstime
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                stat = _proc_stat(int(entry.name))
                if stat is not None and int(stat[1]) == self.postmaster:
                    ticks += int(stat[11]) + int(stat[12])
        return ticks / self.tick


def _proc_stat(pid: int) -> list[str] | None:
    """/proc/PID/stat's fields after the command name: [state, ppid, ...] (utime is [11]), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


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


async def copy_to(db: Path, url: str) -> None:
    """Fill the PostgreSQL schema at `url` from the SQLite setup, as `newsbot migrate-to-postgres` does."""
    from storage.postgres.copy import copy_to_postgres

    started = time.perf_counter()
    tables = await copy_to_postgres(db, url)
    rows = sum(table.target_rows for table in tables)
    print(f"postgresql: {rows:,} rows copied in {time.perf_counter() - started:.1f} s", file=sys.stderr)


def draft():
    return make_draft(
        title="Bakanlıktan açıklama: bölgedeki gelişmeler <önemli>",
        body="Dışişleri Bakanlığı bugün yazılı bir açıklama yaptı. " * 40,
        published=None,
        source="import",
        url="https://example.com/news/benchmark",
    )


# ------------------------------------------------------------------ modes


async def bench_enqueue(db: Path | str) -> dict[str, Any]:
    """Publish one article and queue its audience the way the engine's filler does, chunk by chunk."""
    store = await Store.open(db)
    try:
        server = await ServerCPU.of(db) if isinstance(db, str) else ServerCPU(None)
        server_before = server.seconds()
        cpu_before = cpu_seconds()
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
        cpu = cpu_seconds() - cpu_before
        server_after = server.seconds()
        queued = await store.outbox.pending_count()
    finally:
        await store.close()
    result = {
        "queued": queued,
        "seconds": elapsed,
        "publishing_ms": published * 1000,
        "chunks": len(chunks),
        "longest_chunk_ms": max(chunks) * 1000,
        "bot_cpu": cpu,
        "server_cpu": None if server_before is None or server_after is None else server_after - server_before,
        "peak_rss_mb": peak_rss_mb(),
    }
    print(
        f"enqueue: {queued:,} deliveries queued in {elapsed:.2f} s (publishing {published * 1000:.0f} ms, "
        f"then {len(chunks)} chunks, the longest {max(chunks) * 1000:.0f} ms); "
        f"peak RSS {peak_rss_mb():.0f} MB"
    )
    return result


async def bench_broadcast(
    db: Path | str, subscribers: int, latency: float, paid: bool, rate: int, margin: float | None = None
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        server = subprocess.Popen(
            [sys.executable, __file__, "serve", str(port_file), "--latency", str(latency)], cwd=ROOT
        )
        try:
            for _ in range(200):
                if port_file.exists() and port_file.read_text():
                    break
                await asyncio.sleep(0.05)
            url = f"http://127.0.0.1:{port_file.read_text()}/bot"
            settings = Settings(
                token=TOKEN,
                db_path=Path(tmp) / "unused.db" if isinstance(db, str) else db,
                database_url=db if isinstance(db, str) else None,
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
                postgres = await ServerCPU.of(db) if isinstance(db, str) else ServerCPU(None)
                server_before = postgres.seconds()
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
                server_after = postgres.seconds()
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
    result = {
        "delivered": report["chats"],
        "seconds": elapsed,
        "end_to_end": subscribers / elapsed,
        "sustained": sustained,
        "violations": report["violations"],
        "duplicates": report["duplicates"],
        "bot_cpu_ms": cpu_broadcast / max(sent, 1) * 1000,
        "server_cpu": None if server_before is None or server_after is None else server_after - server_before,
        "peak_rss_mb": peak_rss_mb(),
    }
    if result["server_cpu"] is not None:
        result["server_cpu_ms"] = result["server_cpu"] / max(sent, 1) * 1000
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
    if result["server_cpu"] is not None:
        print(f"  PostgreSQL server CPU {result['server_cpu']:.1f} s")
    return result


def with_schema(url: str, schema: str) -> str:
    """The same server URL with `search_path` set to `schema` (asyncpg hands unknown parameters on)."""
    parts = urlsplit(url)
    query = [(key, value) for key, value in parse_qsl(parts.query) if key != "search_path"]
    return urlunsplit(parts._replace(query=urlencode([*query, ("search_path", schema)])))


async def admin(url: str, statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(url, timeout=30)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def start_cluster() -> tuple[str, str]:
    """A throw-away local PostgreSQL (scripts/pg-cluster.sh): its superuser URL and its directory."""
    # The tests' settings (durability off: thrown away), but PostgreSQL's default shared_buffers, not 32 MB.
    started = subprocess.run(
        [str(PG_CLUSTER), "start", "--watch", str(os.getpid())],
        capture_output=True,
        text=True,
        env={**os.environ, "PG_CLUSTER_OPTIONS": "-c shared_buffers=128MB"},
    )
    if started.returncode != 0:
        lines = [line for line in started.stderr.splitlines() if line.strip()]
        sys.exit(
            "no PostgreSQL: set NEWSBOT_BENCH_DATABASE_URL or install the server (Debian: postgresql); "
            + (lines[-1] if lines else f"pg-cluster.sh exit status {started.returncode}")
        )
    values = dict(line.split("=", 1) for line in started.stdout.splitlines() if "=" in line)
    return values["NEWSBOT_TEST_DATABASE_URL"], values["PG_CLUSTER_DIR"]


def run_backends(args: argparse.Namespace, backends: list[str]) -> None:
    """Run the mode once per backend, each in a process of its own, and print the figures side by side."""
    passed = [
        f"--{name.replace('_', '-')}={getattr(args, name)}"
        for name in ("subscribers", "latency", "rate", "send_margin")
        if getattr(args, name) is not None
    ]
    passed += ["--verbose"] if args.verbose else []
    server = os.environ.get("NEWSBOT_BENCH_DATABASE_URL")
    cluster = None
    results: dict[str, dict[str, Any]] = {}
    try:
        if "postgresql" in backends and not server:
            server, cluster = start_cluster()
        for backend in backends:
            with tempfile.TemporaryDirectory() as tmp:
                report = Path(tmp) / "report.json"
                command = [sys.executable, __file__, args.mode, "--report", str(report), *passed]
                schema = None
                if backend == "postgresql":
                    assert server is not None
                    schema = f"newsbot_bench_{uuid.uuid4().hex[:12]}"
                    asyncio.run(admin(server, f'CREATE SCHEMA "{schema}"'))
                    command += ["--database-url", with_schema(server, schema)]
                print(f"--- {backend}", flush=True)
                try:
                    subprocess.run(command, check=True, cwd=ROOT)
                finally:
                    if schema is not None:
                        asyncio.run(admin(server, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
                results[backend] = json.loads(report.read_text())
    finally:
        if cluster is not None:
            subprocess.run([str(PG_CLUSTER), "stop", cluster], capture_output=True)
    print_table(args.mode, results)


ROWS = {
    "enqueue": [
        ("deliveries queued", "queued", "{:,}"),
        ("time", "seconds", "{:.2f} s"),
        ("publishing the article", "publishing_ms", "{:.0f} ms"),
        ("chunks", "chunks", "{}"),
        ("longest chunk (transaction)", "longest_chunk_ms", "{:.0f} ms"),
        ("bot CPU", "bot_cpu", "{:.2f} s"),
        ("PostgreSQL server CPU", "server_cpu", "{:.2f} s"),
        ("peak RSS of the bot", "peak_rss_mb", "{:.0f} MB"),
    ],
    "broadcast": [
        ("delivered", "delivered", "{:,}"),
        ("sustained", "sustained", "{:.1f} msg/s"),
        ("end to end", "end_to_end", "{:.1f} msg/s"),
        ("429s", "violations", "{}"),
        ("duplicates", "duplicates", "{}"),
        ("bot CPU per message", "bot_cpu_ms", "{:.2f} ms"),
        ("server CPU per message", "server_cpu_ms", "{:.2f} ms"),
        ("peak RSS of the bot", "peak_rss_mb", "{:.0f} MB"),
    ],
}


def print_table(mode: str, results: dict[str, dict[str, Any]]) -> None:
    """The backends' figures in columns."""
    rows = ROWS["enqueue" if mode == "enqueue" else "broadcast"]
    names = list(results)
    table = [["", *names]]
    for label, key, shape in rows:
        cells = [results[name].get(key) for name in names]
        table.append([label, *("-" if cell is None else shape.format(cell) for cell in cells)])
    widths = [max(len(row[column]) for row in table) for column in range(len(table[0]))]
    print(f"\n{mode}, load average {os.getloadavg()[0]:.1f} at the end")
    for row in table:
        cells = [
            row[0].ljust(widths[0]),
            *(cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)),
        ]
        print("  ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", choices=[*MODES, "serve", "populate", "copy"])
    parser.add_argument("path", nargs="?", help=argparse.SUPPRESS)
    parser.add_argument("--subscribers", type=int)
    parser.add_argument("--latency", type=float)
    parser.add_argument("--rate", type=int, default=30, help="NEWSBOT_BROADCAST_RATE (default 30)")
    parser.add_argument("--send-margin", type=float, help="NEWSBOT_SEND_MARGIN in seconds (default 0.02)")
    parser.add_argument("--verbose", action="store_true", help="show the engine's progress lines")
    parser.add_argument(
        "--backends",
        help="comma-separated, of sqlite,postgresql: run on each, print side by side (default: sqlite alone)",
    )
    parser.add_argument("--database-url", help=argparse.SUPPRESS)  # one run on this PostgreSQL schema
    parser.add_argument("--report", help=argparse.SUPPRESS)  # write the figures here as JSON
    args = parser.parse_args()
    if args.backends is not None:
        backends = [name.strip() for name in args.backends.split(",") if name.strip()]
        unknown = [name for name in backends if name not in BACKENDS]
        if unknown or not backends or args.mode not in MODES:
            parser.error(f"--backends: a mode and a comma-separated list of {', '.join(BACKENDS)}")
        run_backends(args, backends)
        return
    if args.mode == "serve":
        asyncio.run(serve(Path(args.path), args.latency or 0.0))
        return
    if args.mode == "populate":
        asyncio.run(populate(Path(args.path), args.subscribers))
        return
    if args.mode == "copy":
        asyncio.run(copy_to(Path(args.path), args.database_url))
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
        target: Path | str = db
        if args.database_url:
            subprocess.run(
                [sys.executable, __file__, "copy", str(db), "--database-url", args.database_url], check=True
            )
            target = args.database_url
        if args.mode == "enqueue":
            result = asyncio.run(bench_enqueue(target))
        else:
            paid = config["paid"]
            result = asyncio.run(
                bench_broadcast(target, subscribers, latency, paid, args.rate, args.send_margin)
            )
        if args.report:
            Path(args.report).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
