"""The lean Bot API client: keep-alive reuse, every answer framing, errors and timeouts, split reads."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from bot.delivery import botapi
from bot.delivery.botapi import ApiError, BotApi, TransportError, _parse_response
from tests.conftest import TOKEN
from tests.fake_telegram import FakeBotAPI, Fault


async def test_sends_reuse_one_keep_alive_connection(telegram: FakeBotAPI) -> None:
    api = BotApi(f"{telegram.base_url}{TOKEN}")
    for chat_id in (11, 12, 13):
        body = json.dumps({"chat_id": chat_id, "text": "<b>Merhaba</b>", "parse_mode": "HTML"}).encode()
        result = await api.call("sendMessage", body)
        assert result["message_id"] >= 1
    assert [m.chat_id for m in telegram.sent] == [11, 12, 13]
    assert api.connections == 1, "one connection, kept alive"
    await api.close()
    assert api.connections == 0


async def test_error_answers_carry_what_the_sender_decides_by(telegram: FakeBotAPI) -> None:
    api = BotApi(f"{telegram.base_url}{TOKEN}")
    body = json.dumps({"chat_id": 5, "text": "x"}).encode()
    cases = [
        (Fault.retry_after(7), 429, 7.0, None),
        (Fault.migrated(-1001234), 400, None, -1001234),
        (Fault.forbidden("bot was blocked by the user"), 403, None, None),
        (Fault.server_error(), 500, None, None),
    ]
    for fault, status, retry_after, migrate in cases:
        telegram.fail_next("sendMessage", error=fault)
        with pytest.raises(ApiError) as caught:
            await api.call("sendMessage", body)
        assert (caught.value.status, caught.value.retry_after, caught.value.migrate_to_chat_id) == (
            status,
            retry_after,
            migrate,
        )
    wrong = BotApi(f"{telegram.base_url}999:wrong")
    with pytest.raises(ApiError) as caught:
        await wrong.call("sendMessage", body)
    assert caught.value.status == 401
    await api.close()
    await wrong.close()


async def test_no_answer_in_time_and_no_server_are_transport_errors(telegram: FakeBotAPI) -> None:
    api = BotApi(f"{telegram.base_url}{TOKEN}")
    telegram.fail_next("sendMessage", error=Fault.hang(5))
    with pytest.raises(TransportError, match="no answer"):
        await api.call("sendMessage", b'{"chat_id":1,"text":"x"}', timeout=0.2)
    assert api.connections == 0, "a timed-out connection is not reused"
    assert await api.call("getMe", b"{}"), "the next call opens a fresh connection"
    await api.close()
    refused = BotApi("http://127.0.0.1:9/bot1:x")
    with pytest.raises(TransportError, match="cannot connect"):
        await refused.call("getMe", b"{}")


async def test_the_slot_is_taken_with_a_connection_ready_and_nothing_written(telegram: FakeBotAPI) -> None:
    """A rate limiter's slot must be the last wait before the write: a connect after it sends late."""
    api = BotApi(f"{telegram.base_url}{TOKEN}")
    body = b'{"chat_id":7,"text":"x"}'
    seen: list[tuple[int, int]] = []

    async def slot() -> None:
        seen.append((api.connections, len(telegram.sent)))

    assert (await api.call("sendMessage", body, gate=slot))["message_id"] >= 1
    assert seen == [(1, 0)], "connected before the slot, written after it"

    class Refused(Exception):
        pass

    async def refuse() -> None:
        raise Refused

    with pytest.raises(Refused):
        await api.call("sendMessage", body, gate=refuse)
    assert len(telegram.sent) == 1, "a refused slot sends nothing"
    await api.call("sendMessage", body, gate=slot)
    assert (api.connections, len(telegram.sent)) == (1, 2), "the connection went back to the pool"
    await api.close()


ANSWER = b'{"ok":true,"result":{"message_id":9,"date":0,"chat":{"id":1,"type":"private"}}}'


@contextlib.asynccontextmanager
async def keep_alive_bot_api(
    port: int, **options: Any
) -> AsyncIterator[tuple[BotApi, list[asyncio.StreamWriter]]]:
    """A client and a Bot API that answers every request on connections it keeps open (listed in order)."""
    peers: list[asyncio.StreamWriter] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peers.append(writer)
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%b" % (len(ANSWER), ANSWER))

    server = await asyncio.start_server(serve, "127.0.0.1", port)
    api = BotApi(f"http://127.0.0.1:{port}/bot1:x", **options)
    try:
        yield api, peers
    finally:
        await api.close()
        server.close()
        await server.wait_closed()


async def test_a_send_cancelled_at_the_slot_gives_its_connection_back(unused_tcp_port: int) -> None:
    waiting = asyncio.Event()

    async def never() -> None:
        waiting.set()
        await asyncio.Event().wait()

    async with keep_alive_bot_api(unused_tcp_port) as (api, peers):
        send = asyncio.ensure_future(api.call("sendMessage", b"{}", gate=never))
        await waiting.wait()
        send.cancel()
        with pytest.raises(asyncio.CancelledError):
            await send
        assert await api.call("sendMessage", b"{}") == {"message_id": 9}
        assert (len(peers), api.connections) == (1, 1), "the cancelled send's connection carried the next"


async def test_only_max_waiting_sends_hold_a_connection_while_they_wait(unused_tcp_port: int) -> None:
    """A 30 msg/s broadcast's 128 senders mostly wait: only a few of them with a connection open."""
    opened = asyncio.Queue[asyncio.Event]()

    async def slot() -> None:  # the limiter's slot: granted when the test says so
        granted = asyncio.Event()
        opened.put_nowait(granted)
        await granted.wait()

    async with keep_alive_bot_api(unused_tcp_port, max_waiting=2) as (api, peers):
        sends = [asyncio.ensure_future(api.call("sendMessage", b"{}", gate=slot)) for _ in range(5)]
        first, second = await opened.get(), await opened.get()
        for _ in range(20):
            await asyncio.sleep(0)
        assert (opened.qsize(), api.connections) == (0, 2), "two wait at the slot, three without a connection"
        first.set()
        (await opened.get()).set()  # the next one takes its place at the slot
        second.set()
        for _ in range(2):
            (await opened.get()).set()
        assert [await send for send in sends] == [{"message_id": 9}] * 5
        assert len(peers) < 5, "each connection is the one of a send at its slot or just after it"


async def test_a_connection_idle_too_long_at_the_slot_is_replaced(
    unused_tcp_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server drops keep-alive connections idle too long: one that waited past IDLE_LIMIT is not used."""
    monkeypatch.setattr(botapi, "IDLE_LIMIT", 0.05)

    async def long_wait() -> None:
        await asyncio.sleep(0.1)

    async with keep_alive_bot_api(unused_tcp_port) as (api, peers):
        assert await api.call("sendMessage", b"{}", gate=long_wait) == {"message_id": 9}
        assert (len(peers), api.connections) == (2, 1), "a fresh connection, the stale one closed"


async def test_a_connection_closed_while_waiting_for_the_slot_is_replaced(unused_tcp_port: int) -> None:
    async with keep_alive_bot_api(unused_tcp_port) as (api, peers):
        assert await api.call("sendMessage", b"{}") == {"message_id": 9}

        async def slot_after_a_server_timeout() -> None:  # the server drops the idle connection meanwhile
            for writer in peers:
                writer.close()
                await writer.wait_closed()
            await asyncio.sleep(0.2)  # the client reads the FIN the kernel already holds

        assert await api.call("sendMessage", b"{}", gate=slot_after_a_server_timeout) == {"message_id": 9}
        assert (len(peers), api.connections) == (2, 1), "a fresh connection, the closed one forgotten"


async def test_chunked_and_closing_answers(unused_tcp_port: int) -> None:
    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(b'{"ok":true,')
        await response.write(b'"result":{"message_id":42}}')
        await response.write_eof()
        return response

    async def closing(request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "result": True}, headers={"Connection": "close"})

    app = web.Application()
    app.router.add_post("/bot1:x/chunked", chunked)
    app.router.add_post("/bot1:x/closing", closing)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", unused_tcp_port).start()
    try:
        api = BotApi(f"http://127.0.0.1:{unused_tcp_port}/bot1:x")
        assert await api.call("chunked", b"{}") == {"message_id": 42}
        assert await api.call("closing", b"{}") is True
        assert api.connections == 0, "the server said close"
        await api.close()
    finally:
        await runner.cleanup()


@pytest.fixture
def unused_tcp_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


BODY = b'{"ok":false,"error_code":429,"description":"Too Many Requests","parameters":{"retry_after":3}}'
RESPONSE = (
    b"HTTP/1.1 429 Too Many Requests\r\nServer: nginx\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(BODY), BODY)
)


@given(st.lists(st.integers(min_value=1, max_value=len(RESPONSE) - 1), unique=True, max_size=8))
def test_a_response_split_anywhere_parses_the_same(cuts: list[int]) -> None:
    buffer = bytearray()
    result = None
    bounds = [0, *sorted(cuts), len(RESPONSE)]
    for start, end in itertools.pairwise(bounds):
        assert result is None, "complete only after the last byte"
        buffer += RESPONSE[start:end]
        result = _parse_response(buffer)
    assert result is not None
    status, body, keep_alive, used = result
    assert (status, keep_alive, used) == (429, True, len(RESPONSE))
    assert json.loads(body)["parameters"] == {"retry_after": 3}


@given(st.binary(max_size=200))
def test_garbage_is_refused_or_incomplete_never_a_crash(data: bytes) -> None:
    with contextlib.suppress(ValueError):
        _parse_response(bytearray(data))


def test_client_needs_an_http_url() -> None:
    with pytest.raises(ValueError):
        BotApi("ftp://example.com/bot1:x")


@pytest.mark.parametrize("base", [f"http://localhost:8081{TOKEN}", f"http://[localhost:8081/bot{TOKEN}"])
def test_a_bad_url_is_refused_without_quoting_the_token(base: str) -> None:
    with pytest.raises(ValueError) as refused:
        BotApi(base)
    error: BaseException | None = refused.value
    while error is not None:  # nothing a traceback would print names the token
        assert TOKEN.split(":")[1] not in str(error), error
        error = error.__cause__ or error.__context__
