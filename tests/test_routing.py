"""Readers get what they chose, when they chose: languages, sections, followed words, digests, quiet hours.

Conversations through the fake Bot API on a clock the tests move (no wall-clock bounds): the delivery
engine judges quiet hours at its fill moment on that clock, and the digest and quiet-hours job runs at the
moments the tests give it (or at start, after "downtime").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest
from telegram.ext import Application

from bot.delivery import DeliveryEngine
from bot.drafts import make_draft
from bot.publishing import queue_for_readers
from bot.readers.digests import digest_renderer, queue_due_digests, release_quiet
from bot.readers.schedule import next_quiet_end, next_slot, parse_minute
from bot.settings import Settings
from bot.views import RenderedMessage
from storage import Store
from storage.routing import _ANYONE_DUE
from tests.conversation import buttons
from tests.fake_telegram import FakeBotAPI, SentMessage
from tests.weather.support import FakeClock, eventually, running_at

pytestmark = pytest.mark.backends  # on SQLite and on PostgreSQL

DAY = date(2026, 3, 10)
NEXT_DAY = DAY + timedelta(days=1)
ECONOMY = 2
BODY = "Bakanlık bugün yazılı bir açıklama yaptı. Ayrıntılar haberin devamında."


@pytest.fixture
def clock() -> FakeClock:
    """Noon in Istanbul on DAY, until a test moves it."""
    clock = FakeClock(datetime(2000, 1, 1, tzinfo=UTC))
    clock.set_istanbul(DAY, "12:00")
    return clock


@pytest.fixture
async def bot(settings: Settings, clock: FakeClock) -> AsyncIterator[Application]:
    """The production Application on the test's clock, with an Economy section besides General."""
    async with running_at(settings, clock) as application:
        await store_of(application).db.execute(
            "INSERT INTO sections (id, key, label_tr, label_en) VALUES (?, 'ekonomi', 'Ekonomi', 'Economy')",
            (ECONOMY,),
        )
        yield application


def store_of(app: Application) -> Store:
    store = app.bot_data.store
    assert store is not None
    return store


def engine_of(app: Application) -> DeliveryEngine:
    engine = app.bot_data.delivery
    assert engine is not None
    return engine


async def subscriber(store: Store, chat_id: int, language_code: str = "tr") -> int:
    await store.chats.touch(chat_id, "private", language_code)
    await store.chats.subscribe(chat_id)
    return chat_id


async def publish_at(
    store: Store,
    clock: FakeClock,
    title: str,
    body: str = BODY,
    *,
    language: str = "tr",
    section: int = 1,
    breaking: bool = False,
) -> int:
    """Publish as bot/publishing.py does, with the article's language, section and breaking flag set in
    the same transaction (as ingest will) and its creation stamped on the test's clock."""
    draft = make_draft(title=title, body=body, published=clock(), source="import")
    async with store.db.transaction() as tx:
        article, created = await store.articles.add(tx, draft)
        assert created
        await tx.execute(
            "UPDATE articles SET language = ?, section_id = ?, breaking = ?, "
            " created_at = ? WHERE id = ?",
            (language, section, int(breaking), f"{clock().astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}", article.id),
        )
        await queue_for_readers(store, tx, article)
    return article.id


async def settle(app: Application, timeout: float = 30.0) -> None:
    """Wait until every broadcast is queued and sent (the timeout only bounds a hang)."""
    store, engine = store_of(app), engine_of(app)

    async def idle() -> bool:
        return await store.outbox.pending_count() == 0 and not engine.in_flight

    await eventually(idle, timeout)


async def set_digest(store: Store, clock: FakeClock, chat_id: int, times: str) -> None:
    minutes = [parse_minute(part) or 0 for part in times.split(",")]
    await store.readers.set_digest(chat_id, times, next_slot(minutes, clock().timestamp()))


async def set_quiet(store: Store, clock: FakeClock, chat_id: int, start: str, end: str) -> None:
    first, last = parse_minute(start), parse_minute(end)
    await store.readers.set_quiet(chat_id, first, last, next_quiet_end(first, last, clock().timestamp()))


def headlines(messages: list[SentMessage]) -> list[str]:
    return [(m.plain or "").split("\n", 1)[0] for m in messages]


async def chat_value(store: Store, chat_id: int, column: str):
    return await store.db.fetchval(f"SELECT {column} FROM chats WHERE chat_id = ?", (chat_id,))


async def started_jobs_ran(app: Application) -> bool:
    """The start-up runs of the jobs have started (no one-off left scheduled)."""
    return all("date" not in str(job.trigger) for job in app.job_queue.jobs())


def at(day: date, hhmm: str) -> float:
    clock = FakeClock(datetime(2000, 1, 1, tzinfo=UTC))
    clock.set_istanbul(day, hhmm)
    return clock().timestamp()


# ---------------------------------------------------------------------------------------------- languages


async def test_an_english_reader_never_gets_a_turkish_article_unless_they_chose_both(
    bot, telegram: FakeBotAPI, clock
):
    store = store_of(bot)
    turkish = await subscriber(store, 101, "tr")
    english = await subscriber(store, 102, "en")
    both = await subscriber(store, 103, "en")
    await store.readers.set_languages(both, ["tr", "en"])
    english_articles = await subscriber(store, 104, "tr")  # a Turkish interface, English news only
    await store.readers.set_languages(english_articles, ["en"])
    chose_turkish = await subscriber(store, 105, "de")  # /language tr wins over Telegram's language
    await store.chats.set_language(chose_turkish, "tr")

    await publish_at(store, clock, "Meclis bugün toplandı", language="tr")
    await publish_at(store, clock, "Parliament met today", "The assembly met in the morning.", language="en")
    await settle(bot)

    got = {chat: headlines(telegram.messages_to(chat)) for chat in (101, 102, 103, 104, 105)}
    assert got == {
        turkish: ["Meclis bugün toplandı"],
        english: ["Parliament met today"],
        both: ["Meclis bugün toplandı", "Parliament met today"],
        english_articles: ["Parliament met today"],
        chose_turkish: ["Meclis bugün toplandı"],
    }


# ---------------------------------------------------------------------------------------------- sections


async def test_a_muted_section_is_skipped_but_a_followed_word_beats_it_and_is_named(
    bot, telegram: FakeBotAPI, clock
):
    store = store_of(bot)
    muted = await subscriber(store, 201)
    follower = await subscriber(store, 202)
    fan = await subscriber(store, 203)  # follows, section on
    everyone = await subscriber(store, 204, "en")
    await store.readers.set_languages(everyone, ["en", "tr"])
    for chat in (muted, follower):
        await store.readers.mute_section(chat, ECONOMY)
    await store.readers.follow(follower, ["cankiri"])
    await store.readers.follow(fan, ["Çankırı"])

    await publish_at(store, clock, "Çankırı'da yeni fabrika açıldı", section=ECONOMY)
    await publish_at(store, clock, "Faiz kararı açıklandı", section=ECONOMY)
    await publish_at(store, clock, "Hava yarın serin", section=1)
    await settle(bot)

    assert headlines(telegram.messages_to(muted)) == ["Hava yarın serin"]
    assert headlines(telegram.messages_to(follower)) == ["Çankırı'da yeni fabrika açıldı", "Hava yarın serin"]
    assert len(telegram.messages_to(fan)) == 3 and len(telegram.messages_to(everyone)) == 3
    pushed = telegram.messages_to(follower)[0]
    assert "Takip ettiğiniz «cankiri» geçtiği için" in (pushed.plain or "")
    assert "Takip ettiğiniz «Çankırı» geçtiği için" in (telegram.messages_to(fan)[0].plain or "")
    assert "Because you follow «cankiri»" not in (telegram.messages_to(everyone)[0].plain or "")
    assert "Takip ettiğiniz" not in (telegram.messages_to(follower)[1].plain or "")

    # Every pushed article has the one-tap mute of its section, in the reader's language, besides Share.
    labels = {b["text"]: b.get("callback_data") for b in buttons(pushed)}
    assert labels["🔕 Ekonomi"] == f"mute:{ECONOMY}" and "Paylaş" in labels
    english = {b["text"]: b.get("callback_data") for b in buttons(telegram.messages_to(everyone)[2])}
    assert english["🔕 General"] == "mute:1"


async def test_a_reader_with_every_section_muted_again_gets_them_after_unmuting(bot, telegram, clock):
    store = store_of(bot)
    reader = await subscriber(store, 251)
    await store.readers.mute_section(reader, ECONOMY)
    await store.readers.mute_section(reader, 1)
    await store.readers.mute_section(reader, 1)  # idempotent
    assert await chat_value(store_of(bot), reader, "muted_sections") == ",2,1,"
    await publish_at(store, clock, "Borsa güne yükselişle başladı", section=ECONOMY)
    await settle(bot)
    await store.readers.unmute_section(reader, ECONOMY)
    await store.readers.unmute_section(reader, 1)
    assert await chat_value(store_of(bot), reader, "muted_sections") is None
    await publish_at(store, clock, "Altın fiyatları düştü", section=ECONOMY)
    await settle(bot)
    assert headlines(telegram.messages_to(reader)) == ["Altın fiyatları düştü"]


# ---------------------------------------------------------------------------------------------- breaking


async def test_breaking_news_ignores_muted_sections_and_digests_but_not_languages(bot, telegram, clock):
    store = store_of(bot)
    muted = await subscriber(store, 301)
    await store.readers.mute_section(muted, ECONOMY)
    digest = await subscriber(store, 302)
    await set_digest(store, clock, digest, "08:00")
    english = await subscriber(store, 303, "en")

    await publish_at(
        store, clock, "SON DAKİKA: Merkez Bankası faizi değiştirdi", section=ECONOMY, breaking=True
    )
    await publish_at(store, clock, "Merkez Bankası toplantısının ayrıntıları", section=ECONOMY)
    await settle(bot)

    assert headlines(telegram.messages_to(muted)) == ["SON DAKİKA: Merkez Bankası faizi değiştirdi"]
    assert headlines(telegram.messages_to(digest)) == ["SON DAKİKA: Merkez Bankası faizi değiştirdi"]
    assert telegram.messages_to(english) == []
    assert not any(m.disable_notification for m in telegram.sent), "nobody is in quiet hours"


# ---------------------------------------------------------------------------------------------- quiet hours


async def test_quiet_hours_hold_articles_and_release_a_few_one_by_one_when_they_end(bot, telegram, clock):
    store = store_of(bot)
    clock.set_istanbul(DAY, "22:30")
    quiet = await subscriber(store, 401)
    await set_quiet(store, clock, quiet, "23:00", "07:00")
    awake = await subscriber(store, 402)
    await publish_at(store, clock, "Akşam haberi")  # before quiet hours: at once
    await settle(bot)
    clock.set_istanbul(DAY, "23:30")
    await publish_at(store, clock, "Gece yarısı haberi")
    clock.set_istanbul(NEXT_DAY, "02:00")
    await publish_at(store, clock, "Sabaha karşı haberi")
    await settle(bot)
    assert headlines(telegram.messages_to(quiet)) == ["Akşam haberi"]
    assert len(telegram.messages_to(awake)) == 3

    clock.set_istanbul(NEXT_DAY, "06:59")
    assert (await release_quiet(store, clock().timestamp())).readers == 0
    clock.set_istanbul(NEXT_DAY, "07:00")
    report = await release_quiet(store, clock().timestamp())
    assert (report.readers, report.queued) == (1, 2)
    await settle(bot)
    released = telegram.messages_to(quiet)[1:]
    assert sorted(headlines(released)) == ["Gece yarısı haberi", "Sabaha karşı haberi"]
    assert not any(m.disable_notification for m in released)
    assert any(b["text"] == "🔕 Genel" for b in buttons(released[0])), "released articles are articles"
    db = store_of(bot)
    assert await chat_value(db, quiet, "quiet_next_end") == at(NEXT_DAY + timedelta(days=1), "07:00")

    assert (await release_quiet(store, clock().timestamp())).readers == 0, "nothing twice"
    clock.set_istanbul(NEXT_DAY, "08:00")
    await publish_at(store, clock, "Sabah haberi")
    await settle(bot)
    assert headlines(telegram.messages_to(quiet))[-1] == "Sabah haberi"
    assert len(telegram.messages_to(quiet)) == 4


async def test_more_than_three_held_articles_arrive_as_one_message(bot, telegram, clock):
    store = store_of(bot)
    clock.set_istanbul(DAY, "23:10")
    quiet = await subscriber(store, 411)
    await set_quiet(store, clock, quiet, "23:00", "07:00")
    other_quiet = await subscriber(store, 412)  # the same night: they share one message
    await set_quiet(store, clock, other_quiet, "23:00", "07:00")
    await store.readers.follow(quiet, ["deprem"])
    titles = ["Birinci", "İkinci", "Deprem uyarısı", "Dördüncü", "Beşinci"]
    for index, title in enumerate(titles):
        clock.advance(minutes=30)
        await publish_at(store, clock, f"{title} haber {index}")
    await settle(bot)
    assert telegram.messages_to(quiet) == []

    clock.set_istanbul(NEXT_DAY, "07:00")
    report = await release_quiet(store, clock().timestamp())
    assert (report.readers, report.queued, report.broadcasts) == (2, 2, 2)
    await settle(bot)
    [message] = telegram.messages_to(quiet)
    text = message.plain or ""
    assert text.startswith("📰 Haberleriniz: 5 yeni haber")
    lines = [line for line in text.split("\n") if " · " in line]
    assert lines[0].endswith("Deprem uyarısı haber 2"), "a followed word comes first"
    assert [line.split(" · ")[1] for line in lines[1:]] == [
        "Beşinci haber 4", "Dördüncü haber 3", "İkinci haber 1", "Birinci haber 0",
    ]  # fmt: skip
    assert not message.disable_notification
    [theirs] = telegram.messages_to(other_quiet)
    assert "Birinci haber 0" in (theirs.plain or "")


async def test_breaking_news_in_quiet_hours_arrives_at_once_but_silently(bot, telegram, clock):
    store = store_of(bot)
    clock.set_istanbul(DAY, "01:00")
    quiet = await subscriber(store, 421)
    await set_quiet(store, clock, quiet, "23:00", "07:00")
    awake = await subscriber(store, 422)
    await publish_at(store, clock, "SON DAKİKA: Deprem", breaking=True)
    await settle(bot)
    [silent] = telegram.messages_to(quiet)
    [loud] = telegram.messages_to(awake)
    assert silent.disable_notification and not loud.disable_notification
    assert silent.plain == loud.plain

    clock.set_istanbul(DAY, "07:00")
    assert (await release_quiet(store, clock().timestamp())).queued == 0, "breaking news is not held again"
    await settle(bot)
    assert len(telegram.messages_to(quiet)) == 1


# ---------------------------------------------------------------------------------------------- digests


async def test_the_digest_comes_at_its_minute_with_followed_and_breaking_first(bot, telegram, clock):
    store = store_of(bot)
    clock.set_istanbul(DAY, "07:00")
    reader = await subscriber(store, 501)
    await set_digest(store, clock, reader, "08:00, 18:30")
    await store.readers.mute_section(reader, ECONOMY)
    await store.readers.follow(reader, ["Çankırı"])
    ids = []
    for number in range(1, 13):
        clock.advance(minutes=3)
        ids.append(
            await publish_at(
                store,
                clock,
                f"Haber {number}" + (" Çankırı" if number == 3 else ""),
                section=ECONOMY if number in (3, 7) else 1,
                breaking=number == 5,
            )
        )
    await settle(bot)
    assert headlines(telegram.messages_to(reader)) == ["Haber 5"], "only breaking news comes at once"

    clock.set_istanbul(DAY, "07:59")
    assert (await queue_due_digests(store, clock().timestamp())).readers == 0
    clock.set_istanbul(DAY, "08:00")
    report = await queue_due_digests(store, clock().timestamp())
    assert (report.readers, report.queued, report.broadcasts) == (1, 1, 1)
    await settle(bot)
    digest = telegram.messages_to(reader)[-1]
    text = digest.plain or ""
    assert text.startswith("📰 Haberleriniz: 11 yeni haber"), "12 articles, one in a muted section"
    listed = [int(line.split(" · ")[0]) for line in text.split("\n") if " · " in line]
    expected = [ids[4], ids[2], *[ids[n - 1] for n in (12, 11, 10, 9, 8, 6, 4, 2)]]
    assert listed == expected
    assert "🔴 Haber 5" in text
    assert "1 haber daha: /latest 10" in text
    assert not digest.disable_notification

    db = store_of(bot)
    assert await chat_value(db, reader, "digest_next") == at(DAY, "18:30")
    assert await chat_value(db, reader, "digest_after") == ids[-1]
    assert (await queue_due_digests(store, clock().timestamp())).readers == 0, "nothing twice"

    clock.set_istanbul(DAY, "09:00")
    later = await publish_at(store, clock, "Öğle haberi")
    clock.set_istanbul(DAY, "18:30")
    assert (await queue_due_digests(store, clock().timestamp())).queued == 1
    await settle(bot)
    evening = telegram.messages_to(reader)[-1].plain or ""
    assert evening.startswith("📰 Haberleriniz: 1 yeni haber") and f"{later} · Öğle haberi" in evening
    assert await chat_value(db, reader, "digest_next") == at(NEXT_DAY, "08:00")


async def test_an_empty_digest_sends_nothing_and_moves_on(bot, telegram, clock):
    store = store_of(bot)
    clock.set_istanbul(DAY, "07:00")
    reader = await subscriber(store, 511)
    await set_digest(store, clock, reader, "08:00")
    await publish_at(store, clock, "Economy news", language="en")  # not in the reader's languages
    clock.set_istanbul(DAY, "08:00")
    report = await queue_due_digests(store, clock().timestamp())
    assert (report.readers, report.queued) == (1, 0)
    await settle(bot)
    assert telegram.messages_to(reader) == []
    assert await chat_value(store_of(bot), reader, "digest_next") == at(NEXT_DAY, "08:00")


async def test_readers_with_the_same_digest_share_one_broadcast_rendered_once_per_language(
    bot, telegram, clock
):
    store = store_of(bot)
    engine = engine_of(bot)
    renders: Counter[tuple[str, str]] = Counter()
    render_digest = digest_renderer(store, bot.bot_data.renderer)

    async def counting(ref: str, lang: str) -> RenderedMessage | None:
        renders[(ref, lang)] += 1
        return await render_digest(ref, lang)

    engine.register_renderer("digest", counting)
    clock.set_istanbul(DAY, "07:00")
    alike = [await subscriber(store, chat, "tr") for chat in range(601, 621)]
    english_alike = [await subscriber(store, chat, "en") for chat in range(621, 626)]
    for chat in english_alike:
        await store.readers.set_languages(chat, ["tr"])  # same digest, English interface
    muted = await subscriber(store, 626)
    await store.readers.mute_section(muted, ECONOMY)
    for chat in [*alike, *english_alike, muted]:
        await set_digest(store, clock, chat, "08:00")
    await publish_at(store, clock, "Genel haber")
    await publish_at(store, clock, "Ekonomi haberi", section=ECONOMY)

    clock.set_istanbul(DAY, "08:00")
    report = await queue_due_digests(store, clock().timestamp(), batch=7)  # several chunks share broadcasts
    assert (report.readers, report.queued, report.broadcasts) == (26, 26, 2)
    await settle(bot)
    refs = {ref for ref, _ in renders}
    assert len(refs) == 2 and set(renders.values()) == {1}, "one render per distinct content and language"
    assert sorted(lang for _, lang in renders) == ["en", "tr", "tr"]
    assert "2 new articles" in (telegram.messages_to(621)[0].plain or "")
    assert "1 yeni haber" in (telegram.messages_to(muted)[0].plain or "")
    totals = await store.db.fetchall("SELECT total FROM broadcasts WHERE kind = 'digest' ORDER BY total")
    assert [tuple(row) for row in totals] == [(1,), (25,)]


async def test_a_digest_missed_while_the_bot_was_down_comes_when_it_is_back(settings, telegram, clock):
    clock.set_istanbul(DAY, "07:00")
    async with running_at(settings, clock) as app:
        store = store_of(app)
        reader = await subscriber(store, 701)
        await set_digest(store, clock, reader, "08:00")
        await publish_at(store, clock, "Sabah bülteni")
        await publish_at(store, clock, "Yol çalışması uyarısı")
        await settle(app)
    assert telegram.messages_to(reader) == []
    # the bot is down from 07:00 until 10:15: the 08:00 digest goes out when it starts again
    clock.set_istanbul(DAY, "10:15")
    async with running_at(settings, clock) as app:
        [digest] = await telegram.wait_for_messages(1, chat_id=reader, timeout=30)
        assert "Sabah bülteni" in (digest.plain or "") and "Yol çalışması uyarısı" in (digest.plain or "")
        await settle(app)
    store = await Store.open(settings.database)
    try:
        assert await chat_value(store, reader, "digest_next") == at(NEXT_DAY, "08:00")
    finally:
        await store.close()
    clock.set_istanbul(DAY, "10:20")
    async with running_at(settings, clock) as app:  # and again: nothing twice
        await eventually(lambda: started_jobs_ran(app))
    # stopping waited for the start-up job to finish
    assert len(telegram.messages_to(reader)) == 1
    store = await Store.open(settings.database)
    try:
        assert await store.outbox.pending_count() == 0
    finally:
        await store.close()


async def test_a_digest_during_quiet_hours_is_silent(bot, telegram, clock):
    store = store_of(bot)
    clock.set_istanbul(DAY, "05:00")
    reader = await subscriber(store, 711)
    await set_digest(store, clock, reader, "06:00")
    await set_quiet(store, clock, reader, "23:00", "07:00")
    await publish_at(store, clock, "Erken haber")
    clock.set_istanbul(DAY, "06:00")
    assert (await queue_due_digests(store, clock().timestamp())).queued == 1
    await settle(bot)
    [digest] = telegram.messages_to(reader)
    assert digest.disable_notification
    clock.set_istanbul(DAY, "07:00")
    report = await release_quiet(store, clock().timestamp())
    assert (report.readers, report.queued) == (1, 0), "a digest reader's digest covers the night"


@pytest.mark.sqlite_only  # SQLite's query plan; PostgreSQL's planner picks the partial indexes itself
async def test_the_per_minute_check_with_nobody_due_reads_only_the_two_partial_indexes(bot, clock):
    store = store_of(bot)
    reader = await subscriber(store, 801)
    await set_digest(store, clock, reader, "08:00")
    await set_quiet(store, clock, reader, "23:00", "07:00")
    assert not await store.routing.anyone_due(clock().timestamp())
    plan = [row[3] for row in await store.db.fetchall("EXPLAIN QUERY PLAN " + _ANYONE_DUE, {"now": 0.0})]
    searches = [step for step in plan if step.startswith(("SEARCH", "SCAN")) and "CONSTANT" not in step]
    assert searches == [
        "SEARCH chats USING COVERING INDEX chats_digest_due (digest_next<?)",
        "SEARCH chats USING COVERING INDEX chats_quiet_due (quiet_next_end<?)",
    ]
    clock.set_istanbul(NEXT_DAY, "07:00")
    assert await store.routing.anyone_due(clock().timestamp())


async def test_a_group_that_becomes_a_supergroup_keeps_its_choices(bot, clock):
    store = store_of(bot)
    old, new = -901, -1_000_000_000_901
    await store.chats.touch(old, "group", None)
    await store.chats.subscribe(old)
    await store.readers.set_languages(old, ["tr"])
    await store.readers.mute_section(old, ECONOMY)
    await store.readers.follow(old, ["Deprem"])
    await set_digest(store, clock, old, "08:00")
    await store.outbox.migrate_chat(old, new)
    for column, value in (("languages", "tr"), ("muted_sections", ",2,"), ("digest_times", "08:00")):
        assert await chat_value(store, new, column) == value
    assert await chat_value(store, old, "digest_next") is None, "the old id is not due any more"
    rows = await store.db.fetchall("SELECT phrase FROM follows WHERE chat_id = ?", (new,))
    assert [tuple(row) for row in rows] == [("Deprem",)]
