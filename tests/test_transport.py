"""AiohttpRequest against a tiny local Bot API, because transport bugs only show up on a real socket."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import ServerTimeoutError, web
from telegram import Bot
from telegram.error import BadRequest, NetworkError, RetryAfter, TimedOut
from telegram.request import HTTPXRequest

from bot.delivery.ratelimit import retry_after_seconds
from bot.transport import AiohttpRequest

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawX"

pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning")

SEEN = web.AppKey("seen", list)
POLL_HOLD = 1.0  # seconds the fake holds a long poll (at most its timeout): longer than the 0.3 s default
CHAT_FLOOD = 429
CHAT_BAD = 400
CHAT_HANG = 999


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _message(message_id: int, chat_id: int, **extra: Any) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "date": int(time.time()),
        "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup", "first_name": "Ayşe"},
        **extra,
    }


def make_app() -> web.Application:
    """Minimal Bot API: getMe, getUpdates (long poll), sendMessage (+error chats), sendPhoto."""
    app = web.Application()
    app[SEEN] = []
    counter = iter(range(1, 10**9))

    async def handle(request: web.Request) -> web.Response:
        token, method = request.match_info["token"], request.match_info["method"]
        if token != TOKEN:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        ctype = request.content_type
        if ctype == "application/json":
            params: dict[str, Any] = await request.json() if request.can_read_body else {}
        elif ctype == "multipart/form-data":
            params = {}
            reader = await request.multipart()
            async for part in reader:
                params[part.name] = (part.filename, await part.read()) if part.filename else await part.text()
        elif ctype == "application/x-www-form-urlencoded":  # what HTTPXRequest sends
            params = dict(await request.post())
        else:
            params = {}
        app[SEEN].append((method, ctype, params))

        if method == "getMe":
            return _ok({"id": 123456789, "is_bot": True, "first_name": "News", "username": "news_bot"})
        if method == "getUpdates":
            await asyncio.sleep(min(float(params.get("timeout", 0)), POLL_HOLD))
            return _ok([])
        if method == "sendMessage":
            chat_id = int(params["chat_id"])
            if chat_id == CHAT_FLOOD:
                return web.json_response(
                    {
                        "ok": False,
                        "error_code": 429,
                        "description": "Too Many Requests: retry after 7",
                        "parameters": {"retry_after": 7},
                    },
                    status=429,
                )
            if chat_id == CHAT_BAD:
                return web.json_response(
                    {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}, status=400
                )
            if chat_id == CHAT_HANG:
                await asyncio.sleep(3600)
            return _ok(_message(next(counter), chat_id, text=params["text"]))
        if method == "sendPhoto":
            filename, content = params["photo"]
            photo = {"file_id": f"f{len(content)}", "file_unique_id": filename, "width": 1, "height": 1}
            return _ok(
                _message(next(counter), int(params["chat_id"]), photo=[photo], caption=params.get("caption"))
            )
        return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)

    app.router.add_post("/bot{token}/{method}", handle)
    return app


async def start_server(app: web.Application, port: int = 0) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    return runner, runner.addresses[0][1]


@pytest.fixture
async def server() -> AsyncIterator[tuple[web.Application, int]]:
    app = make_app()
    runner, port = await start_server(app)
    yield app, port
    await runner.cleanup()


def make_bot(port: int, **request_kwargs: Any) -> Bot:
    return Bot(
        TOKEN,
        base_url=f"http://127.0.0.1:{port}/bot",
        request=AiohttpRequest(**request_kwargs),
        get_updates_request=AiohttpRequest(**request_kwargs),
    )


async def test_get_me_and_send_message(server: tuple[web.Application, int]) -> None:
    app, port = server
    async with make_bot(port) as bot:
        me = await bot.get_me()
        assert me.username == "news_bot"
        msg = await bot.send_message(42, "Merhaba İstanbul ☀")
        assert msg.chat.id == 42
        assert msg.text == "Merhaba İstanbul ☀"
    method, ctype, params = app[SEEN][-1]
    assert (method, ctype) == ("sendMessage", "application/json")
    assert params == {"chat_id": "42", "text": "Merhaba İstanbul ☀"}


async def test_files_go_multipart(server: tuple[web.Application, int]) -> None:
    app, port = server
    async with make_bot(port) as bot:
        msg = await bot.send_photo(7, photo=b"\x89PNG fake", caption="hava", filename="w.png")
    assert msg.photo[0].file_unique_id == "w.png"
    method, ctype, params = app[SEEN][-1]
    assert (method, ctype) == ("sendPhoto", "multipart/form-data")
    assert params["photo"] == ("w.png", b"\x89PNG fake")
    assert params["caption"] == "hava"


async def test_error_mapping(server: tuple[web.Application, int]) -> None:
    _, port = server
    async with make_bot(port, read_timeout=0.3) as bot:
        with pytest.raises(RetryAfter) as flood:
            await bot.send_message(CHAT_FLOOD, "x")
        assert retry_after_seconds(flood.value) == 7
        with pytest.raises(BadRequest, match=r"(?i)chat not found"):
            await bot.send_message(CHAT_BAD, "x")
        with pytest.raises(TimedOut) as hung:
            await asyncio.wait_for(bot.send_message(CHAT_HANG, "x"), 60)  # the server holds it for an hour
        assert isinstance(hung.value.__cause__, ServerTimeoutError), "the read timeout, not the overall one"
    async with make_bot(port, read_timeout=None) as patient:
        # a per-call timeout overrides the default, here "wait forever"
        with pytest.raises(TimedOut) as hung:
            await asyncio.wait_for(patient.send_message(CHAT_HANG, "x", read_timeout=0.1), 60)
        assert isinstance(hung.value.__cause__, ServerTimeoutError)


def chain(error: BaseException | None) -> str:
    """Every message and repr along an exception's causes and contexts, as a traceback would show them."""
    parts = []
    while error is not None:
        parts += [str(error), repr(error), *map(str, error.args)]
        error = error.__cause__ or error.__context__
    return "\n".join(parts)


async def test_a_url_error_carries_no_token_in_its_chain() -> None:
    """A base URL without /bot puts the token into the port: aiohttp quotes the whole URL in its error."""
    secret = TOKEN.split(":")[1]
    request = AiohttpRequest()
    await request.initialize()
    try:
        with pytest.raises(NetworkError) as failed:
            await request.post(f"http://localhost:8081{TOKEN}/getMe")
    finally:
        await request.shutdown()
    assert "InvalidUrlClientError" in str(failed.value)
    assert secret not in chain(failed.value), "a traceback of this error would print the token"


async def test_long_poll_honours_per_call_read_timeout(server: tuple[web.Application, int]) -> None:
    _, port = server
    async with make_bot(port, read_timeout=0.3) as bot:
        # PTB passes read_timeout + timeout (0.3 + 10) for getUpdates; the server holds the poll 1 s,
        # longer than the default read timeout alone.
        assert await bot.get_updates(timeout=10) == ()


async def test_connection_refused_is_network_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    request = AiohttpRequest(connect_timeout=1)
    bot = Bot(TOKEN, base_url=f"http://127.0.0.1:{port}/bot", request=request)
    await request.initialize()
    try:
        with pytest.raises(NetworkError) as err:
            await bot.get_me()
        assert not isinstance(err.value, TimedOut)
        assert TOKEN not in str(err.value)
    finally:
        await request.shutdown()


async def test_lifecycle() -> None:
    request = AiohttpRequest(read_timeout=None)
    assert request.read_timeout is None
    assert AiohttpRequest().read_timeout == 5.0
    assert not request.is_initialized
    with pytest.raises(RuntimeError, match="not initialized"):
        await request.do_request("http://127.0.0.1:1/", "POST")
    await request.initialize()
    session = request._session
    await request.initialize()
    assert request._session is session  # idempotent
    await request.shutdown()
    assert session is not None and session.closed
    assert not request.is_initialized
    await request.shutdown()  # twice is fine
    with pytest.raises(ValueError):
        AiohttpRequest(proxy="socks5://127.0.0.1:1080")


async def _throughput(bot: Bot, total: int, concurrency: int) -> float:
    queue = iter(range(total))

    async def worker() -> None:
        for i in queue:
            await bot.send_message(1000 + i % 500, "bench")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total / (time.perf_counter() - started)


@pytest.mark.skipif(not os.environ.get("NEWSBOT_BENCH"), reason="set NEWSBOT_BENCH=1 to run the benchmark")
async def test_benchmark_in_process(server: tuple[web.Application, int]) -> None:
    """Client and server share one loop here, so this under-reports; see main() for the real number."""
    _, port = server
    async with make_bot(port) as bot:
        rate = await _throughput(bot, 2000, 64)
    print(f"\nAiohttpRequest in-process: {rate:.0f} msg/s at concurrency 64")


async def _bench_client(port: int, backend: str, total: int = 4000, concurrency: int = 64) -> None:
    if backend == "httpx":
        bot = Bot(
            TOKEN, base_url=f"http://127.0.0.1:{port}/bot", request=HTTPXRequest(connection_pool_size=256)
        )
    else:
        bot = make_bot(port)
    async with bot:
        await _throughput(bot, 500, concurrency)  # warm up the pool
        rate = await _throughput(bot, total, concurrency)
    print(f"{backend}: {rate:.0f} msg/s at concurrency {concurrency}")


async def _serve(port: int) -> None:
    await start_server(make_app(), port)
    await asyncio.Event().wait()


def main(argv: list[str]) -> None:
    """`python -m tests.test_transport serve PORT` / `bench PORT aiohttp|httpx`: docstring benchmark."""
    if argv[0] == "serve":
        asyncio.run(_serve(int(argv[1])))
    else:
        asyncio.run(_bench_client(int(argv[1]), argv[2]))


if __name__ == "__main__":
    main(sys.argv[1:])


def test_ptb_still_signals_default_timeouts_with_the_public_sentinel() -> None:
    """bot/transport.py reads BaseRequest.DEFAULT_NONE as "use your own timeout": fail loudly on change."""
    import inspect

    from telegram.request import BaseRequest

    for method in (BaseRequest.post, BaseRequest.retrieve, BaseRequest.do_request):
        for name in ("read_timeout", "write_timeout", "connect_timeout", "pool_timeout"):
            default = inspect.signature(method).parameters[name].default
            assert default is BaseRequest.DEFAULT_NONE, (method, name)
