"""`newsbot feed add|list|remove` as an operator runs them, against a local news site."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime

import pytest

from tests.news_site import Item, NewsSite, article_page
from tests.test_cli import clean_env, newsbot

BODY = ["The council met on Tuesday and approved the budget for the coming year after a long debate."]


async def test_feed_add_list_and_remove(tmp_path):
    env = clean_env(NEWSBOT_DB=str(tmp_path / "news.db"), NEWSBOT_FETCH_ALLOW="127.0.0.1")
    async with NewsSite() as site:
        link = site.page("/news/1", article_page("Budget approved", BODY, datetime(2024, 3, 5).date()))
        url = site.feed(
            "/rss", [Item("Budget approved", link=link, published=datetime(2024, 3, 5, tzinfo=UTC))]
        )

        async def run(*args: str):
            return await asyncio.to_thread(newsbot, "feed", *args, env=env, cwd=tmp_path)

        added = await run("add", url)
        assert added.returncode == 0, added.stderr
        assert added.stdout.strip() == f"added {url}: 1 articles stored (first fetch, not announced)"
        assert (await run("add", url)).stdout.strip() == f"already listed: {url}"

        broken = await run("add", site.url("/nothing-here"))
        assert broken.returncode == 0 and broken.stderr.strip().endswith("first fetch failed: HTTP 404")
        assert broken.stderr.count("\n") == 1, "one line, no log noise or traceback"

        listing = (await run("list")).stdout.splitlines()
        assert listing[0] == "URL\tTITLE\tLANGUAGE\tSECTION\tBREAKING\tLAST FETCH\tARTICLES\tLAST ERROR"
        assert listing[1].startswith(f"{url}\tGündem\tauto\tGenel/General\tno\t")
        assert listing[1].endswith("\t1\t-")
        assert listing[2].endswith("\t0\tHTTP 404")

        removed = await run("remove", url)
        assert removed.returncode == 0 and "its articles stay" in removed.stdout
        missing = await run("remove", url)
        assert (
            missing.returncode == 1
            and missing.stderr.startswith("error:")
            and "no such feed" in missing.stderr
        )
        bad = await run("add", "file:///etc/passwd")
        assert bad.returncode == 1 and "not an http(s) URL" in bad.stderr
    with sqlite3.connect(tmp_path / "news.db") as db:
        assert db.execute("SELECT count(*) FROM articles").fetchone()[0] == 1
        assert db.execute("SELECT count(*) FROM deliveries").fetchone()[0] == 0


@pytest.mark.parametrize("url", ["http://[abc", "https://news.example:99999/rss"])
@pytest.mark.parametrize("action", ["add", "remove"])
def test_a_malformed_feed_url_is_one_line(tmp_path, action, url):
    result = newsbot("feed", action, url, env=clean_env(NEWSBOT_DB=str(tmp_path / "news.db")), cwd=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith(f"error: {url}: "), result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
