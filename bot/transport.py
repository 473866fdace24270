"""PTB request backend on aiohttp, because HTTPXRequest is too slow for 1,000 msg/s paid broadcasts."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

from bot.logsafe import redact

_LOGGER = logging.getLogger(__name__)

_JSON_HEADERS = {"Content-Type": "application/json"}
# PTB passes this public sentinel for "use the request object's own timeout" (BaseRequest.DEFAULT_NONE).
_DEFAULT: Any = BaseRequest.DEFAULT_NONE


def _add(*parts: float | None) -> float | None:
    """Sum timeouts, where any None (= wait forever) makes the sum None, because a bound is then unknown."""
    total = 0.0
    for part in parts:
        if part is None:
            return None
        total += part
    return total


class AiohttpRequest(BaseRequest):
    """A :class:`telegram.request.BaseRequest` on aiohttp, because HTTPX caps us at ~170-400 msg/s on 2 cores.

    Timeouts follow PTB semantics (defaults 5 s each; note HTTPXRequest's pool default is 1 s, ours 5 s
    so a full pool during a broadcast waits instead of failing), mapped onto aiohttp's model:

    * ``pool_timeout`` + ``connect_timeout`` -> ``ClientTimeout.connect`` (aiohttp counts the wait for a
      free pooled connection *and* the TCP/TLS handshake there), ``connect_timeout`` ->
      ``ClientTimeout.sock_connect``.
    * ``read_timeout`` -> ``ClientTimeout.sock_read`` (longest silence while waiting for/reading the
      response). PTB passes ``read_timeout + timeout`` for ``getUpdates`` long polling, and every
      per-call value is honoured.
    * aiohttp has no write timeout, so for POST (Bot API calls, whose responses are small) the whole
      call is bounded by ``pool + connect + write + read``; GET (file downloads via ``retrieve``) is
      not bounded as a whole, only per read. Uploads use ``media_write_timeout`` (default 20 s) as
      the write part, like HTTPXRequest.

    All asyncio/aiohttp timeouts raise :class:`telegram.error.TimedOut`; other aiohttp/OS errors raise
    :class:`telegram.error.NetworkError` (with the bot token redacted from the message). Requests
    without files are sent as ``application/json`` (``RequestData.json_payload``), requests with files
    as ``multipart/form-data``. The aiohttp session is created in :meth:`initialize` (inside the
    running loop) and closed in :meth:`shutdown`. Only HTTP(S) proxies are supported.

    Benchmark (this 2-core box, ``python -m tests.test_transport serve PORT`` in one process
    and ``... bench PORT aiohttp|httpx`` in another: 4,000 ``send_message`` calls through a full
    ``telegram.Bot`` at concurrency 64 against the minimal local Bot API server of
    ``tests/test_transport.py``): AiohttpRequest **1,100-1,950 msg/s** over 8 runs (the box was shared
    with other benchmarks; typically ~1,200-1,800) vs HTTPXRequest 190-220 msg/s in the same runs.
    Through ExtBot + TelegramRateLimiter at concurrency 128, paid broadcasts ran at the 1,000/s cap
    (997 msg/s measured). Client-side, PTB's own ``Message.de_json`` now costs more CPU than the
    transport; real Telegram adds network latency, so keep >= 64 requests in flight for 1,000 msg/s.
    """

    __slots__ = (
        "_connect_timeout",
        "_media_write_timeout",
        "_pool_size",
        "_pool_timeout",
        "_proxy",
        "_read_timeout",
        "_session",
        "_write_timeout",
    )

    def __init__(
        self,
        connection_pool_size: int = 256,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 5.0,
        proxy: str | None = None,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        """Store settings only; initialize() builds the session because it must bind to the running loop."""
        if connection_pool_size < 1:
            raise ValueError("connection_pool_size must be >= 1")
        if proxy is not None and not proxy.lower().startswith(("http://", "https://")):
            raise ValueError("AiohttpRequest supports only http:// and https:// proxies")
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._proxy = proxy
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        """Default read timeout, which PTB's get_updates adds the long-poll timeout to."""
        return self._read_timeout

    @property
    def is_initialized(self) -> bool:
        """Whether a live session exists, so callers can tell if initialize() is still needed."""
        return self._session is not None and not self._session.closed

    async def initialize(self) -> None:
        """Create the pooled aiohttp session inside the running loop (idempotent)."""
        if self.is_initialized:
            return
        connector = aiohttp.TCPConnector(
            limit=self._pool_size,
            limit_per_host=0,
            ttl_dns_cache=300,
            keepalive_timeout=30,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers={"User-Agent": self.USER_AGENT},
            proxy=self._proxy,
            timeout=aiohttp.ClientTimeout(total=None),
        )

    async def shutdown(self) -> None:
        """Close the session and its connections so no sockets leak after the bot stops."""
        session, self._session = self._session, None
        if session is None or session.closed:
            _LOGGER.debug("This AiohttpRequest is already shut down. Returning.")
            return
        await session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: float | None = BaseRequest.DEFAULT_NONE,
        write_timeout: float | None = BaseRequest.DEFAULT_NONE,
        connect_timeout: float | None = BaseRequest.DEFAULT_NONE,
        pool_timeout: float | None = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Do one HTTP call and return (status, body); PTB's BaseRequest turns that into results/errors."""
        session = self._session
        if session is None or session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")

        has_files = request_data is not None and request_data.contains_files
        read = self._read_timeout if read_timeout is _DEFAULT else read_timeout
        connect = self._connect_timeout if connect_timeout is _DEFAULT else connect_timeout
        pool = self._pool_timeout if pool_timeout is _DEFAULT else pool_timeout
        if write_timeout is _DEFAULT:
            write = self._media_write_timeout if has_files else self._write_timeout
        else:
            write = write_timeout

        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=_add(pool, connect),
            sock_connect=connect,
            sock_read=read,
        )
        kwargs: dict[str, Any] = {"timeout": timeout}
        if request_data is not None:
            if has_files:
                form = aiohttp.FormData()
                for name, value in request_data.json_parameters.items():
                    form.add_field(name, value)
                for name, (filename, content, mimetype) in request_data.multipart_data.items():
                    form.add_field(name, content, filename=filename, content_type=mimetype)
                kwargs["data"] = form
            else:
                kwargs["data"] = request_data.json_payload
                kwargs["headers"] = _JSON_HEADERS

        overall = _add(pool, connect, write, read) if method == "POST" else None
        try:
            async with asyncio.timeout(overall):
                async with session.request(method, url, **kwargs) as response:
                    payload = await response.read()
                    return response.status, payload
        except TimeoutError as err:
            if isinstance(err, aiohttp.ConnectionTimeoutError):
                raise TimedOut(
                    "Connect/pool timeout: no connection could be obtained in time. "
                    "Consider a larger connection_pool_size or pool_timeout."
                ) from _untainted(err)
            raise TimedOut from _untainted(err)
        except (aiohttp.ClientError, OSError) as err:
            raise NetworkError(f"aiohttp.{err.__class__.__name__}: {redact(str(err))}") from _untainted(err)


def _untainted(err: BaseException) -> BaseException | None:
    """The cause to chain: aiohttp puts the request URL, token included, into some errors and their causes.

    An error whose chain names no token is kept as it is (its type tells a read timeout from a connect
    one); otherwise a copy of the same type with the text redacted and no chain, or nothing.
    """
    link: BaseException | None = err
    while link is not None:
        if redact(str(link)) != str(link):
            break
        link = link.__cause__ or link.__context__
    else:
        return err
    try:
        return type(err)(redact(str(err)))
    except Exception:  # an error type that wants other arguments
        return None
