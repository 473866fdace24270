"""Benchmark: one poll cycle over 200 local feeds (10 items each, full-text pages) and page extraction.

Run: .venv/bin/python -m bench.ingest [--feeds 200] [--items 10] [--pages 100]
The news site runs in a separate process on 127.0.0.1; the poller, SQLite and trafilatura run here.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import socket
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import web

from bot.ingest import FeedPoller, IngestLimits, feed_key
from bot.sources.addresses import FetchAllow
from bot.sources.extract import extract_article
from storage import Store
from tests.news_site import Item, rss

FIXTURES = Path(__file__).parents[1] / "tests" / "fixtures"
HEADLINE = "Azerbaijani diaspora organizations issued a statement"
START = datetime(2023, 7, 31, 8, 0, tzinfo=UTC)


def seed_page(n: int) -> bytes:
    """A page laid out like the outlet's (semantic or div-only), with its own headline."""
    layout = "article_semantic.html" if n % 2 else "article_divs.html"
    html = (FIXTURES / layout).read_text(encoding="utf-8")
    return html.replace(HEADLINE, f"Statement number {n} on the regional situation").encode()


def serve(port: int, feeds: int, items: int, ready: multiprocessing.Event) -> None:
    """The local news site: /feed/F.xml lists items F*items..; /page/N.html is a seed-like page."""
    layouts = [
        (FIXTURES / name).read_text(encoding="utf-8")
        for name in ("article_divs.html", "article_semantic.html")
    ]
    base = f"http://127.0.0.1:{port}"

    async def feed(request: web.Request) -> web.Response:
        number = int(request.match_info["n"])
        first = number * items
        entries = [
            Item(
                f"Statement number {first + i}",
                link=f"{base}/page/{first + i}.html?utm_source=rss",
                guid=f"{base}/page/{first + i}",
                summary="Summary.",
                published=START + timedelta(minutes=first + i),
            )
            for i in range(items)
        ]
        etag = f'"feed-{number}"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(body=rss(entries), content_type="application/rss+xml", headers={"ETag": etag})

    async def page(request: web.Request) -> web.Response:
        number = int(request.match_info["n"])
        html = layouts[number % 2].replace(HEADLINE, f"Statement number {number} on the regional situation")
        return web.Response(text=html, content_type="text/html", charset="utf-8")

    app = web.Application()
    app.router.add_get("/feed/{n}.xml", feed)
    app.router.add_get("/page/{n}.html", page)
    ready.set()
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def loop_lag(worst: list[float]) -> None:
    """How late a 10 ms timer fires: what a Telegram update waits for while the poller works."""
    while True:
        started = time.perf_counter()
        await asyncio.sleep(0.01)
        worst.append(time.perf_counter() - started - 0.01)


async def poll_once(port: int, feeds: int, db: Path) -> None:
    store = await Store.open(db)
    limits = IngestLimits()
    session = FeedPoller.open_session(limits, FetchAllow.parse("127.0.0.1"))  # the local site
    poller = FeedPoller(store, session, interval=300, limits=limits)
    for n in range(feeds):
        url = f"http://127.0.0.1:{port}/feed/{n}.xml"
        await store.feeds.add(url, feed_key(url) or url)
    try:
        for label in ("first cycle (backlog, full text)", "second cycle (all 304)"):
            lags: list[float] = []
            probe = asyncio.create_task(loop_lag(lags))
            started = time.perf_counter()
            outcomes = await poller.run_cycle()
            seconds = time.perf_counter() - started
            probe.cancel()
            lags.sort()
            articles = sum(o.new_articles for o in outcomes)
            failed = sum(1 for o in outcomes if o.error)
            rate = f", {articles / seconds:.0f} pages/s" if articles else ""
            summary = f"{len(outcomes)} feeds in {seconds:.2f} s, {articles} articles{rate}, {failed} errors"
            print(f"{label}: {summary}")
            p99 = lags[int(len(lags) * 0.99)] if lags else 0.0
            print(f"  event-loop lag: p99 {1000 * p99:.0f} ms, max {1000 * max(lags, default=0):.0f} ms")
        print(f"articles stored: {await store.articles.count()}")
    finally:
        await session.close()
        await store.close()


def extraction(pages: int) -> None:
    bodies = [seed_page(n) for n in range(pages)]
    started = time.perf_counter()
    for body in bodies:
        extract_article(body, "https://caspianherald.example/en/news/1")
    seconds = time.perf_counter() - started
    print(
        f"extraction: {pages} pages in {seconds:.2f} s, {pages / seconds:.0f} pages/s, "
        f"{1000 * seconds / pages:.1f} ms/page"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--items", type=int, default=10)
    parser.add_argument("--pages", type=int, default=100)
    args = parser.parse_args()
    port = free_port()
    ready = multiprocessing.Event()
    server = multiprocessing.Process(target=serve, args=(port, args.feeds, args.items, ready), daemon=True)
    server.start()
    try:
        ready.wait(10)
        time.sleep(0.5)  # run_app binds right after the event
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(poll_once(port, args.feeds, Path(tmp) / "bench.db"))
        extraction(args.pages)
    finally:
        server.terminate()
        server.join(5)


if __name__ == "__main__":
    main()
