"""Tests for the fake Bot API: every other test trusts it, so its strictness must be proven."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dtm
import html
import http.client
import io
import json
import re
import threading
import time
import warnings

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    Update,
)
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes
from telegram.request import HTTPXRequest

from tests.fake_telegram import (
    FakeBotAPI,
    Fault,
    RateLimits,
    callback_update,
    inline_query_update,
    make_chat,
    make_user,
    message_update,
    my_chat_member_update,
)
from tests.telegram_html import TelegramHTMLError, utf16_len, validate_telegram_html

TOKEN = "123:ABC"


def rejected(reason: str) -> pytest.RaisesExc[BadRequest]:
    """PTB capitalizes Telegram's description ("BUTTON_DATA_INVALID" -> "Button_data_invalid")."""
    return pytest.raises(BadRequest, match=re.compile(re.escape(reason), re.IGNORECASE))


def _seconds(exc: RetryAfter) -> float:
    """PTB 22 returns int or timedelta depending on PTB_TIMEDELTA; accept both."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


@pytest.fixture
async def api():
    """A fresh server per test; limits on, as in production."""
    async with FakeBotAPI(token=TOKEN, bot_username="newsbot_test_bot") as server:
        yield server


class ManualClock:
    """Seconds for the fake's flood windows that only move when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(api: FakeBotAPI) -> ManualClock:
    """Stop the fake's clock: every request lands in the same instant until the test moves it."""
    api.clock = ManualClock()
    return api.clock


async def held_requests(api: FakeBotAPI, n: int) -> None:
    """Wait until the server holds n requests (a long poll, a hang), however slow the machine is."""
    async with asyncio.timeout(30):
        while api.in_flight < n:
            await asyncio.sleep(0.01)


@pytest.fixture
async def bot(api: FakeBotAPI):
    """A real PTB Bot talking HTTPXRequest form-encoding to the fake."""
    async with Bot(TOKEN, base_url=api.base_url, base_file_url=api.base_file_url) as client:
        yield client


# --- telegram_html ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("markup", "visible"),
    [
        ("plain", "plain"),
        ("<b>bold</b> &amp; <i>it</i>", "bold & it"),
        ("<B>x</B>", "x"),
        ('<a href="https://example.com/?a=1&amp;b=2">link</a>', "link"),
        ('<span class="tg-spoiler">s</span><tg-spoiler>t</tg-spoiler>', "st"),
        ('<pre><code class="language-python">x = 1 &lt; 2</code></pre>', "x = 1 < 2"),
        ("<blockquote expandable>q</blockquote>", "q"),
        ('<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>', "👍"),
        ("&#39;&#x27;&quot;&gt;", "''\">"),
        ("a > b", "a > b"),
    ],
)
def test_html_valid(markup: str, visible: str) -> None:
    assert validate_telegram_html(markup) == visible


@pytest.mark.parametrize(
    ("markup", "reason"),
    [
        ("<b>unclosed", "Can't find end tag"),
        ("<b><i>x</b></i>", "Unmatched end tag"),
        ("x</b>", "Unexpected end tag"),
        ("<br>", 'Unsupported start tag "br"'),
        ("<div>x</div>", 'Unsupported start tag "div"'),
        ("1 < 2", 'bare "<"'),
        ("Tom & Jerry", 'Character "&"'),
        ("&nbsp;", 'Character "&"'),
        ("<a>x</a>", 'must have a non-empty attribute "href"'),
        ('<a href="https://x.com/?a=1&b=2">x</a>', 'Character "&"'),
        ("<span>x</span>", "tg-spoiler"),
        ("<tg-emoji>x</tg-emoji>", "emoji-id"),
        ("&#0;", "Invalid character reference"),
        ("<b/>", "bare"),
    ],
)
def test_html_invalid(markup: str, reason: str) -> None:
    with pytest.raises(TelegramHTMLError, match=None) as exc_info:
        validate_telegram_html(markup)
    assert reason in str(exc_info.value)


def test_utf16_len_counts_surrogate_pairs() -> None:
    assert utf16_len("abc") == 3
    assert utf16_len("şğü") == 3
    assert utf16_len("😀") == 2


@given(st.text())
def test_escaped_text_round_trips(text: str) -> None:
    assert validate_telegram_html(f"<b>{html.escape(text)}</b>") == text


# --- sending via PTB -------------------------------------------------------------------------------
async def test_get_me_and_send(api: FakeBotAPI, bot: Bot) -> None:
    assert bot.username == "newsbot_test_bot"
    assert bot.bot.supports_inline_queries
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Aç", callback_data="open:1")]])
    msg = await bot.send_message(42, "<b>İstanbul</b> 18°C", parse_mode="HTML", reply_markup=keyboard)
    assert msg.message_id == 1
    assert msg.chat.type == "private"
    assert msg.text == "İstanbul 18°C"
    assert msg.reply_markup == keyboard
    second = await bot.send_message(-1001234567890, "x")
    assert second.chat.type == "supergroup"
    sent = api.sent[0]
    assert (sent.chat_id, sent.text, sent.parse_mode) == (42, "<b>İstanbul</b> 18°C", "HTML")
    assert sent.plain == "İstanbul 18°C"
    assert sent.reply_markup == {"inline_keyboard": [[{"text": "Aç", "callback_data": "open:1"}]]}
    assert [m.message_id for m in api.messages_to(42)] == [1]


async def test_chat_types(api: FakeBotAPI, bot: Bot) -> None:
    api.set_chat_type(-1009999999999, "channel")
    assert (await bot.send_message(-1009999999999, "x")).chat.type == "channel"
    assert (await bot.send_message(-12345, "x")).chat.type == "group"


async def test_malformed_html_rejected(api: FakeBotAPI, bot: Bot) -> None:
    with rejected("can't parse entities"):
        await bot.send_message(42, "<b>Ankara & İzmir</b>", parse_mode="HTML")
    assert api.sent == []
    assert api.requests[-1].status == 400


async def test_length_counted_in_utf16_after_parsing(api: FakeBotAPI, bot: Bot) -> None:
    too_long = "😀😀" + "a" * 4093  # 4095 Python chars, 4097 UTF-16 units
    assert len(too_long) < 4096 < utf16_len(too_long)
    with rejected("message is too long"):
        await bot.send_message(42, too_long)
    exact = "😀" + "a" * 4094
    await bot.send_message(42, f"<b>{exact}</b>", parse_mode="HTML")  # tags do not count
    assert api.sent[-1].plain == exact
    with rejected("message text is empty"):
        await bot.send_message(42, "<b> </b>", parse_mode="HTML")


async def test_callback_data_limit_is_bytes(api: FakeBotAPI, bot: Bot) -> None:
    ok = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="ş" * 32)]])  # 64 bytes
    await bot.send_message(42, "ok", reply_markup=ok)
    bad = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="ş" * 32 + "a")]])  # 65 bytes
    with rejected("BUTTON_DATA_INVALID"):
        await bot.send_message(43, "bad", reply_markup=bad)


async def test_button_url_and_text_only_buttons(bot: Bot) -> None:
    bad_url = InlineKeyboardMarkup([[InlineKeyboardButton("x", url="javascript:alert(1)")]])
    with rejected("BUTTON_URL_INVALID"):
        await bot.send_message(42, "x", reply_markup=bad_url)
    await bot.send_message(42, "x", reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("t", url="tg://x")]]))


# --- rate limits -----------------------------------------------------------------------------------
async def test_private_chat_sliding_window_and_ban(api: FakeBotAPI, bot: Bot, clock: ManualClock) -> None:
    api.limits = RateLimits(per_chat_window=0.3, ban_seconds=0.3)
    await bot.send_message(42, "1")
    with pytest.raises(RetryAfter) as exc_info:
        await bot.send_message(42, "2")
    assert _seconds(exc_info.value) >= 1
    await bot.send_message(7, "other chats are unaffected")
    with pytest.raises(RetryAfter):
        await bot.send_message(42, "during ban")
    assert [v.kind for v in api.violations] == ["chat", "during_ban"]
    clock.advance(0.29)
    with pytest.raises(RetryAfter):
        await bot.send_message(42, "still banned")
    clock.advance(0.35)
    await bot.send_message(42, "3")
    assert [m.text for m in api.messages_to(42)] == ["1", "3"]


async def test_group_and_global_windows(api: FakeBotAPI, bot: Bot, clock: ManualClock) -> None:
    api.limits = RateLimits(per_group_per_minute=3, per_group_window=60, global_per_second=5)
    for i in range(3):
        await bot.send_message(-500, str(i))
    with pytest.raises(RetryAfter) as exc_info:
        await bot.send_message(-500, "4th")
    assert _seconds(exc_info.value) >= 59  # window frees only after a minute
    await bot.send_message(1, "a")
    await bot.send_message(2, "b")
    with pytest.raises(RetryAfter):
        await bot.send_message(3, "6th in a second")
    assert [v.kind for v in api.violations] == ["group", "global"]
    assert len(api.sent) == 5
    clock.advance(1.5)  # the global window (and its ban) is over, the group's minute is not
    await bot.send_message(3, "next second")
    with pytest.raises(RetryAfter):
        await bot.send_message(-500, "same minute")
    clock.advance(60)
    await bot.send_message(-500, "next minute")
    assert len(api.sent) == 7


async def test_paid_broadcast_has_its_own_window(api: FakeBotAPI, bot: Bot, clock: ManualClock) -> None:
    api.limits = RateLimits(global_per_second=1)
    await bot.send_message(1, "free")
    await bot.send_message(2, "paid", allow_paid_broadcast=True)
    assert api.sent[-1].allow_paid_broadcast


async def test_limits_can_be_disabled(api: FakeBotAPI, bot: Bot) -> None:
    api.limits.enabled = False
    for i in range(40):
        await bot.send_message(42, str(i))
    assert len(api.messages_to(42)) == 40
    assert api.violations == []


# --- chat state and faults -------------------------------------------------------------------------
async def test_blocked_deactivated_unknown(api: FakeBotAPI, bot: Bot) -> None:
    api.block(1)
    api.deactivate(2)
    api.unknown_chat(3)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(1, "x")
    with pytest.raises(Forbidden, match="user is deactivated"):
        await bot.send_message(2, "x")
    with rejected("chat not found"):
        await bot.send_message(3, "x")
    api.restore(1)
    await bot.send_message(1, "x")
    assert [m.chat_id for m in api.sent] == [1]


async def test_migrate(api: FakeBotAPI, bot: Bot) -> None:
    api.migrate(-4242, -1004242424242)
    with pytest.raises(ChatMigrated) as exc_info:
        await bot.send_message(-4242, "x")
    assert exc_info.value.new_chat_id == -1004242424242
    assert (await bot.send_message(-1004242424242, "x")).chat.type == "supergroup"


async def test_one_shot_faults(api: FakeBotAPI, bot: Bot) -> None:
    api.fail_next("sendMessage", error=Fault.server_error())
    api.fail_next("sendMessage", chat_id=5, error=Fault.retry_after(3))
    api.fail_next("sendMessage", error=Fault.bad_gateway())
    with pytest.raises(NetworkError, match="Internal Server Error"):
        await bot.send_message(4, "x")
    with pytest.raises(RetryAfter) as exc_info:
        await bot.send_message(5, "x")
    assert _seconds(exc_info.value) == 3
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await bot.send_message(4, "x")
    await bot.send_message(4, "x")
    assert len(api.sent) == 1
    assert [r.status for r in api.requests[-4:]] == [500, 429, 502, 200]


async def test_hang_times_out_client(api: FakeBotAPI) -> None:
    api.fail_next("sendMessage", error=Fault.hang(30))
    request = HTTPXRequest(read_timeout=0.3)
    async with Bot(TOKEN, base_url=api.base_url, request=request) as bot:
        with pytest.raises(TimedOut):
            await bot.send_message(42, "x")
        await held_requests(api, 1)  # the server still hangs on the request the client gave up on
    assert api.sent == [] and not [r for r in api.requests if r.method == "sendMessage"]


async def test_what_a_vanished_client_sent_is_recorded_once_the_clients_are_quiet(api: FakeBotAPI) -> None:
    async def post(method: str, params: dict) -> asyncio.StreamWriter:
        body = json.dumps(params).encode()
        _, writer = await asyncio.open_connection(api.host, api.port)
        head = f"POST /bot{TOKEN}/{method} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        writer.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        await writer.drain()
        return writer

    poll = await post("getUpdates", {"timeout": 20})  # a long poll stays open meanwhile
    await held_requests(api, 1)
    api.fail_next("sendMessage", error=Fault.hang(0.3, deliver=True))  # read, then slow to answer
    message = await post("sendMessage", {"chat_id": 5, "text": "son dakika"})
    await held_requests(api, 2)
    message.close()  # the client process died while the server was handling its request
    assert api.sent == []
    await api.wait_until_clients_quiet()
    assert [m.chat_id for m in api.sent] == [5], "the server finished it, and only then was quiet"
    assert api.in_flight == api.long_polls == 1
    poll.close()


async def test_latency(api: FakeBotAPI, bot: Bot) -> None:
    api.latency = 0.5
    started = time.monotonic()
    await asyncio.gather(*(bot.send_chat_action(i, "typing") for i in range(1, 11)))
    assert time.monotonic() - started >= 0.5, "each request waits the latency"
    assert api.max_in_flight == 10, "concurrent, not serialised"
    assert len(api.chat_actions) == 10


async def test_flood_windows_count_requests_when_they_arrive_not_when_the_fake_gets_to_them(
    api: FakeBotAPI,
) -> None:
    """A fake starved of CPU reads two requests late and at once; Telegram saw them arrive apart."""
    api.limits = RateLimits(global_per_second=1, global_window=0.5)
    starved, fed = threading.Event(), threading.Event()
    statuses: list[int] = []

    def client() -> None:
        starved.wait(30)
        connections = []
        for chat_id in (1, 2):
            connection = http.client.HTTPConnection(api.host, api.port, timeout=30)
            body = json.dumps({"chat_id": chat_id, "text": "x"})
            connection.request("POST", f"/bot{TOKEN}/sendMessage", body, {"Content-Type": "application/json"})
            connections.append(connection)
            time.sleep(0.6)  # longer than the window: the two arrive in different windows
        fed.set()
        for connection in connections:
            statuses.append(connection.getresponse().status)
            connection.close()

    def starve() -> None:  # the fake's process waits for a CPU (another job's) while both arrive
        starved.set()
        fed.wait(30)

    thread = threading.Thread(target=client)
    thread.start()
    asyncio.get_running_loop().call_soon(starve)
    await asyncio.to_thread(thread.join, 60)
    assert statuses == [200, 200]
    assert api.violations == []
    assert [m.chat_id for m in api.sent] == [1, 2]


# --- inline, callbacks, commands, edits ------------------------------------------------------------
def _article(i: int | str) -> InlineQueryResultArticle:
    content = InputTextMessageContent(f"<b>{i}</b>", parse_mode="HTML")
    return InlineQueryResultArticle(str(i), f"T{i}", content)


async def test_inline_results(api: FakeBotAPI, bot: Bot) -> None:
    await bot.answer_inline_query("q1", [_article(i) for i in range(50)], cache_time=5, next_offset="50")
    answer = api.inline_answers["q1"]
    assert (len(answer.results), answer.cache_time, answer.next_offset) == (50, 5, "50")
    with rejected("RESULTS_TOO_MUCH"):
        await bot.answer_inline_query("q2", [_article(i) for i in range(51)])
    with rejected("RESULT_ID_DUPLICATE"):
        await bot.answer_inline_query("q3", [_article(1), _article(1)])
    with rejected("RESULT_ID_INVALID"):
        await bot.answer_inline_query("q4", [_article("x" * 65)])
    bad_html = InlineQueryResultArticle("1", "t", InputTextMessageContent("<b>x", parse_mode="HTML"))
    with rejected("can't parse entities"):
        await bot.answer_inline_query("q5", [bad_html])
    with rejected("query is too old"):
        await bot.answer_inline_query("q1", [])


async def test_callback_answers(api: FakeBotAPI, bot: Bot) -> None:
    await bot.answer_callback_query("cb1", text="Kaydedildi")
    assert api.answered_callbacks["cb1"].text == "Kaydedildi"
    with rejected("query is too old"):
        await bot.answer_callback_query("cb1")
    with rejected("MESSAGE_TOO_LONG"):
        await bot.answer_callback_query("cb2", text="x" * 201)


async def test_commands_per_scope_and_language(api: FakeBotAPI, bot: Bot) -> None:
    await bot.set_my_commands([BotCommand("hava", "Hava durumu")], language_code="tr")
    await bot.set_my_commands([BotCommand("weather", "Weather")], scope=BotCommandScopeChat(42))
    assert api.get_commands(language_code="tr") == [{"command": "hava", "description": "Hava durumu"}]
    assert api.get_commands("chat:42") == [{"command": "weather", "description": "Weather"}]
    assert [c.command for c in await bot.get_my_commands(language_code="tr")] == ["hava"]
    assert await bot.get_my_commands() == ()
    await bot.delete_my_commands(language_code="tr")
    assert api.get_commands(language_code="tr") is None
    with rejected("BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand("Hava-Durumu", "x")])


async def test_edit_delete(api: FakeBotAPI, bot: Bot) -> None:
    msg = await bot.send_message(42, "v1")
    await bot.edit_message_text("v2", chat_id=42, message_id=msg.message_id)
    with rejected("message is not modified"):
        await bot.edit_message_text("v2", chat_id=42, message_id=msg.message_id)
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="x")]])
    await bot.edit_message_reply_markup(chat_id=42, message_id=msg.message_id, reply_markup=markup)
    assert [e.method for e in api.edited] == ["editMessageText", "editMessageReplyMarkup"]
    assert await bot.delete_message(42, msg.message_id)
    with rejected("message to delete not found"):
        await bot.delete_message(42, msg.message_id)
    assert api.deleted == [(42, msg.message_id)]


async def test_get_chat(api: FakeBotAPI, bot: Bot) -> None:
    api.register_chat(make_chat(-1001, title="Haberler", username="haberler"))
    chat = await bot.get_chat("@haberler")
    assert (chat.id, chat.title) == (-1001, "Haberler")


async def test_get_chat_member_answers_like_telegram(api: FakeBotAPI, bot: Bot) -> None:
    group = -1001234567000
    with rejected("chat not found"):
        await bot.get_chat_member(group, 42)  # a chat the bot is not in
    for user_id, status in enumerate(["creator", "administrator", "member", "restricted", "left", "kicked"]):
        api.set_member(group, 100 + user_id, status)
        assert (await bot.get_chat_member(group, 100 + user_id)).status == status
    api.set_member(group, 110, "administrator", anonymous=True)
    assert (await bot.get_chat_member(group, 110)).is_anonymous
    assert not (await bot.get_chat_member(group, 101)).is_anonymous
    api.set_member(-1001234567001, 111)  # known to Telegram from another chat: "left" here
    assert (await bot.get_chat_member(group, 111)).status == "left"
    with rejected("user not found"):
        await bot.get_chat_member(group, 999)  # nobody Telegram knows
    with rejected("invalid user_id specified"):
        await bot.get_chat_member(group, 0)
    assert (await bot.get_chat_member(group, 123)).status == "administrator"  # the bot itself
    api.register_chat(make_chat(42))
    assert (await bot.get_chat_member(42, 42)).status == "member"  # a private chat: the user
    api.add_member(group, 100)  # add_member never demotes a status set before
    assert (await bot.get_chat_member(group, 100)).status == "creator"
    api.kick(group)
    with pytest.raises(Forbidden):
        await bot.get_chat_member(group, 100)
    assert len(api.member_lookups(group)) == 15  # refused ones too
    with pytest.raises(ValueError, match="no chat member status"):
        api.set_member(group, 112, "owner")  # PTB's name; Telegram says "creator"
    with pytest.raises(ValueError, match="only admins"):
        api.set_member(group, 113, "member", anonymous=True)


def test_anonymous_admins_write_as_the_group() -> None:
    group = make_chat(-1001234567000, "supergroup")
    message = message_update(make_user(7), "/subscribe", chat=group, anonymous=True)["message"]
    assert message["sender_chat"] == group and message["from"]["username"] == "GroupAnonymousBot"
    with pytest.raises(ValueError):
        message_update(make_user(7), "/subscribe", anonymous=True)  # no anonymity in a private chat


# --- updates ---------------------------------------------------------------------------------------
async def test_get_updates_long_poll(api: FakeBotAPI, bot: Bot) -> None:
    user = make_user(42)
    poll = asyncio.create_task(bot.get_updates(timeout=60))
    await held_requests(api, 1)
    assert not poll.done()
    pushed = api.push_update(message_update(user, "/start"))
    updates = await asyncio.wait_for(poll, 30)  # the push ends the 60 s long poll
    assert [u.update_id for u in updates] == [pushed["update_id"]]
    assert updates[0].message.text == "/start"
    assert api.updates_served == [pushed]
    assert await bot.get_updates(offset=pushed["update_id"] + 1, timeout=0) == ()


async def test_get_updates_conflicts_with_webhook(api: FakeBotAPI, bot: Bot) -> None:
    await bot.set_webhook("https://example.com/hook", secret_token="s3cret")
    assert (await bot.get_webhook_info()).url == "https://example.com/hook"
    with pytest.raises(Conflict):
        await bot.get_updates()
    await bot.delete_webhook()
    assert await bot.get_updates(timeout=0) == ()


async def test_builders_parse_in_ptb(bot: Bot) -> None:
    user = make_user(42, username="ayse")
    group = make_chat(-1001234567890, title="Grup")
    update = Update.de_json(message_update(user, "/hava@newsbot_test_bot Ankara", chat=group), bot)
    assert update.message.text.startswith("/hava")
    assert update.message.entities[0].length == len("/hava@newsbot_test_bot")
    assert Update.de_json(callback_update(user, "city:6"), bot).callback_query.data == "city:6"
    assert Update.de_json(inline_query_update(user, "ank"), bot).inline_query.query == "ank"
    transitions = [("left", "member"), ("member", "kicked"), ("member", "administrator")]
    for old, new in [*transitions, ("left", "restricted")]:
        change = Update.de_json(my_chat_member_update(group, user, old, new), bot).my_chat_member
        assert change.new_chat_member.status == new


async def test_application_flow(api: FakeBotAPI) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        buttons = InlineKeyboardMarkup([[InlineKeyboardButton("Ankara", callback_data="city:6")]])
        await update.effective_message.reply_html("<b>Merhaba</b>", reply_markup=buttons)

    async def pick(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.callback_query.answer("Tamam")
        await update.callback_query.edit_message_text("Ankara seçildi")

    app = Application.builder().token(TOKEN).base_url(api.base_url).build()
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(pick))
    async with app:
        user = make_user(42)
        await app.process_update(Update.de_json(message_update(user, "/start"), app.bot))
        (reply,) = await api.wait_for_messages(1, chat_id=42)
        assert reply.plain == "Merhaba"
        message = {
            "message_id": reply.message_id,
            "date": 0,
            "chat": {"id": 42, "type": "private"},
            "from": api.bot_user,
            "text": "Merhaba",
        }
        cb = callback_update(user, "city:6", message=message)
        await app.process_update(Update.de_json(cb, app.bot))
    assert cb["callback_query"]["id"] in api.answered_callbacks
    assert api.edited[0].text == "Ankara seçildi"


async def test_wait_for_messages_timeout_explains(api: FakeBotAPI, bot: Bot) -> None:
    with pytest.raises(BadRequest):
        await bot.send_message(42, "<i>x", parse_mode="HTML")
    with pytest.raises(TimeoutError, match="can't parse entities"):
        await api.wait_for_messages(1, chat_id=42, timeout=0.1)


# --- raw HTTP clients ------------------------------------------------------------------------------
async def test_plain_aiohttp_json_client(api: FakeBotAPI, clock: ManualClock) -> None:
    markup = json.dumps({"inline_keyboard": [[{"text": "a", "callback_data": "b"}]]})
    async with aiohttp.ClientSession() as session:
        payload = {"chat_id": "42", "text": "<i>ok</i>", "parse_mode": "HTML", "reply_markup": markup}
        async with session.post(f"{api.method_url}/sendMessage", json=payload) as resp:
            body = await resp.json()
        assert resp.status == 200
        assert body["ok"] and body["result"]["text"] == "ok"
        assert api.sent[0].chat_id == 42
        assert api.sent[0].reply_markup == json.loads(markup)
        async with session.post(f"{api.url}/botWRONG/getMe") as resp:
            assert resp.status == 401
            assert await resp.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
        async with session.post(f"{api.method_url}/sendSticker", json={}) as resp:
            assert (resp.status, (await resp.json())["description"]) == (404, "Not Found")
        api.limits.ban_seconds = 2  # the stopped clock keeps this second send in the first one's window
        async with session.post(f"{api.method_url}/sendMessage", json={"chat_id": 42, "text": "x"}) as resp:
            body = await resp.json()
        assert resp.status == 429
        assert body["parameters"] == {"retry_after": 2}
        assert body["description"] == "Too Many Requests: retry after 2"


async def test_ptb_wrong_token(api: FakeBotAPI) -> None:
    with pytest.raises(InvalidToken):
        async with Bot("999:WRONG", base_url=api.base_url):
            pass


@given(st.text(alphabet=st.sampled_from('<>&;#x/"= abiquotlgmp-ref1'), max_size=40))
def test_validator_only_raises_its_own_error(text: str) -> None:
    with contextlib.suppress(TelegramHTMLError):
        assert isinstance(validate_telegram_html(text), str)


async def test_concurrent_polls_conflict(api: FakeBotAPI, bot: Bot) -> None:
    async with Bot(TOKEN, base_url=api.base_url) as other_instance:
        first = asyncio.create_task(other_instance.get_updates(timeout=5))
        await held_requests(api, 1)
        second = asyncio.create_task(bot.get_updates(timeout=5))
        with pytest.raises(Conflict, match="terminated by other getUpdates request"):
            await first
    api.push_update(message_update(make_user(1), "hi"))
    assert len(await second) == 1


async def test_chat_member_updates_need_allowed_updates(api: FakeBotAPI, bot: Bot) -> None:
    api.push_update({"chat_member": {}})
    assert await bot.get_updates(timeout=0) == ()
    assert len(await bot.get_updates(timeout=0, allowed_updates=["chat_member"])) == 1
    with rejected("HTTPS URL must be provided"):
        await bot.set_webhook("http://example.com/hook")


async def test_hang_with_delivery_and_kick(api: FakeBotAPI, bot: Bot) -> None:
    api.fail_next("sendMessage", error=Fault.hang(0.2, deliver=True))
    await bot.send_message(42, "slow but delivered")
    assert api.sent[0].text == "slow but delivered"
    api.kick(-77)
    with pytest.raises(Forbidden, match="kicked"):
        await bot.send_chat_action(-77, "typing")


async def test_application_polling(api: FakeBotAPI) -> None:
    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.effective_message.reply_text(f"echo: {update.effective_message.text}")

    app = Application.builder().token(TOKEN).base_url(api.base_url).build()
    app.add_handler(CommandHandler("start", echo))
    async with app:
        await app.start()
        await app.updater.start_polling(timeout=1)
        api.push_update(message_update(make_user(9), "/start@newsbot_test_bot"))
        (reply,) = await api.wait_for_messages(1, chat_id=9)
        await app.updater.stop()
        await app.stop()
    assert reply.text == "echo: /start@newsbot_test_bot"


async def test_form_encoded_client(api: FakeBotAPI) -> None:
    form = {
        "chat_id": "-1001234567890",
        "text": "x",
        "protect_content": "true",
        "reply_markup": json.dumps({"inline_keyboard": [[{"text": "a", "url": "https://example.com"}]]}),
    }
    url = f"{api.method_url}/sendmessage"  # method names are case-insensitive, as on Telegram
    async with aiohttp.ClientSession() as session, session.post(url, data=form) as resp:
        assert resp.status == 200
    sent = api.sent[0]
    assert (sent.chat_id, sent.protect_content, sent.method) == (-1001234567890, True, "sendMessage")


# --- photos ----------------------------------------------------------------------------------------


def _image(size: tuple[int, int], fmt: str = "PNG") -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 40, 40)).save(buffer, format=fmt)
    return buffer.getvalue()


async def test_a_photo_is_uploaded_once_and_sent_again_by_its_file_id(api: FakeBotAPI, bot: Bot):
    api.limits.enabled = False
    png = _image((1280, 720))
    first = await bot.send_photo(7, png, caption="<b>Harita</b>", parse_mode="HTML", filename="map.png")
    sizes = [(p.width, p.height) for p in first.photo]
    assert sizes == [(90, 51), (320, 180), (800, 450), (1280, 720)]  # Telegram's boxes, the photo last
    assert len({p.file_id for p in first.photo}) == len({p.file_unique_id for p in first.photo}) == 4
    assert first.caption == "Harita"
    [upload] = api.uploads
    assert (upload.data, upload.filename, upload.chat_id) == (png, "map.png", 7)

    again = await bot.send_photo(8, first.photo[-1].file_id)
    assert [p.file_unique_id for p in again.photo] == [p.file_unique_id for p in first.photo]
    assert len(api.uploads) == 1
    shown = again.photo[-1].file_id
    assert [(m.uploaded, m.file_id) for m in api.sent] == [(True, shown), (False, shown)]
    jpeg = await bot.send_photo(7, _image((600, 800), "JPEG"))
    assert (jpeg.photo[-1].width, jpeg.photo[-1].height) == (600, 800)


async def test_photos_telegram_would_refuse_are_refused(api: FakeBotAPI, bot: Bot):
    api.limits.enabled = False
    png = _image((64, 64))
    broken_crc = png[:-5] + bytes([png[-5] ^ 0xFF]) + png[-4:]
    for data in (b"not an image at all", png[:-20], broken_crc, _image((64, 64), "GIF")):
        with rejected("IMAGE_PROCESS_FAILED"):
            await bot.send_photo(7, data)
    for size in ((2000, 50), (6000, 5000)):  # one side 40 times the other; sides over 10,000 together
        with rejected("PHOTO_INVALID_DIMENSIONS"):
            await bot.send_photo(7, _image(size))
    with rejected("wrong file identifier/HTTP URL specified"):
        await bot.send_photo(7, "AgACAgIAAxkBAAIBY2Zfake")
    with rejected("failed to get HTTP URL content"):
        await bot.send_photo(7, "https://example.com/map.png")
    document = await bot.send_document(7, b"%PDF-1.4 report", filename="report.pdf")
    with rejected("wrong file identifier"):
        await bot.send_photo(7, document.document.file_id)  # a document is not a photo
    assert len(api.uploads) == 1 and api.sent[-1].method == "sendDocument"


async def test_a_photo_caption_is_held_to_1024_characters(api: FakeBotAPI, bot: Bot):
    api.limits.enabled = False
    photo = (await bot.send_photo(7, _image((32, 32)))).photo[-1].file_id
    assert (await bot.send_photo(7, photo, caption="ç" * 1024)).caption == "ç" * 1024
    with rejected("message caption is too long"):
        await bot.send_photo(7, photo, caption="ç" * 1025)
    with rejected("message caption is too long"):  # counted after entity parsing, in UTF-16 units
        await bot.send_photo(7, photo, caption="<b>" + "🗺" * 513 + "</b>", parse_mode="HTML")
