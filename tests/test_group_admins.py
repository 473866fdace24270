"""In a group only its admins change it; operator commands answer only in an operator's private chat."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest
from telegram import Update

from bot.access import ChatAdmins, may_change_chat
from bot.drafts import make_draft
from bot.publishing import publish
from tests.conftest import ADMIN_ID
from tests.conversation import Reader
from tests.fake_telegram import (
    CallbackAnswer,
    FakeBotAPI,
    Fault,
    callback_update,
    make_chat,
    make_user,
    message_update,
)

GROUP = make_chat(-1_001_234_567_001, "supergroup", "Okurlar")
GROUP_ID = GROUP["id"]
MEMBER, ADMIN, CREATOR, ANONYMOUS = 7001, 7002, 7003, 7004
ADMINS_ONLY = (
    "Bunu yalnızca grubun yöneticileri değiştirebilir. Bir yöneticiye sorun ya da haberleri kendiniz almak "
    "için benimle özelden konuşun."
)
ADMINS_ONLY_ALERT = "Bunu yalnızca grubun yöneticileri değiştirebilir."


@pytest.fixture
def group(telegram: FakeBotAPI) -> dict:
    """A supergroup with an administrator, a creator and an anonymous administrator."""
    telegram.set_chat_admins(GROUP_ID, [ADMIN], creator=CREATOR)
    telegram.set_member(GROUP_ID, ANONYMOUS, "administrator", anonymous=True)
    return GROUP


@pytest.fixture
def member(app, telegram, group) -> Reader:
    return Reader(app, telegram, MEMBER, first_name="Üye", chat=group)


@pytest.fixture
def admin(app, telegram, group) -> Reader:
    return Reader(app, telegram, ADMIN, first_name="Yönetici", chat=group)


def alert(telegram: FakeBotAPI) -> CallbackAnswer:
    """The answer to the last button press."""
    return list(telegram.answered_callbacks.values())[-1]


async def group_record(app):
    return await app.bot_data.store.chats.get(GROUP_ID)


async def weather_settings(app):
    return await app.bot_data.store.weather.settings(GROUP_ID)


async def add_article(app):
    body = "Okullar yarın tatil. " * 5
    draft = make_draft(title="Valilik açıklaması", body=body, published=datetime.now(UTC), source="telegram")
    return (await publish(app.bot_data.store, draft)).article


class MovingClock:
    """The application's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 10, 9, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


# --- members are refused -------------------------------------------------------------------------------


async def test_a_member_cannot_subscribe_the_group_by_command_or_by_a_shared_articles_button(
    app, telegram, member: Reader, admin: Reader
):
    article = await add_article(app)
    # t.me/bot?startgroup=a12: the shared article in the group, with a Subscribe button anyone can press
    shown = await member.says(f"/start@newsbot_test_bot a{article.id}")
    assert await member.presses("Abone ol", on=shown) == []  # nothing posted, the button stays
    assert alert(telegram).text == ADMINS_ONLY_ALERT and alert(telegram).show_alert
    assert not (await group_record(app)).subscribed
    assert (await member.says("/subscribe")).plain == ADMINS_ONLY
    assert not (await group_record(app)).subscribed
    assert any("Abone oldunuz" in m.plain for m in await admin.presses("Abone ol", on=shown))
    assert (await group_record(app)).subscribed
    assert (await member.says("/unsubscribe")).plain == ADMINS_ONLY
    assert (await group_record(app)).subscribed


async def test_a_member_cannot_set_the_groups_language_province_or_morning_time(
    app, telegram, member: Reader, admin: Reader
):
    for command in ("/language", "/province", "/province Ankara", "/weathertime 03:00", "/weathertime off"):
        assert (await member.says(command)).plain == ADMINS_ONLY, command
    # Buttons the admin opened are the admin's: a member may neither choose nor page through them.
    prompt = await admin.says("/language")
    picker = await admin.says("/province")
    suggestions = await admin.says("/province Kır")
    for label, message in (("English", prompt), ("Karadeniz", picker), ("Kırıkkale", suggestions)):
        assert await member.presses(label, on=message) == [], label
        assert alert(telegram).text == ADMINS_ONLY_ALERT
    assert (await group_record(app)).language is None
    assert (await weather_settings(app)).province is None
    assert (await weather_settings(app)).weather_time == "08:00"
    assert "08:00" in (await member.says("/weathertime")).plain  # reading the setting is for everyone


@pytest.mark.parametrize("status", ["member", "restricted", "left", "kicked"])
async def test_nobody_below_administrator_presses_a_settings_button(app, telegram, admin: Reader, status):
    prompt = await admin.says("/language")
    visitor = Reader(app, telegram, 7009, chat=GROUP)  # "left": a public group's visitor who never joined
    telegram.set_member(GROUP_ID, 7009, status)
    assert await visitor.presses("English", on=prompt) == []
    assert alert(telegram).text == ADMINS_ONLY_ALERT
    assert (await group_record(app)).language is None


async def test_a_button_under_a_channel_post_is_not_the_channels_to_press(app, telegram):
    channel = make_chat(-1_001_234_567_100, "channel", "Haber Kanalı")
    telegram.register_chat(channel)
    subscriber = Reader(app, telegram, 7101, chat=channel)
    post = {"message_id": 5, "date": 0, "chat": channel, "sender_chat": channel, "text": "Dil seçin"}
    await subscriber.deliver(callback_update(subscriber.user, "lang:en", message=post))
    assert alert(telegram).text == ADMINS_ONLY_ALERT
    assert (await app.bot_data.store.chats.get(channel["id"])).language is None


# --- admins are not -----------------------------------------------------------------------------------


async def test_the_groups_admins_and_anonymous_admins_change_it(app, telegram, member: Reader, admin: Reader):
    assert (await member.says("/language")).plain == ADMINS_ONLY
    (chosen,) = await admin.presses("English", on=await admin.says("/language"))
    assert "English" in chosen.plain and (await group_record(app)).language == "en"
    creator = Reader(app, telegram, CREATOR, chat=GROUP)
    assert "Ankara" in (await creator.says("/province Ankara")).plain
    assert (await weather_settings(app)).province == 6
    # An anonymous admin writes as the group (GroupAnonymousBot, sender_chat = the group) ...
    anonymous = Reader(app, telegram, ANONYMOUS, chat=GROUP, anonymous=True)
    assert "07:30" in (await anonymous.says("/weathertime 7:30")).plain
    assert "subscribed" in (await anonymous.says("/subscribe")).plain
    # ... but presses buttons as themselves, and Telegram calls them an (anonymous) administrator.
    picker = await anonymous.says("/province")
    (region,) = await anonymous.presses("Black Sea", on=picker)
    (confirmation,) = await anonymous.presses("Giresun", on=region)
    assert "Giresun" in confirmation.plain
    settings = await weather_settings(app)
    assert (settings.province, settings.weather_time) == (28, "07:30")
    assert (await group_record(app)).subscribed
    asked = [r.params["user_id"] for r in telegram.member_lookups(GROUP_ID)]
    assert sorted(set(asked)) == [MEMBER, ADMIN, CREATOR, ANONYMOUS]  # never GroupAnonymousBot's id


async def test_a_channels_own_post_comes_from_its_admins(app, telegram):
    channel = make_chat(-1_001_234_567_100, "channel", "Haber Kanalı")
    post = Update.de_json(message_update(make_user(1), "/subscribe", chat=channel), app.bot)
    assert post.channel_post is not None
    assert await may_change_chat(post, app.bot, ChatAdmins(), 0.0)
    assert telegram.member_lookups() == []


# --- the lookup: failures and the cache -----------------------------------------------------------------


async def test_a_failed_lookup_refuses_logs_one_line_and_is_not_remembered(app, telegram, admin, caplog):
    telegram.fail_next("getChatMember", error=Fault.server_error())
    with caplog.at_level(logging.WARNING):
        assert (await admin.says("/weathertime 03:00")).plain == ADMINS_ONLY
    lines = [r for r in caplog.records if r.name.startswith("bot.access")]
    assert len(lines) == 1 and "could not check whether user 7002 administers chat" in lines[0].getMessage()
    assert lines[0].exc_info is None
    assert (await weather_settings(app)).weather_time == "08:00"
    assert "07:00" in (await admin.says("/weathertime 07:00")).plain  # asked again, and allowed
    assert len(telegram.member_lookups(GROUP_ID)) == 2


async def test_lookups_are_remembered_per_chat_and_user_for_a_minute(app, telegram, member, admin):
    clock = MovingClock()
    app.bot_data.clock = clock
    # No lookup at all where the update itself settles it: an anonymous admin's message, a private chat.
    anonymous = Reader(app, telegram, ANONYMOUS, chat=GROUP, anonymous=True)
    assert "06:45" in (await anonymous.says("/weathertime 06:45")).plain
    reader = Reader(app, telegram, 7201)
    await reader.says("/subscribe")
    await reader.presses("English", on=await reader.says("/language"))
    await reader.says("/province İzmir")
    assert telegram.member_lookups() == []
    prompt = await admin.says("/language")
    await admin.presses("Türkçe", on=prompt)
    await admin.says("/province Ankara")
    await admin.says("/subscribe")
    for _ in range(3):
        await member.says("/subscribe")  # a refusal is remembered too
    assert sorted(r.params["user_id"] for r in telegram.member_lookups(GROUP_ID)) == [MEMBER, ADMIN]
    clock.now += timedelta(seconds=59)
    await admin.says("/weathertime 07:00")
    assert len(telegram.member_lookups(GROUP_ID)) == 2
    clock.now += timedelta(seconds=2)
    telegram.set_member(GROUP_ID, ADMIN, "member")  # demoted: seen once the minute is over
    assert (await admin.says("/weathertime 09:00")).plain == ADMINS_ONLY
    assert len(telegram.member_lookups(GROUP_ID)) == 3
    assert (await weather_settings(app)).weather_time == "07:00"


async def test_questions_at_the_same_moment_share_one_lookup(app, telegram, admin: Reader):
    telegram.latency = 0.2  # every call takes a while, so both presses are waiting at once
    await asyncio.gather(admin.send("/weathertime 07:00"), admin.send("/province Bursa"))
    assert len(telegram.member_lookups(GROUP_ID)) == 1


async def test_the_memory_of_answers_is_bounded_oldest_first(app, telegram, group):
    admins = ChatAdmins(max_entries=2)
    for user_id in (MEMBER, ADMIN, CREATOR, MEMBER):
        await admins.is_admin(app.bot, GROUP_ID, user_id, 0.0)
    assert await admins.is_admin(app.bot, GROUP_ID, CREATOR, 0.0)  # still remembered
    asked = [r.params["user_id"] for r in telegram.member_lookups(GROUP_ID)]
    assert asked == [MEMBER, ADMIN, CREATOR, MEMBER]  # the first answer about MEMBER had to go


# --- operator commands ----------------------------------------------------------------------------------


async def test_operator_commands_in_a_group_reveal_nothing_even_to_an_operator(app, telegram, group):
    store = app.bot_data.store
    code = await store.referrals.code_for(4242)
    assert await store.referrals.record_new_reader(4343, code, None)  # 4242 is now a top sharer
    operator = Reader(app, telegram, ADMIN_ID, language_code="en", first_name="Operator", chat=group)
    for command in ("/stats", "/feeds", "/feeds add https://feeds.example/rss", "/post Başlık\nMetin"):
        assert await operator.send(command) == [], command
    pointer = (await operator.says("/nosuchcommand@newsbot_test_bot")).plain
    assert (await operator.says("/stats@newsbot_test_bot")).plain == pointer  # like a command that isn't
    assert "/stats" not in (await operator.says("/help")).plain
    sent = " ".join(m.plain for m in telegram.messages_to(GROUP_ID))
    assert "4242" not in sent and str(ADMIN_ID) not in sent
    assert await store.articles.count() == 0 and await store.feeds.statuses() == []
    in_private = Reader(app, telegram, ADMIN_ID, language_code="en", first_name="Operator")
    assert "4242" in (await in_private.send("/stats"))[0].plain  # the figures, then the chart
    assert "/stats" in (await in_private.says("/help")).plain
