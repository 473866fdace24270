"""/stats: a chart for operators only, drawn at most once a minute, the history it needs, /stats N."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

from PIL import Image

from bot.clock import ISTANBUL
from bot.delivery.ratelimit import TelegramRateLimiter
from bot.drafts import make_draft
from bot.publishing import publish
from bot.render import Renderer
from bot.stats.chart import HEIGHT, WIDTH, render_chart
from bot.stats.charts import StatsCharts
from storage import Store
from tests.conftest import ADMIN_ID
from tests.conversation import Reader
from tests.fake_telegram import FakeBotAPI, Fault, make_chat, my_chat_member_update
from tests.weather.support import FakeClock, eventually, running_at

NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)  # 15:30 in Istanbul


async def publish_article(store: Store, title: str = "Açıklama: yeni gelişmeler", n: int = 1) -> int:
    draft = make_draft(
        title=title,
        body="Bakanlık bugün bir açıklama yaptı. " * 20,
        published=datetime(2026, 3, 10, 9, 0, tzinfo=UTC),
        source="import",
        url=f"https://example.com/news/{n}",
    )
    return (await publish(store, draft)).article.id


async def nothing_pending(store: Store) -> bool:
    return await store.outbox.pending_count() == 0


def days_ago(n: int, hhmm: str = "12:00") -> float:
    """Unix time of HH:MM Istanbul time, n days before NOW."""
    hour, minute = (int(part) for part in hhmm.split(":"))
    local = NOW.astimezone(ISTANBUL).replace(hour=hour, minute=minute) - timedelta(days=n)
    return local.timestamp()


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- who gets the chart -------------------------------------------------------------------------------


async def test_stats_sends_a_chart_to_an_operator_and_nothing_to_anyone_else(
    app, admin: Reader, reader: Reader, telegram: FakeBotAPI
):
    answers = await admin.send("/stats")
    assert [a.method for a in answers] == ["sendMessage", "sendPhoto"]
    assert "Subscribers over 30 days" in answers[1].plain
    [upload] = telegram.uploads
    image = Image.open(io.BytesIO(upload.data))
    assert (image.format, image.size) == ("PNG", (WIDTH, HEIGHT))
    assert upload.chat_id == ADMIN_ID

    assert [a.method for a in await reader.send("/stats")] == ["sendMessage"]  # the unknown-command answer
    group = make_chat(-4700, "supergroup")
    operator_in_group = Reader(app, telegram, ADMIN_ID, language_code="en", chat=group)
    assert await operator_in_group.send("/stats") == []
    assert [m.chat_id for m in telegram.sent if m.method == "sendPhoto"] == [ADMIN_ID]
    assert len(telegram.uploads) == 1


async def test_the_chart_is_drawn_at_most_once_a_minute(settings, telegram: FakeBotAPI):
    clock = FakeClock(NOW)
    async with running_at(settings, clock) as app:
        admin = Reader(app, telegram, ADMIN_ID, language_code="en")
        charts = app.bot_data.charts
        first = (await admin.send("/stats"))[1]
        clock.advance(seconds=59)
        second = (await admin.send("/stats"))[1]
        assert charts.renders == 1
        assert first.uploaded and not second.uploaded and second.file_id == first.file_id
        clock.advance(seconds=1)
        third = (await admin.send("/stats"))[1]
        assert charts.renders == 2 and third.uploaded
        assert len(telegram.uploads) == 2


# --- what it shows ------------------------------------------------------------------------------------


async def test_every_way_in_and_out_of_the_audience_is_recorded(app, reader: Reader, telegram: FakeBotAPI):
    store = app.bot_data.store
    counted: dict[str, int] = {}

    async def counts() -> dict[str, int]:
        rows = await store.db.fetchall("SELECT kind, sum(count) FROM chat_event_hours GROUP BY kind")
        return {kind: total for kind, total in rows if total}

    async def step(action, expected: dict[str, int]) -> None:
        await action
        for kind, more in expected.items():
            counted[kind] = counted.get(kind, 0) + more
        assert await counts() == counted

    await step(reader.send("/subscribe"), {"joined": 1})
    await step(reader.send("/subscribe"), {})  # already subscribed: nothing changes
    await step(reader.send("/unsubscribe"), {"left": 1})
    await step(reader.send("/subscribe"), {"joined": 1})
    private = make_chat(reader.chat_id, "private")
    await step(
        reader.deliver(my_chat_member_update(private, reader.user, "member", "kicked")), {"blocked": 1}
    )
    await step(reader.send("/start"), {"joined": 1})  # came back
    telegram.block(reader.chat_id)
    await publish_article(store)  # a send meets the block
    counted["blocked"] += 1
    await eventually(lambda: _counted(counts, counted))
    channel = make_chat(-1001234567890, "channel")
    await step(
        reader.deliver(my_chat_member_update(channel, reader.user, "left", "administrator")), {"joined": 1}
    )
    await step(
        reader.deliver(my_chat_member_update(channel, reader.user, "administrator", "left")), {"left": 1}
    )


async def _counted(counts, expected: dict[str, int]) -> bool:
    return await counts() == expected


async def test_the_chart_counts_istanbul_days_and_ends_at_the_active_count(tmp_path):
    store = await Store.open(tmp_path / "newsbot.db")
    try:
        await store.db.executemany(
            "INSERT INTO chats (chat_id, subscribed) VALUES (?, 1)", [(i,) for i in range(1, 11)]
        )
        await store.db.execute("DELETE FROM chat_event_hours")  # the inserts' own, at the real time
        events = [("joined", days_ago(2), 3), ("left", days_ago(2), 1), ("joined", days_ago(1), 2)]
        events += [("blocked", days_ago(1), 1), ("joined", days_ago(0), 1)]
        events += [("joined", days_ago(2, "01:30"), 1)]  # 22:30 UTC the day before
        await store.db.executemany(
            "INSERT INTO chat_event_hours (hour, kind, count) VALUES (?, ?, ?)",
            [(int(at // 3600) * 3600, kind, count) for kind, at, count in events],
        )
        await store.db.execute(
            "UPDATE schema_migrations SET applied_at = ? WHERE version = 17", (iso(NOW - timedelta(days=40)),)
        )
        charts = StatsCharts(store, Renderer(), clock=lambda: NOW)
        data = await charts.chart_data()
        assert len(data.days) == 30 and data.days[-1] == date(2026, 3, 10)
        assert data.joined[-3:] == [4, 2, 1]
        assert data.left[-3:] == [1, 0, 0] and data.blocked[-3:] == [0, 1, 0]
        assert data.active[-4:] == [5, 8, 9, 10]  # back from today's 10 by each day's changes
        assert data.days_recorded_from == 0 and data.hours_recorded_from == 0

        await store.db.execute(
            "UPDATE schema_migrations SET applied_at = ? WHERE version = 17", (iso(NOW - timedelta(days=2)),)
        )
        data = await charts.chart_data()
        assert data.days_recorded_from == data.days.index(date(2026, 3, 8))  # days before are greyed
        assert data.hours_recorded_from == 0
        png = render_chart(data, charts.labels("tr"))
        assert Image.open(io.BytesIO(png)).size == (WIDTH, HEIGHT)
    finally:
        await store.close()


async def test_sends_and_429s_are_counted_per_hour(tmp_path):
    store = await Store.open(tmp_path / "newsbot.db")
    try:
        now = [NOW]
        charts = StatsCharts(store, Renderer(), clock=lambda: now[0])
        limiter = TelegramRateLimiter(overall_per_second=1000)
        for chat_id in range(5):
            await limiter.acquire(chat_id, reader=False)
        limiter.flood(None, 0.0)
        limiter.flood(None, 0.0)
        await charts.record_sends(limiter)
        await charts.record_sends(limiter)  # nothing new: nothing added
        now[0] = NOW + timedelta(hours=1)
        for chat_id in range(10, 13):
            await limiter.acquire(chat_id, reader=True)
        await charts.record_sends(limiter)
        rows = await store.db.fetchall("SELECT hour, sent, flood FROM send_hours ORDER BY hour")
        hour = int(NOW.timestamp() // 3600) * 3600
        assert [tuple(row) for row in rows] == [(hour, 5, 2), (hour + 3600, 3, 0)]
        data = await charts.chart_data()
        assert (data.sent[-2:], data.flood[-2:]) == ([5, 3], [2, 0])
        assert (data.hours[-1].hour, len(data.hours)) == (16, 48)  # 13:30 UTC is 16:30 in Istanbul
    finally:
        await store.close()


async def test_a_429_met_by_a_reply_reaches_the_chart(app, admin: Reader, telegram: FakeBotAPI):
    telegram.fail_next("sendMessage", ADMIN_ID, Fault.retry_after(1))
    await admin.says("/help")  # paused a second, then sent
    await app.bot_data.charts.record_sends(app.bot.rate_limiter)
    sent, flood = await app.bot_data.store.db.fetchone("SELECT sum(sent), sum(flood) FROM send_hours")
    assert flood == 1 and sent >= 2


async def test_the_broadcast_in_progress_and_how_far_it_got(tmp_path):
    store = await Store.open(tmp_path / "newsbot.db")
    try:
        await store.db.executemany(  # Turkish readers: the (Turkish) article is routed to every one of them
            "INSERT INTO chats (chat_id, subscribed, language_code) VALUES (?, 1, 'tr')",
            [(i,) for i in range(1, 11)],
        )
        assert await store.stats.broadcasts_in_progress(3) == []
        article = await publish_article(store, "Seçim sonuçları")
        [status] = await store.stats.broadcasts_in_progress(3)
        assert status.filling and (status.kind, status.ref, status.title) == (
            "article",
            str(article),
            "Seçim sonuçları",
        )
        while not await store.outbox.fill(status.broadcast_id):
            pass
        await store.db.execute("UPDATE deliveries SET status = 'sent', finished_at = 1 WHERE chat_id <= 6")
        await store.db.execute("UPDATE deliveries SET status = 'failed', finished_at = 1 WHERE chat_id = 7")
        [status] = await store.stats.broadcasts_in_progress(3)
        assert (status.total, status.done, status.failed, status.pending, status.filling) == (
            10,
            7,
            1,
            3,
            False,
        )
        await store.db.execute(
            "UPDATE deliveries SET status = 'sent', finished_at = 1 WHERE status = 'pending'"
        )
        [status] = await store.stats.broadcasts_in_progress(3)  # none in progress: the newest one
        assert (status.done, status.pending) == (10, 0)
    finally:
        await store.close()


# --- /stats N -----------------------------------------------------------------------------------------


async def test_stats_n_tells_how_far_one_article_got(
    app, admin: Reader, reader: Reader, telegram: FakeBotAPI
):
    store = app.bot_data.store
    await reader.says("/subscribe")
    for chat_id in (1101, 1102):
        await store.chats.touch(chat_id, "private", "tr")
        await store.chats.subscribe(chat_id)
    telegram.block(1102)
    article = await publish_article(store)
    await eventually(lambda: nothing_pending(store))

    await reader.send(f"/start a{article}")  # Ayşe opens it from a link
    await reader.send(f"/start a{article}")  # twice: one reader
    code = await store.referrals.code_for(reader.chat_id)
    friend = Reader(app, telegram, 2001, language_code="en", first_name="Mehmet")
    await friend.send(f"/start a{article}-r{code}")  # a friend, through Ayşe's shared link
    await reader.send(f"/start a{article}-r{code}")  # her own link is not a share
    await reader.send("/start a999")  # no such article: not counted

    report = (await admin.says(f"/stats {article}")).plain
    assert f"Article #{article}" in report and "Açıklama: yeni gelişmeler" in report
    assert "Push to 3 subscribers" in report
    assert "delivered: 2" in report and "failed: 1" in report and "still queued: 0" in report
    assert "Opened through a link to it: 2 readers" in report
    assert "through someone else's shared link: 1" in report
    assert "New readers it brought: 1 (now subscribed: 0)" in report
    assert "There is no article #999." in (await admin.says("/stats 999")).plain
    assert "/stats 12 shows" in (await admin.says("/stats twelve")).plain
    assert [a.method for a in await reader.send(f"/stats {article}")] == ["sendMessage"]
    assert str(article) not in (await reader.send(f"/stats {article}"))[0].plain
