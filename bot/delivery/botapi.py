"""A lean Bot API client for broadcast sends: keep-alive HTTP/1.1 on asyncio, JSON in, JSON out.

Why not python-telegram-bot for broadcasts: building PTB request and Message objects and aiohttp's client
cost about 1 ms of CPU per message, which at 1,000 msg/s is a whole core. A broadcast needs none of that:
its body is rendered once and only the chat id changes, and the answer needed is "ok, message id" or the
error. This client costs about 0.1 ms per call. Replies to readers still go through PTB (ExtBot) as usual;
both share the same rate limiter.

Only what the Bot API server speaks is supported: HTTP/1.1 POST with Content-Length or chunked answers, over
TCP or TLS, no proxy. A connection is used for one request at a time and kept alive for the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import ssl
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from bot.logsafe import redact

_SENT = re.compile(rb'\{\s*"ok"\s*:\s*true\s*,\s*"result"\s*:\s*\{\s*"message_id"\s*:\s*(\d+)\s*,')
IDLE_LIMIT = 30.0  # seconds an idle connection is reused; servers close idle keep-alive connections
SWEEP_INTERVAL = 0.25  # seconds between timeout checks: a timeout fires up to this much late


Gate = Callable[[], Awaitable[None]]


class ApiError(Exception):
    """An error answer of the Bot API, with what a sender needs to decide (retry, move, give up)."""

    def __init__(self, status: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {description}")
        self.status = status
        self.description = description
        parameters = parameters or {}
        self.retry_after: float | None = _number(parameters.get("retry_after"))
        migrate = parameters.get("migrate_to_chat_id")
        self.migrate_to_chat_id: int | None = int(migrate) if isinstance(migrate, int) else None


class TransportError(Exception):
    """No answer: connection refused or lost, timeout, or a reply that is not HTTP/JSON."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection: writes a request, parses one response, then is free again."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.used_at = 0.0
        self.deadline = float("inf")
        self._buffer = bytearray()
        self._waiter: asyncio.Future[tuple[int, bytes, bool]] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(TransportError(f"connection lost: {exc or 'closed by the server'}"))

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._waiter is None or self._waiter.done():
            return
        try:
            parsed = _parse_response(self._buffer)
        except ValueError as error:
            self._waiter.set_exception(TransportError(f"not an HTTP answer: {error}"))
            self.close()
            return
        if parsed is not None:
            status, body, keep_alive, used = parsed
            del self._buffer[:used]
            self._waiter.set_result((status, body, keep_alive))

    def request(self, payload: bytes, deadline: float) -> asyncio.Future[tuple[int, bytes, bool]]:
        """Send one request; BotApi's sweeper fails the future if no answer comes by `deadline`."""
        assert self.transport is not None
        self._buffer.clear()
        self.deadline = deadline
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(payload)
        return waiter

    def expire(self, now: float) -> None:
        """Fail the request in progress if its deadline has passed (one sweeper, not a timer per call)."""
        if now >= self.deadline and self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(TransportError("no answer in time"))
            self.close()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class BotApi:
    """POST Bot API methods over a pool of keep-alive connections (`base` is the URL before the method)."""

    def __init__(
        self,
        base: str,
        *,
        max_connections: int = 128,
        connect_timeout: float = 5.0,
        max_waiting: int | None = None,
    ) -> None:
        """`base` is like https://api.telegram.org/bot<token>; nothing connects until the first call.

        `max_waiting`: how many calls may hold a connection while they wait at their gate (the limiter's
        slot); the others wait for their turn without one, so a 30 msg/s broadcast keeps a few connections
        open, not one per sender.
        """
        try:  # `base` ends in the token: a bad port or host must not quote it in the error
            parts = urlsplit(base)
            host, port = parts.hostname, parts.port
        except ValueError:
            host = port = None
        if host is None or parts.scheme not in ("http", "https"):
            raise ValueError("the Bot API URL must be http(s)://host[:port]/...bot<token>") from None
        self._host = host
        self._port = port or (443 if parts.scheme == "https" else 80)
        self._ssl = ssl.create_default_context() if parts.scheme == "https" else None
        self._path = parts.path.rstrip("/")
        host_header = parts.netloc.rsplit("@", 1)[-1]
        self._head = f"Host: {host_header}\r\nContent-Type: application/json\r\nContent-Length: "
        self._host_header = host_header
        self._starts: dict[str, bytes] = {}
        self._idle: deque[_Connection] = deque()
        self._open = 0
        self._limit = asyncio.Semaphore(max_connections)
        self._waiting = asyncio.Semaphore(max_waiting) if max_waiting else None
        self._connect_timeout = connect_timeout
        self._busy: set[_Connection] = set()
        self._sweeper: asyncio.Task[None] | None = None

    async def call(
        self,
        method: str,
        body: bytes,
        timeout: float = 10.0,
        *,
        content_type: str | None = None,
        gate: Gate | None = None,
    ) -> Any:
        """Call `method` with a JSON body; the result on success, ApiError or TransportError otherwise.

        With another `content_type` (a multipart photo upload) the whole result is decoded, since the
        caller needs more than the message id (the photo's file_id). `gate`: see `post`.
        """
        status, answer = await self.post(method, body, timeout, content_type=content_type, gate=gate)
        if status == 200 and content_type is None:  # the common case, without decoding the whole message
            match = _SENT.match(answer)
            if match is not None:
                return {"message_id": int(match.group(1))}
        try:
            data = json.loads(answer)
        except ValueError:
            raise TransportError(f"HTTP {status} with a body that is not JSON") from None
        if not isinstance(data, dict):
            raise TransportError(f"HTTP {status} with an unexpected JSON body")
        if data.get("ok") is True:
            return data.get("result")
        raise ApiError(status, str(data.get("description") or f"HTTP {status}"), data.get("parameters"))

    async def post(
        self,
        method: str,
        body: bytes,
        timeout: float = 10.0,
        *,
        content_type: str | None = None,
        gate: Gate | None = None,
    ) -> tuple[int, bytes]:
        """One POST: (HTTP status, body). Raises TransportError when there is no answer in time.

        `gate` (the rate limiter's slot) is awaited once a connection is ready, right before the request
        is written: a slot granted first and followed by a connect would reach Telegram up to tens of
        milliseconds after it was counted, and squeeze the next window. If `gate` raises, nothing is sent
        and the connection stays open for the next call.
        """
        if content_type is None:  # a JSON call's request line and headers, encoded once per method
            start = self._starts.get(method)
            if start is None:
                start = self._starts[method] = f"POST {self._path}/{method} HTTP/1.1\r\n{self._head}".encode()
        else:
            start = (
                f"POST {self._path}/{method} HTTP/1.1\r\nHost: {self._host_header}\r\n"
                f"Content-Type: {content_type}\r\nContent-Length: "
            ).encode()
        request = b"%b%d\r\n\r\n%b" % (start, len(body), body)
        async with self._limit:
            loop = asyncio.get_running_loop()
            connection = await (self._take() if gate is None else self._ready(gate))
            now = loop.time()
            if self._sweeper is None or self._sweeper.done():
                self._sweeper = loop.create_task(self._sweep(), name="botapi-timeouts")
            self._busy.add(connection)
            try:
                status, answer, keep_alive = await connection.request(request, now + timeout)
            except TransportError as error:
                connection.close()
                if str(error) == "no answer in time":
                    raise TransportError(f"no answer to {method} within {timeout:g} s") from None
                raise
            except BaseException:
                connection.close()
                raise
            finally:
                self._busy.discard(connection)
                if connection.closed:
                    self._open -= 1
            if keep_alive and not connection.closed:
                connection.used_at = loop.time()
                self._idle.append(connection)
            elif not connection.closed:
                connection.close()
                self._open -= 1
            return status, answer

    async def _ready(self, gate: Gate) -> _Connection:
        """A connection that has passed `gate`: taken once it is this call's turn to wait there."""
        async with self._waiting or contextlib.nullcontext():
            return await self._through(gate, await self._take())

    async def _through(self, gate: Gate, connection: _Connection) -> _Connection:
        """Wait at `gate` holding `connection`; a fresh one if the server closed it meanwhile.

        A connection idle past IDLE_LIMIT by then (a group's minute, a 429's pause) is replaced too, before
        the server drops it mid-request, by an idle one if there is one; only then may a send connect after
        its grant.
        """
        try:
            await gate()
        except BaseException:
            if connection.closed:
                self._open -= 1
            else:
                self._idle.append(connection)  # its age is still that of its last request
            raise
        if not connection.closed and asyncio.get_running_loop().time() - connection.used_at >= IDLE_LIMIT:
            connection.close()
        if connection.closed:
            self._open -= 1
            connection = await self._take()
        return connection

    async def _take(self) -> _Connection:
        """An idle connection still worth reusing, else a new one."""
        return self._idle_connection(asyncio.get_running_loop().time()) or await self._connect()

    def _idle_connection(self, now: float) -> _Connection | None:
        """The most recently used idle connection still worth reusing, or None."""
        while self._idle:
            connection = self._idle.pop()
            if not connection.closed and now - connection.used_at < IDLE_LIMIT:
                return connection
            if not connection.closed:
                connection.close()
            self._open -= 1
        return None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _, connection = await asyncio.wait_for(
                loop.create_connection(_Connection, self._host, self._port, ssl=self._ssl),
                self._connect_timeout,
            )
        except (OSError, TimeoutError) as error:
            raise TransportError(redact(f"cannot connect to the Bot API: {error}")) from None
        self._open += 1
        connection.used_at = loop.time()  # its idle age counts from now until its first request
        return connection

    async def _sweep(self) -> None:
        """Fail calls past their deadline, four times a second, while any call is in progress."""
        loop = asyncio.get_running_loop()
        while self._busy:
            await asyncio.sleep(SWEEP_INTERVAL)
            now = loop.time()
            for connection in list(self._busy):
                connection.expire(now)

    async def close(self) -> None:
        """Close idle connections (calls in flight finish on theirs); a later call opens new ones."""
        if self._sweeper is not None and not self._busy:
            self._sweeper.cancel()
        while self._idle:
            self._idle.pop().close()
            self._open -= 1

    @property
    def connections(self) -> int:
        """Open connections, for tests and stats."""
        return self._open


def _parse_response(buffer: bytearray) -> tuple[int, bytes, bool, int] | None:
    """(status, body, keep-alive, bytes used) once `buffer` holds a whole response, else None."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        if len(buffer) > 65536:
            raise ValueError("headers too long")
        return None
    head = bytes(buffer[:end]).lower()
    if not head.startswith(b"http/1.") or len(head) < 12 or not head[9:12].isdigit():
        raise ValueError(repr(head[:40]))
    status = int(head[9:12])
    keep_alive = not head.startswith(b"http/1.0") and b"\r\nconnection: close" not in head
    start = end + 4
    if b"\r\ntransfer-encoding: chunked" in head:
        body, used = _dechunk(buffer, start)
        if body is None:
            return None
        return status, body, keep_alive, used
    at = head.find(b"\r\ncontent-length:")
    if at < 0:
        raise ValueError("no content length")
    line_end = head.find(b"\r\n", at + 2)
    length_text = head[at + 17 : line_end if line_end >= 0 else None].strip()
    if not length_text.isdigit():
        raise ValueError("bad content length")
    length = int(length_text)
    if len(buffer) < start + length:
        return None
    return status, bytes(buffer[start : start + length]), keep_alive, start + length


def _dechunk(buffer: bytearray, start: int) -> tuple[bytes | None, int]:
    body = bytearray()
    position = start
    while True:
        line_end = buffer.find(b"\r\n", position)
        if line_end < 0:
            return None, 0
        size = int(bytes(buffer[position:line_end]).split(b";")[0].strip() or b"0", 16)
        position = line_end + 2
        if size == 0:
            trailer_end = buffer.find(b"\r\n", position)
            if trailer_end < 0:
                return None, 0
            return bytes(body), trailer_end + 2
        if len(buffer) < position + size + 2:
            return None, 0
        body += buffer[position : position + size]
        position += size + 2


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
