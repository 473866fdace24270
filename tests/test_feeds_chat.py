"""Operators manage feeds and post statements in Telegram; readers are politely refused."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from bot.settings import Settings
from storage import Store
from tests.conftest import running
from tests.conversation import Reader
from tests.news_site import Item, NewsSite, article_page

PARAGRAPHS = ["A statement long enough to be an article body, with a second clause for good measure here."]


@pytest.fixture
async def site() -> AsyncIterator[NewsSite]:
    async with NewsSite() as site:
        yield site


def item(site: NewsSite, n: int) -> Item:
    link = site.page(f"/news/{n}", article_page(f"Haber {n}", PARAGRAPHS, datetime(2024, 5, n).date()))
    return Item(f"Haber {n}", link=link, guid=f"n{n}", published=datetime(2024, 5, n, tzinfo=UTC))


async def test_an_admin_adds_lists_and_removes_feeds(admin: Reader, app, site):
    assert "No feeds yet" in (await admin.says("/feeds")).plain
    url = site.feed("/rss", [item(site, 2), item(site, 1)], title="Gündem")
    answer = (await admin.says(f"/feeds add {url}")).plain
    assert "Added" in answer and "stored 2 articles without sending them" in answer
    assert await app.bot_data.store.outbox.pending_count() == 0
    assert "already in the list" in (await admin.says(f"/feeds add {url}/")).plain

    broken = site.url("/broken")
    answer = (await admin.says(f"/feeds add {broken}")).plain
    assert "first fetch failed: HTTP 404" in answer

    listing = (await admin.says("/feeds")).plain
    assert "2 feeds" in listing and url in listing and "Gündem · 2 articles · last fetch" in listing
    assert "⚠️ HTTP 404" in listing

    assert "Removed" in (await admin.says(f"/feeds remove {broken}")).plain
    assert "No such feed" in (await admin.says(f"/feeds remove {broken}")).plain
    assert "not an http(s) address" in (await admin.says("/feeds add ftp://example.com/rss")).plain
    assert "/feeds add URL" in (await admin.says("/feeds delete everything")).plain
    assert await app.bot_data.store.articles.count() == 2


@pytest.mark.parametrize("url", ["http://[abc", "https://news.example:99999/rss"])
async def test_a_malformed_feed_url_is_answered_without_a_logged_error(admin: Reader, app, url, caplog):
    for action in ("add", "remove"):
        answer = (await admin.says(f"/feeds {action} {url}")).plain
        assert "not an http(s) address" in answer
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info], "no traceback"
    assert await app.bot_data.store.feeds.statuses() == []


async def test_a_long_feed_list_is_split_within_telegrams_limits(admin: Reader, app, telegram):
    store = app.bot_data.store
    for n in range(20):
        await store.feeds.add(
            f"https://feeds.example/{n}/" + "x" * 150, f"https://feeds.example/{n}/" + "x" * 150
        )
    answers = await admin.send("/feeds")
    assert len(answers) == 3 and not telegram.violations


async def test_readers_cannot_manage_feeds_or_post(reader: Reader, app, site):
    url = site.feed("/rss", [item(site, 1)])
    unknown = (await reader.says("/nosuchcommand")).plain  # operator commands do not even exist for them
    assert (await reader.says(f"/feeds add {url}")).plain == unknown
    assert (await reader.says("/feeds")).plain == unknown
    assert (await reader.says("/post Başlık\nMetin")).plain == unknown
    assert await app.bot_data.store.feeds.statuses() == []
    assert await app.bot_data.store.articles.count() == 0 and site.requests == []


async def test_an_admin_posts_a_statement_that_goes_to_every_subscriber(
    admin: Reader, reader: Reader, app, telegram
):
    await reader.says("/subscribe")
    answer = (
        await admin.publishes("/post Valilikten açıklama\nİl genelinde okullar yarın tatil.\nİkinci satır.")
    ).plain
    assert "Published as #1: Valilikten açıklama" in answer
    article = await app.bot_data.store.articles.get(1)
    assert (article.source, article.body) == ("telegram", "İl genelinde okullar yarın tatil.\nİkinci satır.")
    *_, delivered = await telegram.wait_for_messages(2, chat_id=reader.chat_id)
    assert delivered.plain.startswith("Valilikten açıklama")
    again = await admin.says("/post Valilikten açıklama\nİl genelinde okullar yarın tatil.\nİkinci satır.")
    assert "already published as #1" in again.plain and not again.reply_markup  # no preview to publish
    assert "/article 1" in (await reader.says("/search okullar tatil")).plain


@pytest.mark.parametrize(
    "text",
    ["/post", "/post Only a headline", "/post \n\nbody without headline", "/post " + "H" * 301 + "\nbody"],
)
async def test_a_post_without_headline_or_body_gets_the_usage(admin: Reader, app, text):
    assert "headline on the first line" in (await admin.says(text)).plain
    assert await app.bot_data.store.articles.count() == 0


async def test_the_job_polls_every_interval_silently_first_then_announces(
    settings: Settings, site, telegram, caplog
):
    url = site.feed("/rss", [item(site, 1)])
    store = await Store.open(settings.database)
    await store.feeds.add(url, url)
    await store.chats.touch(7, "private", "tr")
    await store.chats.subscribe(7)
    await store.close()
    caplog.set_level(logging.INFO, logger="bot.ingest")
    async with running(settings, feed_interval=0.5) as application:
        store = application.bot_data.store
        await wait_until(lambda: store.articles.count(), 1)
        assert await store.db.fetchval("SELECT count(*) FROM deliveries") == 0, "the backlog is not pushed"
        site.feed("/rss", [item(site, 2), item(site, 1)])
        [pushed] = await telegram.wait_for_messages(1, chat_id=7)
        assert pushed.plain.startswith("Haber 2")
        assert [a.title for a in await store.articles.latest(5)] == ["Haber 2", "Haber 1"]
        site.raw("/rss", behaviour="hang")  # held until the site closes; the poller's read timeout is 10 s
        hanging = len(site.seen("/rss")) + 1
        await wait_until(lambda: _now(len(site.seen("/rss"))), hanging)
        skipped = len(_skips(caplog))

        async def later_ticks() -> int:  # ticks since the hang began: skipped, or (wrongly) polling again
            return len(_skips(caplog)) - skipped + len(site.seen("/rss")) - hanging

        await wait_until(later_ticks, 2)
        assert len(site.seen("/rss")) == hanging, "the job does not overlap itself"
    store = await Store.open(settings.database)
    try:
        [status] = await store.feeds.statuses()
    finally:
        await store.close()
    assert (status.feed.failures, status.feed.last_error) == (0, None), (
        "shutdown cancelled the hanging poll instead of waiting for its timeout"
    )


def _skips(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage().startswith("feed poll skipped")]


async def _now(value: int) -> int:
    return value


async def wait_until(probe, expected: int, *, timeout: float = 30) -> None:
    """Poll until probe() reaches expected; the timeout only bounds a hang."""
    deadline = time.monotonic() + timeout
    while (value := await probe()) < expected:
        assert time.monotonic() < deadline, f"still {value}, expected {expected}"
        await asyncio.sleep(0.05)


async def test_help_shows_operator_commands_to_operators_only(admin: Reader, english_reader: Reader):
    operator_help = (await admin.says("/help")).plain
    assert "/feeds — " in operator_help and "/post — " in operator_help and "/search — " in operator_help
    reader_help = (await english_reader.says("/help")).plain
    assert "/feeds" not in reader_help and "/post" not in reader_help
