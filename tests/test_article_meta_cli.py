"""`newsbot feed add` and `newsbot import` with --language, --section and --breaking, from the shell."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime

from tests.conftest import TOKEN
from tests.news_site import Item, NewsSite, article_page
from tests.test_cli import FIXTURES, clean_env, newsbot

BODY = ["The council met on Tuesday and approved the budget for the coming year after a long debate."]


def rows(db, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as connection:
        return connection.execute(sql).fetchall()


async def test_feed_add_with_options_lists_them_and_changes_them(tmp_path):
    db = tmp_path / "news.db"
    env = clean_env(NEWSBOT_DB=str(db), NEWSBOT_FETCH_ALLOW="127.0.0.1")
    async with NewsSite() as site:
        page = article_page("Budget approved", BODY, datetime(2024, 3, 5).date(), lang="tr")
        link = site.page("/news/1", page)
        url = site.feed(
            "/rss", [Item("Budget approved", link=link, published=datetime(2024, 3, 5, tzinfo=UTC))]
        )

        async def run(*args: str):
            return await asyncio.to_thread(newsbot, "feed", *args, env=env, cwd=tmp_path)

        added = await run("add", url, "--language", "en-US", "--section", "Ekonomi/Economy", "--breaking")
        assert added.returncode == 0, added.stderr
        assert added.stdout.strip() == (
            f"added {url}: 1 articles stored (first fetch, not announced) [en · Ekonomi/Economy · breaking]"
        )
        listing = (await run("list")).stdout.splitlines()
        assert listing[1].startswith(f"{url}\tGündem\ten\tEkonomi/Economy\tyes\t")

        changed = await run("add", url, "--language", "auto", "--no-breaking")
        assert changed.stdout.strip() == (
            f"updated {url}: language auto, section Ekonomi/Economy, not breaking news"
        )
        same = await run("add", url, "--section", "economy")
        assert same.stdout.strip().startswith(f"unchanged {url}: language auto, section Ekonomi/Economy")
        assert (
            (await run("list"))
            .stdout.splitlines()[1]
            .startswith(f"{url}\tGündem\tauto\tEkonomi/Economy\tno\t")
        )

        for bad, why in (
            (["--section", "E" * 10_000], "argument --section: expected"),
            (["--language", "xx-<script>"], "argument --language: expected a language code"),
        ):
            refused = await run("add", site.url("/other"), *bad)
            assert refused.returncode == 2 and why in refused.stderr
            assert len(refused.stderr) < 600 and "Traceback" not in refused.stderr
    assert rows(db, "SELECT url, language, breaking FROM feeds") == [(url, None, 0)]
    assert rows(db, "SELECT language, breaking FROM articles") == [("en", 1)]
    assert rows(db, "SELECT label_tr, label_en FROM sections ORDER BY id") == [
        ("Genel", "General"),
        ("Ekonomi", "Economy"),
    ]


def test_import_with_language_section_and_breaking(tmp_path):
    db = tmp_path / "news.db"
    env = clean_env(NEWSBOT_DB=str(db))
    result = newsbot(
        "import", "--breaking", "--language", "en", "--section", "Dünya/World",
        str(FIXTURES / "article_turkish.html"), env=env, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("[en · Dünya/World · breaking]")
    plain = newsbot("import", str(FIXTURES / "article_divs.html"), env=env, cwd=tmp_path)
    assert plain.returncode == 0 and plain.stdout.strip().endswith("(2023-07-31)"), (
        "nothing declared: no marks"
    )
    assert rows(
        db, "SELECT a.language, s.label_en, a.breaking FROM articles a JOIN sections s ON s.id = a.section_id"
    ) == [
        ("en", "World", 1),
        (None, "General", 0),
    ]
    refused = newsbot(
        "import", "--section", "a/b/c", str(FIXTURES / "article_divs.html"), env=env, cwd=tmp_path
    )
    assert refused.returncode == 2 and "argument --section" in refused.stderr


def test_a_bad_default_language_stops_the_bot_with_one_line(tmp_path):
    env = clean_env(
        TELEGRAM_BOT_TOKEN=TOKEN, NEWSBOT_DEFAULT_LANGUAGE="turkish", NEWSBOT_DB=str(tmp_path / "n.db")
    )
    result = newsbot("run", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "newsbot: NEWSBOT_DEFAULT_LANGUAGE: expected a two-letter ISO 639-1 code such as tr or en, "
        "got 'turkish'"
    )
