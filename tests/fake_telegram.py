"""A strict, local fake of the Telegram Bot API for tests and benchmarks.

Telegram's real rules (HTML entity parsing, UTF-16 length limits, keyboard validation, flood
limits, blocked users, group migration ...) are enforced here so that bugs fail in CI rather
than in production.  Typical use::

    async with FakeBotAPI(token="123:ABC", bot_username="newsbot_test_bot") as api:
        app = ApplicationBuilder().token(api.token).base_url(api.base_url).build()
        await app.initialize()
        await app.process_update(Update.de_json(message_update(make_user(1), "/start"), app.bot))
        assert api.sent[0].chat_id == 1

Only the methods the project uses are implemented; anything else answers 404 like Telegram
does for unknown methods, so a missing method is loud.  Deliberate deviations: a bare "&" in
HTML is rejected (Telegram keeps it), editing/deleting a message this server never sent is
accepted (builders create such messages), MarkdownV2 is not validated, and update_ids come
from one process-wide counter shared by all builders.

Measured throughput (2-core VM shared with other jobs, limits disabled, HTML text with ~30 tags and an
inline keyboard, aiohttp JSON client at concurrency 64): about 2,000 sendMessage/s with server and
client in the same event loop (also for a 50,000-message run with ``record_text=True``); 2,000-3,500/s
with the server in its own process.  PTB's default HTTPXRequest client is the bottleneck at roughly
200-500 msg/s (httpcore's pool, and ``sniffio`` missing from the venv makes anyio retry an import
per request), so benchmarks that need >1000 msg/s should use an aiohttp-based request class.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import functools
import itertools
import json
import math
import random
import re
import socket
import struct
import time
import weakref
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, NoReturn

from aiohttp import web

from tests.fake_media import ImageError, photo_info, photo_sizes
from tests.telegram_html import TelegramHTMLError, utf16_len, validate_telegram_html

__all__ = [
    "ANONYMOUS_ADMIN_USER",
    "DEFAULT_BOT_USER",
    "CallbackAnswer",
    "FakeBotAPI",
    "Fault",
    "InlineAnswer",
    "RateLimits",
    "RecordedRequest",
    "SentMessage",
    "StoredFile",
    "Violation",
    "callback_update",
    "inline_query_update",
    "make_chat",
    "make_user",
    "message_update",
    "my_chat_member_update",
]

# --- Telegram limits (https://core.telegram.org/bots/api, https://limits.tginfo.me) -------------
MAX_MESSAGE_LENGTH = 4096  # UTF-16 code units, after entity parsing
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_CALLBACK_ANSWER_LENGTH = 200
MAX_INLINE_RESULTS = 50
MAX_INLINE_RESULT_ID_BYTES = 64
MAX_INLINE_NEXT_OFFSET_BYTES = 64
MAX_INLINE_KEYBOARD_BUTTONS = 100
MAX_COMMANDS = 100
MAX_COMMAND_LENGTH = 32
MAX_COMMAND_DESCRIPTION_LENGTH = 256
MAX_GET_UPDATES_LIMIT = 100
SUPERGROUP_ID_THRESHOLD = -1_000_000_000_000  # ids below this are supergroups/channels

GLOBAL_MESSAGES_PER_SECOND = 30
PAID_BROADCAST_MESSAGES_PER_SECOND = 1000
PRIVATE_CHAT_MESSAGES_PER_WINDOW = 1
PRIVATE_CHAT_WINDOW_SECONDS = 1.0
GROUP_MESSAGES_PER_WINDOW = 20
GROUP_WINDOW_SECONDS = 60.0
BAN_SECONDS = 1.0

BUTTON_ACTION_FIELDS = frozenset(
    [
        "url",
        "callback_data",
        "web_app",
        "login_url",
        "switch_inline_query",
        "switch_inline_query_current_chat",
        "switch_inline_query_chosen_chat",
        "copy_text",
        "callback_game",
        "pay",
    ]
)
CHAT_ACTIONS = frozenset(
    [
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    ]
)
INLINE_RESULT_TYPES = frozenset(
    [
        "article",
        "photo",
        "gif",
        "mpeg4_gif",
        "video",
        "audio",
        "voice",
        "document",
        "location",
        "venue",
        "contact",
        "game",
        "sticker",
    ]
)
COMMAND_SCOPE_TYPES = frozenset(
    [
        "default",
        "all_private_chats",
        "all_group_chats",
        "all_chat_administrators",
        "chat",
        "chat_administrators",
        "chat_member",
    ]
)
MEMBER_STATUSES = frozenset(["creator", "administrator", "member", "restricted", "left", "kicked"])
# Update types Telegram leaves out unless they are listed in allowed_updates explicitly.
DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

# Form-encoded requests (PTB's HTTPXRequest) carry every value as a string; these tell us how to decode.
_INT_FIELDS = frozenset(
    [
        "chat_id",
        "message_id",
        "from_chat_id",
        "offset",
        "limit",
        "timeout",
        "cache_time",
        "reply_to_message_id",
        "message_thread_id",
        "user_id",
        "max_connections",
    ]
)
_BOOL_FIELDS = frozenset(
    [
        "disable_web_page_preview",
        "disable_notification",
        "protect_content",
        "allow_paid_broadcast",
        "allow_sending_without_reply",
        "show_alert",
        "is_personal",
        "drop_pending_updates",
        "has_spoiler",
        "show_caption_above_media",
        "disable_content_type_detection",
    ]
)
_JSON_FIELDS = frozenset(
    [
        "reply_markup",
        "link_preview_options",
        "entities",
        "caption_entities",
        "results",
        "commands",
        "scope",
        "allowed_updates",
        "reply_parameters",
        "button",
    ]
)
_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
_LEADING_COMMAND_RE = re.compile(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")
_SECRET_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")

DELETE_WINDOW_SECONDS = 48 * 3600  # a bot may delete its own message this long after sending it
_EDIT_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
_BUTTON_ERROR = "can't parse inline keyboard button: "
_QUERY_INVALID = "query is too old and response timeout expired or query ID is invalid"

JSONDict = dict[str, Any]
ChatId = int | str

# Broadcasts send the same text to thousands of chats; validation is pure, so memoise it.
_validate_html = functools.lru_cache(maxsize=4096)(validate_telegram_html)


# --- declarative faults and limits ----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Fault:
    """An error response to inject; the classmethods name the failures real bots must survive."""

    status: int = 500
    description: str = "Internal Server Error"
    parameters: JSONDict | None = None
    hang_seconds: float = 0.0
    deliver: bool = False  # after hanging, process the request normally (the "sent but timed out" case)

    @classmethod
    def server_error(cls) -> Fault:
        """Telegram's occasional 500."""
        return cls(500, "Internal Server Error")

    @classmethod
    def bad_gateway(cls) -> Fault:
        """The 502 Telegram's front end returns while the backend restarts."""
        return cls(502, "Bad Gateway")

    @classmethod
    def retry_after(cls, seconds: int) -> Fault:
        """A forced flood-wait, independent of the simulated rate limits."""
        return cls(429, f"Too Many Requests: retry after {seconds}", {"retry_after": seconds})

    @classmethod
    def hang(cls, seconds: float = 30.0, *, deliver: bool = False) -> Fault:
        """Sleep longer than the client's timeout; deliver=True still sends the message afterwards."""
        return cls(504, "Gateway Timeout", hang_seconds=seconds, deliver=deliver)

    @classmethod
    def bad_request(cls, reason: str) -> Fault:
        """Any 400, e.g. Fault.bad_request("chat not found")."""
        return cls(400, f"Bad Request: {reason}")

    @classmethod
    def forbidden(cls, reason: str) -> Fault:
        """Any 403, e.g. Fault.forbidden("bot was kicked from the group chat")."""
        return cls(403, f"Forbidden: {reason}")

    @classmethod
    def migrated(cls, new_chat_id: int) -> Fault:
        """The 400 Telegram sends after a group became a supergroup."""
        return cls(
            400,
            "Bad Request: group chat was upgraded to a supergroup chat",
            {"migrate_to_chat_id": new_chat_id},
        )


@dataclass(slots=True)
class Chaos:
    """Random faults on sendMessage, as a flaky Telegram gives them: 5xx and 429s no limit explains."""

    server_errors: float = 0.0  # share of calls answered 500
    flood: float = 0.0  # share of calls answered 429 retry_after 1
    seed: int = 0
    rng: random.Random = field(init=False)
    injected: Counter[int] = field(init=False, default_factory=Counter)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def pick(self) -> Fault | None:
        draw = self.rng.random()
        if draw < self.server_errors:
            self.injected[500] += 1
            return Fault.server_error()
        if draw < self.server_errors + self.flood:
            self.injected[429] += 1
            return Fault.retry_after(1)
        return None


@dataclass(slots=True)
class RateLimits:
    """Telegram's flood limits as sliding windows; tune per test or disable for throughput runs."""

    enabled: bool = True
    global_per_second: int = GLOBAL_MESSAGES_PER_SECOND
    global_window: float = 1.0
    paid_per_second: int = PAID_BROADCAST_MESSAGES_PER_SECOND
    per_chat_per_second: int = PRIVATE_CHAT_MESSAGES_PER_WINDOW
    per_chat_window: float = PRIVATE_CHAT_WINDOW_SECONDS
    per_group_per_minute: int = GROUP_MESSAGES_PER_WINDOW
    per_group_window: float = GROUP_WINDOW_SECONDS
    ban_seconds: float = BAN_SECONDS


# --- recordings -------------------------------------------------------------------------------------
@dataclass(slots=True)
class SentMessage:
    """One message the bot posted (or edited); `text` is raw as sent, `plain` is what users see."""

    method: str
    chat_id: ChatId | None
    message_id: int | None
    text: str | None
    plain: str | None
    parse_mode: str | None
    reply_markup: JSONDict | None
    time: float
    params: JSONDict
    disable_web_page_preview: bool | None = None
    link_preview_options: JSONDict | None = None
    protect_content: bool = False
    allow_paid_broadcast: bool = False
    inline_message_id: str | None = None
    file_id: str | None = None  # sendPhoto/sendDocument: the file shown (the largest photo size)
    uploaded: bool = False  # ... sent as a multipart upload rather than by file_id
    disable_notification: bool = False  # sent silently: no sound, no vibration


@dataclass(slots=True)
class StoredFile:
    """A file the bot uploaded: its bytes and what Telegram answers about it (sizes for a photo)."""

    kind: str  # "photo" | "document"
    data: bytes
    filename: str | None
    chat_id: ChatId
    unique_id: str
    result: JSONDict | list[JSONDict]  # the message's "photo" sizes or "document" object


@dataclass(slots=True)
class RecordedRequest:
    """Every call the server answered, for assertions about ordering and error handling."""

    method: str
    params: JSONDict
    status: int
    time: float
    description: str | None = None


@dataclass(slots=True)
class Violation:
    """A request that broke a flood limit; a well-behaved bot produces none."""

    method: str
    chat_id: ChatId | None
    kind: str  # "global", "paid", "chat", "group" or "during_ban"
    time: float
    retry_after: int


@dataclass(slots=True)
class CallbackAnswer:
    """What answerCallbackQuery was called with."""

    callback_query_id: str
    text: str | None
    show_alert: bool
    url: str | None
    cache_time: int | None


@dataclass(slots=True)
class InlineAnswer:
    """What answerInlineQuery was called with."""

    inline_query_id: str
    results: list[JSONDict]
    cache_time: int | None
    next_offset: str
    is_personal: bool
    button: JSONDict | None = None


class ApiError(Exception):
    """Internal: unwinds a handler into a Telegram error response."""

    def __init__(self, status: int, description: str, parameters: JSONDict | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


def _bad(reason: str) -> ApiError:
    """Shorthand for the ubiquitous 400."""
    return ApiError(400, f"Bad Request: {reason}")


def _chat_type_for(chat_id: int) -> str:
    """Telegram's id ranges: -100xxxxxxxxxx are supergroups/channels, other negatives are basic groups."""
    if chat_id > 0:
        return "private"
    if chat_id < SUPERGROUP_ID_THRESHOLD:
        return "supergroup"
    return "group"


@dataclass(slots=True)
class _PendingFault:
    method: str | None
    chat_id: ChatId | None
    fault: Fault
    times: int


Handler = Callable[[JSONDict], Awaitable[Any]]

_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux's number; Python does not name it
_STAMP_SPACE = socket.CMSG_SPACE(16)  # one struct timespec
# When the request being handled reached this server (time.monotonic, plus the simulated latency).
_ARRIVED: ContextVar[float | None] = ContextVar("fake_telegram_arrived", default=None)


class _StampedSocket(socket.socket):
    """A TCP socket that keeps the kernel's receive time (SO_TIMESTAMPNS) of the data it read last.

    Telegram counts a request against the flood windows when it arrives. Stamping it when this process
    gets round to its handler counts it late whenever the process waits for a CPU (on a shared 2-core
    machine 50-150 ms now and then), and requests a bot spaced 34 ms apart then land in the same instant
    and break a window they never broke. asyncio's socket transport reads with recv(), so recv() here is a
    recvmsg() that keeps the stamp; the listening socket's accept() hands out such sockets.
    """

    __slots__ = ("accepted", "arrived")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.arrived: float | None = None  # time.time() of the last data read
        self.accepted: weakref.WeakValueDictionary[int, _StampedSocket] = weakref.WeakValueDictionary()

    def accept(self) -> tuple[_StampedSocket, Any]:
        fd, address = self._accept()  # type: ignore[attr-defined]
        connection = _StampedSocket(self.family, self.type, self.proto, fileno=fd)
        if socket.getdefaulttimeout() is None and self.gettimeout():
            connection.setblocking(True)  # as socket.accept() does
        self.accepted[fd] = connection
        return connection, address

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        data, ancillary, _, _ = self.recvmsg(bufsize, _STAMP_SPACE, flags)
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS and len(payload) >= 16:
                seconds, nanoseconds = struct.unpack("@qq", payload[:16])
                self.arrived = seconds + nanoseconds / 1e9
        return data

    @classmethod
    def listen_on(cls, host: str, port: int) -> _StampedSocket | None:
        """A listening socket whose connections stamp what they receive; None where the kernel cannot."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = cls(family, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)  # accepted sockets inherit it
        except OSError:
            listener.close()
            return None
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((host, port))
            listener.listen(128)
        except OSError:
            listener.close()
            raise
        listener.setblocking(False)
        return listener


class FakeBotAPI:
    """The fake server; use as ``async with FakeBotAPI() as api`` and point the bot at ``api.base_url``.

    ``clock`` (seconds, default time.monotonic) drives the flood windows and bans; a test that passes a
    clock it moves by hand checks the limits without racing the machine's speed. With the default clock a
    request counts when the kernel received it (plus ``latency``), not when this process got round to it
    (see _StampedSocket), as Telegram counts requests when they arrive.
    """

    def __init__(
        self,
        token: str = "123:ABC",
        bot_username: str = "newsbot_test_bot",
        *,
        bot_first_name: str = "NewsBot",
        host: str = "127.0.0.1",
        port: int = 0,
        limits: RateLimits | None = None,
        record_text: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token = token
        self.host = host
        self.port = port
        bot_id = int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else 123
        self.bot_user: JSONDict = {
            "id": bot_id,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
        }
        self.limits = limits or RateLimits()
        self.latency: float | tuple[float, float] = 0.0  # seconds per call, or a (low, high) random range
        self.chaos: Chaos | None = None  # random 5xx / surprise 429s on sendMessage
        self.rng = random.Random(0)  # latency draws; tests seed it
        self.record_text = record_text
        # Flood windows, bans and recorded times read this clock; a test can pass one it moves by hand.
        self.clock = clock
        self.in_flight = 0  # requests the server holds right now (latency, hangs, long polls)
        self.max_in_flight = 0  # the most it ever held at once: proves clients overlap their requests
        self.long_polls = 0  # getUpdates calls held right now, waiting for updates
        # recordings
        self.sent: list[SentMessage] = []
        self.edited: list[SentMessage] = []
        self.deleted: list[tuple[ChatId, int]] = []
        self.requests: list[RecordedRequest] = []
        self.violations: list[Violation] = []
        self.answered_callbacks: dict[str, CallbackAnswer] = {}
        self.inline_answers: dict[str, InlineAnswer] = {}
        self.chat_actions: list[tuple[ChatId, str]] = []
        self.uploads: list[StoredFile] = []  # every multipart upload of sendPhoto/sendDocument, in order
        self.upload_attempts = 0  # multipart sendPhoto/sendDocument requests, refused ones included
        self.commands: dict[tuple[str, str], list[JSONDict]] = {}
        self.updates_served: list[JSONDict] = []  # every update returned; repeats if offset is not advanced
        self.webhook: JSONDict | None = None
        # state
        self._sent_by_chat: dict[ChatId, list[SentMessage]] = {}
        self._chats: dict[ChatId, JSONDict] = {}
        self._chat_faults: dict[ChatId, Fault] = {}
        self._files: dict[str, StoredFile] = {}  # every file_id handed out (each photo size) -> its file
        self._members: dict[ChatId, dict[int, tuple[str, bool]]] = {}  # chat -> user -> (status, anonymous)
        self._faults: list[_PendingFault] = []
        self._last_message_id: dict[ChatId, int] = {}
        self._messages: dict[tuple[ChatId, int], tuple[str | None, str | None, JSONDict | None]] = {}
        self._deleted_ids: set[tuple[ChatId, int]] = set()
        self._sent_at: dict[tuple[ChatId, int], float] = {}  # clock() when each message was sent (48 h rule)
        self._media_ids: set[tuple[ChatId, int]] = set()  # messages with a caption instead of text
        # Edits and deletions count against the flood limits like sends (Telegram counts them too); off by
        # default so conversations that edit settings screens in a burst are not slowed.
        self.limit_edits = False
        self._windows: dict[Any, deque[float]] = {}
        self._bans: dict[Any, float] = {}
        self._updates: list[JSONDict] = []
        self._allowed_updates: list[str] | None = None
        self._updates_event: asyncio.Event | None = None
        self._sent_event: asyncio.Event | None = None
        self._poll_generation = 0
        self._closing: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        self._listener: _StampedSocket | None = None
        self._methods: dict[str, tuple[str, Handler]] = {}
        for name, handler in (
            ("getMe", self._get_me),
            ("sendMessage", self._send_message),
            ("sendPhoto", self._send_photo),
            ("sendDocument", self._send_document),
            ("editMessageText", self._edit_message_text),
            ("editMessageReplyMarkup", self._edit_message_reply_markup),
            ("editMessageCaption", self._edit_message_caption),
            ("deleteMessage", self._delete_message),
            ("answerCallbackQuery", self._answer_callback_query),
            ("answerInlineQuery", self._answer_inline_query),
            ("setMyCommands", self._set_my_commands),
            ("getMyCommands", self._get_my_commands),
            ("deleteMyCommands", self._delete_my_commands),
            ("getUpdates", self._get_updates),
            ("setWebhook", self._set_webhook),
            ("deleteWebhook", self._delete_webhook),
            ("getWebhookInfo", self._get_webhook_info),
            ("sendChatAction", self._send_chat_action),
            ("getChat", self._get_chat),
            ("getChatMember", self._get_chat_member),
            ("close", self._close),
            ("logOut", self._close),
        ):
            self._methods[name.lower()] = (name, handler)

    # --- lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        """Bind an ephemeral port so parallel test runs never collide."""
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        self._closing = asyncio.Event()
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        self._listener = _StampedSocket.listen_on(self.host, self.port)
        site: web.BaseSite
        if self._listener is not None:
            site = web.SockSite(self._runner, self._listener)
        else:
            site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Wake long polls and hangs first so shutdown never waits for their timeouts."""
        if self._closing is not None:
            self._closing.set()
        self._wake_pollers()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeBotAPI:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        """Root URL of the server."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """Value for ApplicationBuilder().base_url(); PTB appends the token itself."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        """Value for ApplicationBuilder().base_file_url()."""
        return f"{self.url}/file/bot"

    @property
    def method_url(self) -> str:
        """Prefix for hand-written clients: f"{api.method_url}/sendMessage"."""
        return f"{self.base_url}{self.token}"

    # --- test controls -----------------------------------------------------------------------------
    def set_chat_type(self, chat_id: int, chat_type: str) -> None:
        """Override the type derived from the id, e.g. to mark a -100... id as a channel."""
        chat = self._chats.setdefault(chat_id, self._default_chat(chat_id))
        chat["type"] = chat_type
        if chat_type != "private":
            chat.pop("first_name", None)
            chat.setdefault("title", f"Chat {chat_id}")

    def register_chat(self, chat: JSONDict) -> None:
        """Use a full chat dict (e.g. from make_chat) in responses; a username makes it @-addressable."""
        self._chats[chat["id"]] = dict(chat)

    def set_member(
        self, chat_id: ChatId, user_id: int, status: str = "member", *, anonymous: bool = False
    ) -> None:
        """getChatMember answers `status` for this user in this chat from now on (the chat becomes known).

        anonymous=True makes an administrator or creator anonymous: their messages come from
        GroupAnonymousBot with sender_chat set to the group, but their button presses carry their own user.
        """
        if status not in MEMBER_STATUSES:
            raise ValueError(f"Telegram has no chat member status {status!r}")
        if anonymous and status not in ("creator", "administrator"):
            raise ValueError("only admins can be anonymous")
        self._chats.setdefault(chat_id, self._default_chat(chat_id))
        self._members.setdefault(chat_id, {})[user_id] = (status, anonymous)

    def add_member(self, chat_id: ChatId, user_id: int) -> None:
        """The user is in the chat as a plain member, unless set_member already gave them a status."""
        if user_id not in self._members.get(chat_id, {}):
            self.set_member(chat_id, user_id, "member")

    def set_chat_admins(self, chat_id: ChatId, admins: list[int], *, creator: int | None = None) -> None:
        """Make these users administrators of the chat (and `creator` its creator)."""
        for user_id in admins:
            self.set_member(chat_id, user_id, "administrator")
        if creator is not None:
            self.set_member(chat_id, creator, "creator")

    def member_lookups(self, chat_id: ChatId | None = None) -> list[RecordedRequest]:
        """The getChatMember calls made so far (about one chat, if given), answered or refused."""
        return [
            r
            for r in self.requests
            if r.method == "getChatMember" and (chat_id is None or r.params.get("chat_id") == chat_id)
        ]

    def fail_next(
        self,
        method: str | None = "sendMessage",
        chat_id: ChatId | None = None,
        error: Fault | None = None,
        *,
        times: int = 1,
    ) -> None:
        """Queue a one-shot fault for the next matching call (method/chat_id None match anything)."""
        self._faults.append(_PendingFault(method, chat_id, error or Fault.server_error(), times))

    def set_chat_fault(self, chat_id: ChatId, fault: Fault) -> None:
        """Make every call addressing chat_id fail with fault until restore()."""
        self._chat_faults[chat_id] = fault

    def block(self, chat_id: ChatId) -> None:
        """The user blocked the bot."""
        self.set_chat_fault(chat_id, Fault.forbidden("bot was blocked by the user"))

    def deactivate(self, chat_id: ChatId) -> None:
        """The user deleted their account."""
        self.set_chat_fault(chat_id, Fault.forbidden("user is deactivated"))

    def kick(self, chat_id: ChatId) -> None:
        """The bot was removed from the group."""
        self.set_chat_fault(chat_id, Fault.forbidden("bot was kicked from the group chat"))

    def unknown_chat(self, chat_id: ChatId) -> None:
        """The chat does not exist (or the bot never saw it)."""
        self.set_chat_fault(chat_id, Fault.bad_request("chat not found"))

    def migrate(self, chat_id: ChatId, new_chat_id: int) -> None:
        """The group was upgraded to a supergroup; sends to the old id carry migrate_to_chat_id."""
        self.set_chat_fault(chat_id, Fault.migrated(new_chat_id))
        self._chats.setdefault(new_chat_id, self._default_chat(new_chat_id))

    def restore(self, chat_id: ChatId) -> None:
        """Undo block/deactivate/kick/unknown_chat/migrate."""
        self._chat_faults.pop(chat_id, None)

    def push_update(self, update: JSONDict) -> JSONDict:
        """Queue an update for getUpdates; assigns update_id if missing."""
        if "update_id" not in update:
            update = {"update_id": next(_update_ids), **update}
        self._updates.append(update)
        self._wake_pollers()
        return update

    def clear_records(self) -> None:
        """Forget recordings (not state such as faults, limits or message ids) between benchmark phases."""
        self.sent.clear()
        self._sent_by_chat.clear()
        self.edited.clear()
        self.deleted.clear()
        self.requests.clear()
        self.violations.clear()
        self.chat_actions.clear()
        self.updates_served.clear()

    # --- queries -----------------------------------------------------------------------------------
    def messages_to(self, chat_id: ChatId) -> list[SentMessage]:
        """Messages posted to one chat, in order (indexed, so polling it during a broadcast stays cheap)."""
        return list(self._sent_by_chat.get(chat_id, ()))

    def get_commands(self, scope: str = "default", language_code: str = "") -> list[JSONDict] | None:
        """Commands stored by setMyCommands; scope keys look like "default", "chat:42"."""
        return self.commands.get((scope, language_code))

    async def wait_for_messages(
        self, n: int, chat_id: ChatId | None = None, timeout: float = 30.0
    ) -> list[SentMessage]:
        """Wait for background jobs to have posted at least n messages (to chat_id) and return them."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found = self.sent if chat_id is None else self._sent_by_chat.get(chat_id, [])
            if len(found) >= n:
                return list(found)
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(self._wait_summary(n, chat_id, timeout, found))
            if self._sent_event is None:
                self._sent_event = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._sent_event.wait(), remaining)

    async def wait_until_clients_quiet(self, timeout: float = 30.0) -> None:
        """Wait until every connection has closed or waits in a long poll, and no other request is held.

        After a client process is killed, that is the moment everything it had sent has been handled and
        recorded: aiohttp finishes a request whose client went away, and only then drops its connection.
        """
        assert self._runner is not None and self._runner.server is not None, "start() first"
        server = self._runner.server
        quiet = 0
        async with asyncio.timeout(timeout):
            # Three looks in a row, each after a pass of the event loop: a connection the kernel has
            # accepted is picked up (accept, then connection_made) within two passes.
            while quiet < 3:
                await asyncio.sleep(0.01)
                busy = len(server.connections) > self.long_polls or self.in_flight > self.long_polls
                quiet = 0 if busy else quiet + 1

    def _wait_summary(self, n: int, chat_id: ChatId | None, timeout: float, found: list[SentMessage]) -> str:
        """Explain a timeout with what did happen, so a failing test tells its own story."""
        target = "" if chat_id is None else f" to chat {chat_id}"
        lines = [f"expected {n} message(s){target} within {timeout}s, got {len(found)}"]
        for m in found[-5:]:
            lines.append(f"  sent {m.method} chat={m.chat_id} text={(m.text or '')[:80]!r}")
        errors = [r for r in self.requests if r.status != 200]
        for r in errors[-5:]:
            lines.append(f"  error {r.status} {r.method} chat={r.params.get('chat_id')}: {r.description}")
        if self.violations:
            lines.append(f"  {len(self.violations)} rate-limit violation(s), last: {self.violations[-1]}")
        if not self.requests:
            lines.append("  the server received no requests at all")
        return "\n".join(lines)

    # --- HTTP plumbing -----------------------------------------------------------------------------
    @staticmethod
    def _json_response(status: int, body: JSONDict) -> web.Response:
        return web.Response(body=json.dumps(body).encode(), status=status, content_type="application/json")

    async def _not_found(self, request: web.Request) -> web.Response:
        """Telegram answers unknown paths with a JSON 404."""
        return self._json_response(404, {"ok": False, "error_code": 404, "description": "Not Found"})

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        """Single entry point; counts the requests in flight so tests can see overlap without a stopwatch."""
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._handle_held(request)
        finally:
            self.in_flight -= 1

    async def _handle_held(self, request: web.Request) -> web.StreamResponse:
        """Auth, parameter decoding, faults, dispatch, recording."""
        latency = self.latency
        if isinstance(latency, tuple):
            latency = self.rng.uniform(*latency)
        arrived = self._arrival(request)
        _ARRIVED.set(None if arrived is None else arrived + latency)  # this connection's task only
        if latency > 0:
            await asyncio.sleep(latency)
        raw_method = request.match_info["method"]
        entry = self._methods.get(raw_method.lower())
        method = entry[0] if entry else raw_method
        params: JSONDict = {}
        try:
            if request.match_info["token"] != self.token:
                raise ApiError(401, "Unauthorized")
            if entry is None:
                raise ApiError(404, "Not Found")
            params = await self._read_params(request)
            if self._faults:
                fault = self._take_fault(method, params.get("chat_id"))
                if fault is not None:
                    await self._apply_fault(fault)
            if self.chaos is not None and method == "sendMessage":
                fault = self.chaos.pick()
                if fault is not None:
                    await self._apply_fault(fault)
            result = await entry[1](params)
        except ApiError as exc:
            body: JSONDict = {"ok": False, "error_code": exc.status, "description": exc.description}
            if exc.parameters:
                body["parameters"] = exc.parameters
            self._record_request(method, params, exc.status, exc.description)
            return self._json_response(exc.status, body)
        self._record_request(method, params, 200, None)
        return self._json_response(200, {"ok": True, "result": result})

    def _arrival(self, request: web.Request) -> float | None:
        """When the kernel received this request, on time.monotonic; None with a test's own clock."""
        if self.clock is not time.monotonic or self._listener is None or request.transport is None:
            return None
        sock = request.transport.get_extra_info("socket")
        connection = self._listener.accepted.get(sock.fileno()) if sock is not None else None
        if connection is None or connection.arrived is None:
            return None
        return time.monotonic() - max(0.0, time.time() - connection.arrived)

    def _record_request(self, method: str, params: JSONDict, status: int, description: str | None) -> None:
        self.requests.append(
            RecordedRequest(method, params if self.record_text else {}, status, self.clock(), description)
        )

    async def _read_params(self, request: web.Request) -> JSONDict:
        """Accept JSON bodies and form/multipart bodies (PTB sends JSON-encoded values as form fields)."""
        params: JSONDict = dict(request.query) if request.query_string else {}
        ctype = request.content_type
        if ctype == "application/json":
            raw = await request.read()
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError as exc:
                    raise _bad("can't parse JSON request body") from exc
                if not isinstance(body, dict):
                    raise _bad("request body must be a JSON object")
                params.update(body)
        elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            params.update((await request.post()).items())
        for key, value in params.items():
            if not isinstance(value, str):
                continue
            if key in _INT_FIELDS:
                params[key] = _to_int(key, value)
            elif key in _BOOL_FIELDS:
                params[key] = value.lower() in ("true", "1")
            elif key in _JSON_FIELDS:
                try:
                    params[key] = json.loads(value)
                except ValueError as exc:
                    what = "reply keyboard markup" if key == "reply_markup" else key
                    raise _bad(f"can't parse {what} JSON object") from exc
        return params

    def _take_fault(self, method: str, chat_id: ChatId | None) -> Fault | None:
        for i, pending in enumerate(self._faults):
            if pending.method not in (None, method):
                continue
            if pending.chat_id is not None and pending.chat_id != chat_id:
                continue
            pending.times -= 1
            if pending.times <= 0:
                del self._faults[i]
            return pending.fault
        return None

    async def _apply_fault(self, fault: Fault) -> None:
        """Raise the fault's error, after hanging if asked; deliver=True falls through to normal handling."""
        if fault.hang_seconds > 0:
            assert self._closing is not None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), fault.hang_seconds)
            if fault.deliver:
                return
        raise ApiError(fault.status, fault.description, fault.parameters)

    # --- shared validation -------------------------------------------------------------------------
    def _default_chat(self, chat_id: int) -> JSONDict:
        chat_type = _chat_type_for(chat_id)
        if chat_type == "private":
            return {"id": chat_id, "type": "private", "first_name": f"User {chat_id}"}
        return {"id": chat_id, "type": chat_type, "title": f"Chat {chat_id}"}

    def _chat(self, params: JSONDict) -> JSONDict:
        """Resolve chat_id (int or @username) and apply persistent chat faults."""
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise _bad("chat_id is empty")
        chat = self._chats.get(chat_id)
        if chat is None:
            if isinstance(chat_id, str):
                chat = self._find_by_username(chat_id)
                params["chat_id"] = chat["id"]
            else:
                chat = self._chats[chat_id] = self._default_chat(chat_id)
        if self._chat_faults:
            fault = self._chat_faults.get(chat["id"])
            if fault is not None:
                raise ApiError(fault.status, fault.description, fault.parameters)
        return chat

    def _find_by_username(self, handle: str) -> JSONDict:
        wanted = handle.lower()
        for known in self._chats.values():
            if known.get("username") and f"@{known['username']}".lower() == wanted:
                return known
        raise _bad("chat not found")

    @staticmethod
    def _parse_text(text: str, parse_mode: str | None) -> str:
        """Entity-parse text like Telegram and return the visible part."""
        if not parse_mode:
            return text
        mode = parse_mode.lower()
        if mode == "html":
            try:
                return _validate_html(text)
            except TelegramHTMLError as exc:
                raise _bad(f"can't parse entities: {exc}") from None
        if mode in ("markdown", "markdownv2"):
            return text  # not validated: the project uses HTML
        raise _bad(f"unsupported parse_mode {parse_mode!r}")

    def _check_text(self, text: Any, parse_mode: str | None, *, caption: bool = False) -> str:
        """Apply Telegram's emptiness and UTF-16 length rules to the text after entity parsing."""
        if text is None or text == "":
            if caption:
                return ""
            raise _bad("message text is empty")
        plain = self._parse_text(str(text), parse_mode)
        if caption:
            if utf16_len(plain) > MAX_CAPTION_LENGTH:
                raise _bad("message caption is too long")
            return plain
        if not plain.strip():
            raise _bad("message text is empty")
        if utf16_len(plain) > MAX_MESSAGE_LENGTH:
            raise _bad("message is too long")
        return plain

    @staticmethod
    def _check_markup(markup: Any, *, inline_only: bool = False) -> JSONDict | None:
        """Validate reply_markup the way Telegram does for the fields bots usually get wrong."""
        if markup is None or markup == "":
            return None
        if not isinstance(markup, dict):
            raise _bad("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            _check_inline_keyboard(markup["inline_keyboard"])
            return markup
        if inline_only:
            raise _bad("reply markup must be an inline keyboard")
        if "keyboard" in markup:
            rows = markup["keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise _bad("can't parse reply keyboard markup JSON object")
            for row in rows:
                for button in row:
                    text = button.get("text") if isinstance(button, dict) else button
                    if not isinstance(text, str) or not text:
                        raise _bad("BUTTON_TEXT_INVALID")
            return markup
        if "remove_keyboard" in markup or "force_reply" in markup:
            return markup
        raise _bad("can't parse reply keyboard markup JSON object")

    def _check_rate(self, method: str, chat_id: ChatId, chat_type: str, paid: bool) -> None:
        """Sliding-window flood control; a violation starts a ban during which every send fails too."""
        lim = self.limits
        now = _ARRIVED.get()
        if now is None:
            now = self.clock()
        global_key = "paid" if paid else "global"
        chat_key = ("chat", chat_id)
        bans = self._bans
        if bans:
            for key in (global_key, chat_key):
                until = bans.get(key)
                if until is None:
                    continue
                if until > now:
                    self._violate(method, chat_id, "during_ban", until - now, None, now)
                del bans[key]
        if paid:
            checks = [(global_key, "paid", lim.paid_per_second, lim.global_window)]
        else:
            checks = [(global_key, "global", lim.global_per_second, lim.global_window)]
        if chat_type == "private":
            checks.append((chat_key, "chat", lim.per_chat_per_second, lim.per_chat_window))
        else:
            checks.append((chat_key, "group", lim.per_group_per_minute, lim.per_group_window))
        windows = []
        for key, kind, limit, window in checks:
            stamps = self._windows.get(key)
            if stamps is None:
                stamps = self._windows[key] = deque()
            horizon = now - window
            while stamps and stamps[0] <= horizon:
                stamps.popleft()
            if len(stamps) >= limit:
                free_in = stamps[0] + window - now if stamps else window
                self._violate(method, chat_id, kind, max(lim.ban_seconds, free_in), key, now)
            windows.append(stamps)
        for stamps in windows:
            if stamps and stamps[-1] > now:  # arrived before a request handled earlier
                bisect.insort(stamps, now)
            else:
                stamps.append(now)

    def _violate(
        self, method: str, chat_id: ChatId, kind: str, wait: float, ban_key: Any, now: float
    ) -> NoReturn:
        """Record the violation, start the ban (unless already banned) and answer 429."""
        retry_after = max(1, math.ceil(wait))
        if ban_key is not None:
            self._bans[ban_key] = now + wait
        self.violations.append(Violation(method, chat_id, kind, now, retry_after))
        raise ApiError(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})

    def _record_message(
        self,
        method: str,
        params: JSONDict,
        chat: JSONDict,
        text: str | None,
        plain: str | None,
        markup: JSONDict | None,
        extra: JSONDict | None = None,
    ) -> JSONDict:
        """Store the message and build the Message object Telegram would return."""
        chat_id = chat["id"]
        message_id = self._last_message_id.get(chat_id, 0) + 1
        self._last_message_id[chat_id] = message_id
        record = self.record_text
        sent = SentMessage(
            method,
            chat_id,
            message_id,
            text if record else None,
            plain if record else None,
            params.get("parse_mode"),
            markup,
            self.clock(),
            params if record else {},
            params.get("disable_web_page_preview"),
            params.get("link_preview_options"),
            bool(params.get("protect_content")),
            bool(params.get("allow_paid_broadcast")),
            disable_notification=bool(params.get("disable_notification")),
        )
        self.sent.append(sent)
        by_chat = self._sent_by_chat.get(chat_id)
        if by_chat is None:
            by_chat = self._sent_by_chat[chat_id] = []
        by_chat.append(sent)
        if record:
            self._messages[(chat_id, message_id)] = (text, params.get("parse_mode"), markup)
        self._sent_at[(chat_id, message_id)] = self.clock()
        if extra:
            self._media_ids.add((chat_id, message_id))
        if self._sent_event is not None:
            event, self._sent_event = self._sent_event, None
            event.set()
        message: JSONDict = {"message_id": message_id, "date": int(time.time()), "chat": chat}
        if chat["type"] == "channel":
            message["sender_chat"] = chat
        else:
            message["from"] = self.bot_user
        if extra:
            message.update(extra)
        elif plain is not None:
            message["text"] = plain
        if markup is not None and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        return message

    # --- methods -----------------------------------------------------------------------------------
    async def _get_me(self, params: JSONDict) -> JSONDict:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": True,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _send_message(self, params: JSONDict) -> JSONDict:
        chat = self._chat(params)
        text = params.get("text")
        plain = self._check_text(text, params.get("parse_mode"))
        markup = self._check_markup(params.get("reply_markup"))
        if self.limits.enabled:
            paid = bool(params.get("allow_paid_broadcast"))
            self._check_rate("sendMessage", chat["id"], chat["type"], paid)
        return self._record_message("sendMessage", params, chat, text, plain, markup)

    async def _send_media(self, method: str, kind: str, params: JSONDict) -> JSONDict:
        """sendPhoto/sendDocument: a multipart upload or a file_id this server handed out, caption <= 1024.

        Photos must be real PNG or JPEG images of allowed dimensions (tests/fake_media.py); the answer
        carries Telegram's photo sizes, each with its file_id and file_unique_id, and any of those file_ids
        sends the same file again. An unknown file_id is refused like Telegram refuses one; HTTP URLs are
        refused too, because this server cannot fetch them (Telegram would).
        """
        chat = self._chat(params)
        media = params.get(kind)
        if media is None or media == "":
            raise _bad(f"there is no {kind} in the request")
        caption = params.get("caption")
        plain = self._check_text(caption, params.get("parse_mode"), caption=True)
        markup = self._check_markup(params.get("reply_markup"))
        upload = isinstance(media, web.FileField)
        if upload:
            self.upload_attempts += 1
            stored = self._store_upload(kind, media, chat["id"])
        elif isinstance(media, str) and media.lower().startswith(("http://", "https://")):
            raise _bad("failed to get HTTP URL content")
        else:
            known = self._files.get(str(media))
            if known is None or known.kind != kind:
                raise _bad("wrong file identifier/HTTP URL specified")
            stored = known
        if self.limits.enabled:
            self._check_rate(method, chat["id"], chat["type"], bool(params.get("allow_paid_broadcast")))
        if upload:
            self.uploads.append(stored)
            for file_id in _file_ids(stored.result):
                self._files[file_id] = stored
            params[kind] = f"<upload {stored.filename or kind}, {len(stored.data)} bytes>"
        extra: JSONDict = {kind: stored.result}
        if plain:
            extra["caption"] = plain
        message = self._record_message(method, params, chat, caption, plain, markup, extra)
        sent = self.sent[-1]
        sent.file_id = _file_ids(stored.result)[-1]
        sent.uploaded = upload
        return message

    def user_photo(self, data: bytes, chat_id: ChatId) -> list[JSONDict]:
        """A photo a user sent the bot: its sizes (for the update) with file_ids the bot may send again."""
        info = photo_info(data)
        number = len(self._files) + 1
        sizes = [
            {
                "file_id": f"fake-user-photo-{number}-{i}",
                "file_unique_id": f"fake-user-unique-{number}-{i}",
                "width": width,
                "height": height,
                "file_size": size,
            }
            for i, (width, height, size) in enumerate(photo_sizes(info, len(data)))
        ]
        stored = StoredFile("photo", data, None, chat_id, sizes[-1]["file_unique_id"], sizes)
        for size in sizes:
            self._files[size["file_id"]] = stored
        return sizes

    def _store_upload(self, kind: str, field: web.FileField, chat_id: ChatId) -> StoredFile:
        """Read an uploaded file; a photo must decode. Nothing is kept unless the send goes through."""
        data = field.file.read()
        number = len(self.uploads) + 1
        unique = f"fake-unique-{kind}-{number}"
        if kind == "photo":
            try:
                info = photo_info(data)
            except ImageError as error:
                raise _bad(str(error)) from None
            result: JSONDict | list[JSONDict] = [
                {
                    "file_id": f"fake-photo-{number}-{i}",
                    "file_unique_id": f"{unique}-{i}",
                    "width": width,
                    "height": height,
                    "file_size": size,
                }
                for i, (width, height, size) in enumerate(photo_sizes(info, len(data)))
            ]
        else:
            if not data:
                raise _bad("file must be non-empty")
            result = {"file_id": f"fake-document-{number}", "file_unique_id": unique, "file_size": len(data)}
            if field.filename:
                result["file_name"] = field.filename
        return StoredFile(kind, data, field.filename, chat_id, unique, result)

    async def _send_photo(self, params: JSONDict) -> JSONDict:
        return await self._send_media("sendPhoto", "photo", params)

    async def _send_document(self, params: JSONDict) -> JSONDict:
        return await self._send_media("sendDocument", "document", params)

    def _edit_target(self, params: JSONDict) -> tuple[JSONDict | None, int | None, str | None]:
        inline_id = params.get("inline_message_id")
        if inline_id:
            return None, None, str(inline_id)
        chat = self._chat(params)
        message_id = params.get("message_id")
        if not message_id:
            raise _bad("message identifier is not specified")
        if (chat["id"], message_id) in self._deleted_ids or not self._exists(chat["id"], message_id):
            raise _bad("message to edit not found")
        if self.limit_edits and self.limits.enabled:
            self._check_rate("edit", chat["id"], chat["type"], False)
        return chat, message_id, None

    def _exists(self, chat_id: ChatId, message_id: Any) -> bool:
        """A message this server created in that chat (ids from 1,000,001 are users' own messages)."""
        if not isinstance(message_id, int):
            return False
        return message_id > 1_000_000 or 0 < message_id <= self._last_message_id.get(chat_id, 0)

    def sent_at(self, chat_id: ChatId, message_id: int) -> float | None:
        """When the message was sent, on this server's clock."""
        return self._sent_at.get((chat_id, message_id))

    def _record_edit(
        self,
        method: str,
        params: JSONDict,
        chat: JSONDict | None,
        message_id: int | None,
        inline_id: str | None,
        text: str | None,
        plain: str | None,
        markup: JSONDict | None,
    ) -> JSONDict | bool:
        record = self.record_text
        self.edited.append(
            SentMessage(
                method,
                chat["id"] if chat else None,
                message_id,
                text if record else None,
                plain if record else None,
                params.get("parse_mode"),
                markup,
                self.clock(),
                params if record else {},
                params.get("disable_web_page_preview"),
                params.get("link_preview_options"),
                inline_message_id=inline_id,
            )
        )
        if chat is None:
            return True
        message: JSONDict = {
            "message_id": message_id,
            "date": int(time.time()),
            "edit_date": int(time.time()),
            "chat": chat,
            "from": self.bot_user,
        }
        if plain is not None:
            message["text"] = plain
        if markup is not None:
            message["reply_markup"] = markup
        return message

    async def _edit_message_text(self, params: JSONDict) -> JSONDict | bool:
        chat, message_id, inline_id = self._edit_target(params)
        if chat is not None and (chat["id"], message_id) in self._media_ids:
            raise _bad("there is no text in the message to edit")
        text = params.get("text")
        parse_mode = params.get("parse_mode")
        plain = self._check_text(text, parse_mode)
        markup = self._check_markup(params.get("reply_markup"), inline_only=True)
        if chat is not None and message_id is not None:
            key = (chat["id"], message_id)
            old = self._messages.get(key)
            if old is not None and old == (text, parse_mode, markup):
                raise _bad(_EDIT_NOT_MODIFIED)
            if self.record_text:
                self._messages[key] = (text, parse_mode, markup)
        return self._record_edit("editMessageText", params, chat, message_id, inline_id, text, plain, markup)

    async def _edit_message_reply_markup(self, params: JSONDict) -> JSONDict | bool:
        chat, message_id, inline_id = self._edit_target(params)
        markup = self._check_markup(params.get("reply_markup"), inline_only=True)
        text = plain = None
        if chat is not None and message_id is not None:
            key = (chat["id"], message_id)
            old = self._messages.get(key)
            if old is not None:
                if old[2] == markup:
                    raise _bad(_EDIT_NOT_MODIFIED)
                text = old[0]
                plain = self._parse_text(text, old[1]) if text is not None else None
                self._messages[key] = (old[0], old[1], markup)
        return self._record_edit(
            "editMessageReplyMarkup", params, chat, message_id, inline_id, text, plain, markup
        )

    async def _edit_message_caption(self, params: JSONDict) -> JSONDict | bool:
        """Like editMessageText, for a photo's (or document's) caption: at most 1,024 characters."""
        chat, message_id, inline_id = self._edit_target(params)
        if chat is not None and (chat["id"], message_id) not in self._media_ids:
            raise _bad("there is no caption in the message to edit")
        text = params.get("caption")
        parse_mode = params.get("parse_mode")
        plain = self._check_text(text, parse_mode, caption=True)
        markup = self._check_markup(params.get("reply_markup"), inline_only=True)
        if chat is not None and message_id is not None:
            key = (chat["id"], message_id)
            if self._messages.get(key) == (text, parse_mode, markup):
                raise _bad(_EDIT_NOT_MODIFIED)
            if self.record_text:
                self._messages[key] = (text, parse_mode, markup)
        return self._record_edit(
            "editMessageCaption", params, chat, message_id, inline_id, text, plain, markup
        )

    async def _delete_message(self, params: JSONDict) -> bool:
        """Bots delete their own messages only for 48 hours after sending them (on this server's clock)."""
        chat = self._chat(params)
        message_id = params.get("message_id")
        if not message_id:
            raise _bad("message identifier is not specified")
        key = (chat["id"], message_id)
        if key in self._deleted_ids or not self._exists(chat["id"], message_id):
            raise _bad("message to delete not found")
        sent_at = self._sent_at.get(key)
        if sent_at is not None and self.clock() - sent_at >= DELETE_WINDOW_SECONDS:
            raise _bad("message can't be deleted")
        if self.limit_edits and self.limits.enabled:
            self._check_rate("deleteMessage", chat["id"], chat["type"], False)
        self._messages.pop(key, None)
        self._deleted_ids.add(key)
        self.deleted.append(key)
        return True

    async def _answer_callback_query(self, params: JSONDict) -> bool:
        query_id = params.get("callback_query_id")
        if not query_id or str(query_id) in self.answered_callbacks:
            raise _bad(_QUERY_INVALID)
        text = params.get("text")
        if text is not None and len(str(text)) > MAX_CALLBACK_ANSWER_LENGTH:
            raise _bad("MESSAGE_TOO_LONG")
        url = params.get("url")
        if url is not None and not str(url).startswith(("https://t.me/", "http://t.me/", "tg://")):
            raise _bad("URL_INVALID")
        self.answered_callbacks[str(query_id)] = CallbackAnswer(
            str(query_id), text, bool(params.get("show_alert")), url, params.get("cache_time")
        )
        return True

    async def _answer_inline_query(self, params: JSONDict) -> bool:
        query_id = params.get("inline_query_id")
        if not query_id or str(query_id) in self.inline_answers:
            raise _bad(_QUERY_INVALID)
        results = params.get("results")
        if not isinstance(results, list):
            raise _bad("can't parse inline query results JSON object")
        if len(results) > MAX_INLINE_RESULTS:
            raise _bad("RESULTS_TOO_MUCH")
        seen: set[str] = set()
        for result in results:
            if not isinstance(result, dict):
                raise _bad("can't parse inline query result JSON object")
            rid = result.get("id")
            if not isinstance(rid, str) or not 1 <= len(rid.encode()) <= MAX_INLINE_RESULT_ID_BYTES:
                raise _bad("RESULT_ID_INVALID")
            if rid in seen:
                raise _bad("RESULT_ID_DUPLICATE")
            seen.add(rid)
            if result.get("type") not in INLINE_RESULT_TYPES:
                raise _bad("RESULT_TYPE_INVALID")
            if result["type"] == "photo" and "photo_file_id" in result:
                known = self._files.get(str(result["photo_file_id"]))
                if known is None or known.kind != "photo":
                    raise _bad("wrong file identifier/HTTP URL specified")
                self._check_text(result.get("caption"), result.get("parse_mode"), caption=True)
            if result["type"] == "article":
                if not result.get("title"):
                    raise _bad("RESULT_TITLE_EMPTY")
                content = result.get("input_message_content")
                if not isinstance(content, dict):
                    raise _bad("MESSAGE_EMPTY")
                if "message_text" in content:
                    self._check_text(content["message_text"], content.get("parse_mode"))
            self._check_markup(result.get("reply_markup"), inline_only=True)
        next_offset = str(params.get("next_offset") or "")
        if len(next_offset.encode()) > MAX_INLINE_NEXT_OFFSET_BYTES:
            raise _bad("NEXT_OFFSET_INVALID")
        self.inline_answers[str(query_id)] = InlineAnswer(
            str(query_id),
            results,
            params.get("cache_time"),
            next_offset,
            bool(params.get("is_personal")),
            params.get("button"),
        )
        return True

    @staticmethod
    def _scope_key(params: JSONDict) -> tuple[str, str]:
        """Commands are stored per (scope, language_code); scope keys look like "chat:42"."""
        scope = params.get("scope") or {"type": "default"}
        if not isinstance(scope, dict) or scope.get("type") not in COMMAND_SCOPE_TYPES:
            raise _bad("can't parse BotCommandScope JSON object")
        key = scope["type"]
        if key in ("chat", "chat_administrators", "chat_member"):
            if "chat_id" not in scope:
                raise _bad("chat_id is empty")
            key = f"{key}:{scope['chat_id']}"
        if scope["type"] == "chat_member":
            key = f"{key}:{scope.get('user_id')}"
        language = str(params.get("language_code") or "")
        if language and not (len(language) == 2 and language.isalpha() and language.islower()):
            raise _bad("invalid language code specified")
        return key, language

    async def _set_my_commands(self, params: JSONDict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _bad("can't parse BotCommand JSON object")
        if len(commands) > MAX_COMMANDS:
            raise _bad("too many commands specified")
        for cmd in commands:
            if not isinstance(cmd, dict) or not _COMMAND_RE.fullmatch(str(cmd.get("command", ""))):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(str(cmd.get("description", ""))) <= MAX_COMMAND_DESCRIPTION_LENGTH:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
        key = self._scope_key(params)
        if commands:
            self.commands[key] = commands
        else:
            self.commands.pop(key, None)
        return True

    async def _get_my_commands(self, params: JSONDict) -> list[JSONDict]:
        return self.commands.get(self._scope_key(params), [])

    async def _delete_my_commands(self, params: JSONDict) -> bool:
        self.commands.pop(self._scope_key(params), None)
        return True

    def _wake_pollers(self) -> None:
        if self._updates_event is not None:
            event, self._updates_event = self._updates_event, None
            event.set()

    def _ready_updates(self, offset: int, limit: int) -> list[JSONDict]:
        """Confirm updates below offset (Telegram forgets them) and select the next batch."""
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        allowed = self._allowed_updates
        batch = []
        for update in self._updates:
            kind = next((k for k in update if k != "update_id"), None)
            if allowed:
                if kind not in allowed:
                    continue
            elif kind in DEFAULT_EXCLUDED_UPDATES:
                continue
            batch.append(update)
            if len(batch) >= limit:
                break
        return batch

    async def _get_updates(self, params: JSONDict) -> list[JSONDict]:
        if self.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or MAX_GET_UPDATES_LIMIT), 1), MAX_GET_UPDATES_LIMIT)
        timeout = max(float(params.get("timeout") or 0), 0.0)
        if params.get("allowed_updates") is not None:
            self._allowed_updates = list(params["allowed_updates"])
        self._poll_generation += 1
        generation = self._poll_generation
        self._wake_pollers()  # an older long poll gets terminated with 409, like Telegram does
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self.long_polls += 1
        try:
            while True:
                batch = self._ready_updates(offset, limit)
                remaining = deadline - loop.time()
                if batch or remaining <= 0 or (self._closing is not None and self._closing.is_set()):
                    break
                if self._updates_event is None:
                    self._updates_event = asyncio.Event()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._updates_event.wait(), remaining)
                if generation != self._poll_generation:
                    raise ApiError(
                        409,
                        "Conflict: terminated by other getUpdates request; "
                        "make sure that only one bot instance is running",
                    )
        finally:
            self.long_polls -= 1
        self.updates_served.extend(batch)
        return batch

    async def _set_webhook(self, params: JSONDict) -> bool:
        url = str(params.get("url") or "")
        if not url:
            return await self._delete_webhook(params)
        if not url.startswith("https://"):
            raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_TOKEN_RE.fullmatch(str(secret)):
            raise _bad("secret token contains unallowed characters")
        if params.get("drop_pending_updates"):
            self._updates.clear()
        self.webhook = {
            "url": url,
            "secret_token": secret,
            "max_connections": params.get("max_connections", 40),
            "allowed_updates": params.get("allowed_updates"),
        }
        self._wake_pollers()
        return True

    async def _delete_webhook(self, params: JSONDict) -> bool:
        self.webhook = None
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _get_webhook_info(self, params: JSONDict) -> JSONDict:
        info: JSONDict = {
            "url": self.webhook["url"] if self.webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self.webhook:
            info["max_connections"] = self.webhook["max_connections"]
            if self.webhook["allowed_updates"] is not None:
                info["allowed_updates"] = self.webhook["allowed_updates"]
        return info

    async def _send_chat_action(self, params: JSONDict) -> bool:
        chat = self._chat(params)
        action = params.get("action")
        if action not in CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        self.chat_actions.append((chat["id"], action))
        return True

    async def _get_chat(self, params: JSONDict) -> JSONDict:
        chat = self._chat(params)
        return {
            **chat,
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    async def _get_chat_member(self, params: JSONDict) -> JSONDict:
        """Like Telegram: unknown chats and users are errors, a known user outside the chat has "left"."""
        chat_id = params.get("chat_id")
        if isinstance(chat_id, int) and chat_id not in self._chats and chat_id not in self._members:
            raise _bad("chat not found")
        chat = self._chat(params)
        user_id = params.get("user_id")
        if not isinstance(user_id, int) or user_id <= 0:
            raise _bad("invalid user_id specified")
        if user_id == self.bot_user["id"]:
            return _chat_member(self.bot_user, "administrator" if chat["type"] != "private" else "member")
        members = self._members.get(chat["id"], {})
        if chat["type"] == "private" and chat["id"] == user_id:
            members = {user_id: ("member", False)}
        if user_id in members:
            status, anonymous = members[user_id]
        elif self._knows_user(user_id):
            status, anonymous = "left", False
        else:
            raise _bad("user not found")
        user = {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"}
        return _chat_member(user, status, anonymous=anonymous)

    def _knows_user(self, user_id: int) -> bool:
        """Telegram knows a user the bot has met: in a private chat or as a member of some chat."""
        return user_id in self._chats or any(user_id in members for members in self._members.values())

    async def _close(self, params: JSONDict) -> bool:
        return True


def _file_ids(result: JSONDict | list[JSONDict]) -> list[str]:
    """The file_ids of a stored file, the largest photo size last."""
    return [size["file_id"] for size in result] if isinstance(result, list) else [result["file_id"]]


def _to_int(key: str, value: str) -> int | str:
    """Form fields arrive as strings; chat_id may legitimately be an @username."""
    try:
        return int(value)
    except ValueError:
        if key == "timeout":
            with contextlib.suppress(ValueError):
                return int(float(value))
        if key == "chat_id" and value.startswith("@"):
            return value
        if key == "chat_id":
            raise _bad("chat not found") from None
        raise _bad(f"invalid {key} specified") from None


def _check_inline_keyboard(rows: Any) -> None:
    """Buttons need text and exactly one action; callback_data and url have Telegram's own errors."""
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        raise _bad("can't parse inline keyboard markup JSON object")
    if sum(len(r) for r in rows) > MAX_INLINE_KEYBOARD_BUTTONS:
        raise _bad("reply markup is too long")
    for row in rows:
        for button in row:
            if not isinstance(button, dict):
                raise _bad("can't parse inline keyboard button: InlineKeyboardButton must be an Object")
            if not isinstance(button.get("text"), str) or not button["text"]:
                raise _bad("BUTTON_TEXT_INVALID")
            actions = BUTTON_ACTION_FIELDS.intersection(button)
            if not actions:
                raise _bad(f"{_BUTTON_ERROR}Text buttons are unallowed in the inline keyboard")
            if len(actions) > 1:
                raise _bad(f"{_BUTTON_ERROR}more than one action field: {sorted(actions)}")
            if "callback_data" in button:
                data = button["callback_data"]
                if not isinstance(data, str) or not 1 <= len(data.encode()) <= MAX_CALLBACK_DATA_BYTES:
                    raise _bad("BUTTON_DATA_INVALID")
            elif "url" in button:
                url = button["url"]
                if not isinstance(url, str) or not _valid_button_url(url):
                    raise _bad("BUTTON_URL_INVALID")


def _valid_button_url(url: str) -> bool:
    lower = url.lower()
    if lower.startswith("tg://"):
        return len(url) > 5
    for scheme in ("http://", "https://"):
        if lower.startswith(scheme):
            host = url[len(scheme) :].split("/", 1)[0]
            return bool(host) and " " not in url
    return False


# --- update builders ---------------------------------------------------------------------------------
DEFAULT_BOT_USER: JSONDict = {
    "id": 123,
    "is_bot": True,
    "first_name": "NewsBot",
    "username": "newsbot_test_bot",
}

# Telegram's stand-in sender for messages an anonymous group admin writes "as the group".
ANONYMOUS_ADMIN_USER: JSONDict = {
    "id": 1087968824,
    "is_bot": True,
    "first_name": "Group",
    "username": "GroupAnonymousBot",
}

_update_ids = itertools.count(1)
_incoming_message_ids = itertools.count(1_000_001)
_query_ids = itertools.count(1)


def make_user(
    id: int, first_name: str = "Ayşe", language_code: str | None = "tr", username: str | None = None
) -> JSONDict:
    """A Telegram User dict; Turkish defaults because the audience is in Turkey."""
    user: JSONDict = {"id": id, "is_bot": False, "first_name": first_name}
    if language_code:
        user["language_code"] = language_code
    if username:
        user["username"] = username
    return user


def make_chat(
    id: int, type: str | None = None, title: str | None = None, username: str | None = None
) -> JSONDict:
    """A Chat dict; type defaults to what Telegram's id ranges imply."""
    chat_type = type or _chat_type_for(id)
    chat: JSONDict = {"id": id, "type": chat_type}
    if chat_type == "private":
        chat["first_name"] = title or f"User {id}"
    else:
        chat["title"] = title or f"Chat {id}"
    if username:
        chat["username"] = username
    return chat


def _private_chat(user: JSONDict) -> JSONDict:
    chat: JSONDict = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
    if "username" in user:
        chat["username"] = user["username"]
    return chat


def photo_update(user: JSONDict, caption: str, sizes: list[JSONDict]) -> JSONDict:
    """An incoming photo in a private chat with a caption; a leading /command gets its caption entity."""
    message: JSONDict = {
        "message_id": next(_incoming_message_ids),
        "date": int(time.time()),
        "chat": _private_chat(user),
        "from": user,
        "photo": sizes,
        "caption": caption,
    }
    command = _LEADING_COMMAND_RE.match(caption)
    if command:
        length = utf16_len(command.group(0))
        message["caption_entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
    return {"update_id": next(_update_ids), "message": message}


def message_update(
    user: JSONDict,
    text: str,
    chat: JSONDict | None = None,
    *,
    message_id: int | None = None,
    anonymous: bool = False,
) -> JSONDict:
    """An incoming text message; a leading /command (optionally /command@botname) gets its entity.

    anonymous=True: an anonymous admin writes in a group, so Telegram names GroupAnonymousBot as the sender
    and the group itself as sender_chat (the admin's own account is not in the update).
    """
    chat = chat or _private_chat(user)
    message: JSONDict = {
        "message_id": message_id or next(_incoming_message_ids),
        "date": int(time.time()),
        "chat": chat,
        "text": text,
    }
    if chat["type"] == "channel":
        message["sender_chat"] = chat
    elif anonymous:
        if chat["type"] not in ("group", "supergroup"):
            raise ValueError("only group admins can write anonymously")
        message["from"] = ANONYMOUS_ADMIN_USER
        message["sender_chat"] = chat
    else:
        message["from"] = user
    command = _LEADING_COMMAND_RE.match(text)
    if command:
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": utf16_len(command.group(0))}]
    key = "channel_post" if chat["type"] == "channel" else "message"
    return {"update_id": next(_update_ids), key: message}


def callback_update(
    user: JSONDict, data: str, message: JSONDict | None = None, *, bot: JSONDict | None = None
) -> JSONDict:
    """A button press on `message` (default: a fresh bot message in the user's private chat)."""
    if message is None:
        message = {
            "message_id": next(_incoming_message_ids),
            "date": int(time.time()),
            "chat": _private_chat(user),
            "from": bot or DEFAULT_BOT_USER,
            "text": "…",
        }
    query = {
        "id": str(next(_query_ids)),
        "from": user,
        "chat_instance": str(message["chat"]["id"]),
        "data": data,
        "message": message,
    }
    return {"update_id": next(_update_ids), "callback_query": query}


def inline_query_update(
    user: JSONDict, query: str, offset: str = "", *, chat_type: str = "sender"
) -> JSONDict:
    """An inline query typed as "@botname query"."""
    inline = {
        "id": str(next(_query_ids)),
        "from": user,
        "query": query,
        "offset": offset,
        "chat_type": chat_type,
    }
    return {"update_id": next(_update_ids), "inline_query": inline}


def _chat_member(user: JSONDict, status: str, *, anonymous: bool = False) -> JSONDict:
    """A ChatMember with the fields PTB requires for each status."""
    member: JSONDict = {"user": user, "status": status}
    if status == "creator":
        member["is_anonymous"] = anonymous
    elif status == "administrator":
        member.update(
            dict.fromkeys(
                (
                    "can_be_edited",
                    "can_promote_members",
                    "can_post_stories",
                    "can_edit_stories",
                    "can_delete_stories",
                ),
                False,
            )
        )
        member.update(
            dict.fromkeys(
                (
                    "can_manage_chat",
                    "can_delete_messages",
                    "can_manage_video_chats",
                    "can_restrict_members",
                    "can_change_info",
                    "can_invite_users",
                    "can_post_messages",
                    "can_edit_messages",
                    "can_pin_messages",
                ),
                True,
            )
        )
        member["is_anonymous"] = anonymous
    elif status == "restricted":
        member.update(
            dict.fromkeys(
                (
                    "can_change_info",
                    "can_invite_users",
                    "can_pin_messages",
                    "can_send_messages",
                    "can_send_polls",
                    "can_send_other_messages",
                    "can_add_web_page_previews",
                    "can_manage_topics",
                    "can_send_audios",
                    "can_send_documents",
                    "can_send_photos",
                    "can_send_videos",
                    "can_send_video_notes",
                    "can_send_voice_notes",
                    "can_edit_tag",
                ),
                False,
            )
        )
        member.update(is_member=True, until_date=0, can_react_to_messages=True)
    elif status == "kicked":
        member["until_date"] = 0
    return member


def my_chat_member_update(
    chat: JSONDict, user: JSONDict, old_status: str, new_status: str, *, bot: JSONDict | None = None
) -> JSONDict:
    """The bot's own membership changed: added to a group ("left"->"member"), blocked ("member"->"kicked")."""
    bot_user = bot or DEFAULT_BOT_USER
    update = {
        "chat": chat,
        "from": user,
        "date": int(time.time()),
        "old_chat_member": _chat_member(bot_user, old_status),
        "new_chat_member": _chat_member(bot_user, new_status),
    }
    return {"update_id": next(_update_ids), "my_chat_member": update}
