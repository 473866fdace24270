"""Bounded, guarded HTTP fetching for feeds and pages: one bad server cannot stall or flood the bot, and
no feed can make the bot fetch (and publish) a page from the operator's own network."""

from __future__ import annotations

import asyncio
import errno
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp.abc import AbstractResolver
from aiohttp.connector import Connection
from yarl import URL

from bot.sources.addresses import FetchAllow, parse_address

if TYPE_CHECKING:
    from aiohttp.abc import ResolveResult  # a TypedDict, only in newer aiohttp; a plain dict at run time

__all__ = [
    "USER_AGENT",
    "AddressRefused",
    "FetchError",
    "FetchResult",
    "FetchTimeouts",
    "GuardedConnector",
    "GuardedResolver",
    "fetch",
    "open_session",
]

USER_AGENT = "newsbot/0.1 (+https://github.com/newsbot/newsbot)"
DEFAULT_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, application/xml;q=0.9, "
    "text/xml;q=0.9, text/html;q=0.8, */*;q=0.5"
)
MAX_REDIRECTS = 5
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_SCHEMES = frozenset({"http", "https"})
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class FetchTimeouts:
    """Seconds allowed to connect, to wait for any data, and for the whole fetch including redirects."""

    connect: float = 5
    read: float = 10
    total: float = 20


@dataclass
class FetchResult:
    """A successful (2xx) or not-modified (304) response; body is empty for 304."""

    status: int
    body: bytes
    charset: str | None
    content_type: str | None
    etag: str | None
    last_modified: str | None
    url: str


class FetchError(Exception):
    """A fetch that produced no usable response; str(error) is a short reason fit for an admin."""

    def __init__(self, reason: str, *, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class AddressRefused(OSError):
    """A connection the address guard refused; str() is the short reason ("refused: ... private address")."""

    def __init__(self, reason: str) -> None:
        super().__init__(errno.EACCES, reason)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


class GuardedResolver(AbstractResolver):
    """Resolves names like the system does, then drops every address a content fetch may not reach."""

    def __init__(self, allow: FetchAllow, inner: AbstractResolver | None = None) -> None:
        self.allow = allow
        self._inner = inner or aiohttp.ThreadedResolver()  # getaddrinfo: /etc/hosts and the system's DNS

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """The name's addresses that pass the guard; AddressRefused when none does."""
        found = await self._inner.resolve(host, port, family)
        if self.allow.allows_host(host):
            return found
        kept: list[ResolveResult] = []
        refusals: list[str] = []
        for result in found:
            address = parse_address(result["host"])
            reason = "not an IP address" if address is None else self.allow.refusal(address)
            if reason is None:
                kept.append(result)
            else:
                refusals.append(f"{result['host']}, {reason}")
        if refusals and not kept:
            raise AddressRefused(f"refused: {host} resolves to {refusals[0]}")
        if not kept:
            raise OSError(errno.EADDRNOTAVAIL, f"{host} has no address")
        # A name that also has public addresses just loses its private ones, so a rebinding or
        # split-horizon name can only ever reach a public one.
        return kept

    async def close(self) -> None:
        """Release the wrapped resolver."""
        await self._inner.close()


def _literal_refusal(host: str | None, allow: FetchAllow) -> str | None:
    """Check a URL whose host is an IP address: aiohttp connects to it directly, skipping the resolver."""
    if not host:
        return None
    address = parse_address(host)
    if address is None:
        # aiohttp treats anything with a colon or made of digits and dots as an address; one that
        # ipaddress cannot read (127.1, 2130706433) is refused rather than left to interpretation.
        if ":" in host or host.replace(".", "").isdigit():
            return f"refused: {host} is not a canonical IP address"
        return None  # a name: the resolver checks what it resolves to
    reason = allow.refusal(address)
    return None if reason is None else f"refused: {host} is {reason}"


class GuardedConnector(aiohttp.TCPConnector):
    """The connector of the content session: every connection goes to an address the guard permits."""

    def __init__(self, allow: FetchAllow, *, resolver: AbstractResolver | None = None, **kwargs: Any) -> None:
        super().__init__(resolver=GuardedResolver(allow, resolver), **kwargs)
        self.allow = allow

    async def connect(self, req: aiohttp.ClientRequest, *args: Any, **kwargs: Any) -> Connection:
        """Refuse an IP-literal host before the pool or a socket is touched; names go through the resolver."""
        reason = _literal_refusal(req.url.raw_host, self.allow)
        if reason is not None:
            raise aiohttp.ClientConnectorError(req.connection_key, AddressRefused(reason))
        return await super().connect(req, *args, **kwargs)


def open_session(
    allow: FetchAllow, *, limit: int = 100, resolver: AbstractResolver | None = None
) -> aiohttp.ClientSession:
    """The HTTP client for content (feeds, pages, imports); `resolver` replaces the system DNS in tests."""
    return aiohttp.ClientSession(connector=GuardedConnector(allow, resolver=resolver, limit=limit))


def _seconds(value: float) -> str:
    """Format a timeout for humans: 10 -> "10 s", 0.5 -> "0.5 s"."""
    return f"{value:g} s"


def _size(value: int) -> str:
    """Format a byte limit for humans: 5_000_000 -> "5 MB"."""
    if value >= 1_000_000:
        return f"{value / 1_000_000:g} MB"
    if value >= 1_000:
        return f"{value / 1_000:g} kB"
    return f"{value} bytes"


def _checked_url(url: str | URL) -> URL:
    """Parse a URL and refuse anything but absolute http(s), so feeds cannot point at file: or ftp:."""
    try:
        parsed = url if isinstance(url, URL) else URL(url)
    except (ValueError, TypeError) as exc:
        raise FetchError("invalid URL") from exc
    if parsed.scheme.lower() not in _SCHEMES:
        raise FetchError(f"unsupported URL scheme {parsed.scheme or '(none)'!r}")
    if not parsed.host:
        raise FetchError("invalid URL: no host")
    return parsed


async def _read_body(resp: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    """Read the body in chunks and stop as soon as it exceeds max_bytes."""
    too_big = FetchError(f"body larger than {_size(max_bytes)}", status=resp.status)
    if resp.content_length is not None and resp.content_length > max_bytes:
        raise too_big
    chunks: list[bytes] = []
    received = 0
    async for chunk in resp.content.iter_chunked(_CHUNK):
        received += len(chunk)
        if received > max_bytes:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


def _result(resp: aiohttp.ClientResponse, body: bytes) -> FetchResult:
    """Collect what callers need from a response for parsing and the next conditional request."""
    has_type = aiohttp.hdrs.CONTENT_TYPE in resp.headers
    return FetchResult(
        status=resp.status,
        body=body,
        charset=resp.charset if has_type else None,
        content_type=resp.content_type if has_type else None,
        etag=resp.headers.get(aiohttp.hdrs.ETAG),
        last_modified=resp.headers.get(aiohttp.hdrs.LAST_MODIFIED),
        url=str(resp.url),
    )


async def _follow(
    session: aiohttp.ClientSession,
    url: URL,
    headers: dict[str, str],
    max_bytes: int,
    client_timeout: aiohttp.ClientTimeout,
    max_redirects: int,
) -> FetchResult:
    """GET the URL, following redirects by hand so every hop is scheme-checked and counted."""
    for _hop in range(max_redirects + 1):
        resp = await session.get(
            url, headers=headers, allow_redirects=False, timeout=client_timeout, raise_for_status=False
        )
        finished = False  # only a fully read response may go back to the connection pool
        try:
            if resp.status in _REDIRECT_STATUSES:
                location = resp.headers.get(aiohttp.hdrs.LOCATION)
                if not location:
                    raise FetchError(f"HTTP {resp.status} redirect without Location", status=resp.status)
                try:
                    url = _checked_url(url.join(URL(location)))
                except ValueError as exc:
                    raise FetchError("invalid redirect Location", status=resp.status) from exc
                continue
            if resp.status == 304:
                finished = True
                return _result(resp, b"")
            if not 200 <= resp.status < 300:
                raise FetchError(f"HTTP {resp.status}", status=resp.status)
            body = await _read_body(resp, max_bytes)
            finished = True
            return _result(resp, body)
        finally:
            if finished:
                resp.release()
            else:
                resp.close()  # never drain an unread, oversized or trickling body
    raise FetchError(f"too many redirects (more than {max_redirects})")


def _connect_reason(exc: aiohttp.ClientConnectorError) -> str:
    """Name the connection failure the way an admin would search for it."""
    if isinstance(exc.os_error, AddressRefused):
        return exc.os_error.reason
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return "TLS certificate verification failed"
    if isinstance(exc, aiohttp.ClientSSLError):
        return "TLS handshake failed"
    dns_error = getattr(aiohttp, "ClientConnectorDNSError", None)
    if dns_error is not None and isinstance(exc, dns_error):
        return f"DNS lookup failed for {exc.host}"
    os_error = exc.os_error
    if os_error.errno == errno.ECONNREFUSED or isinstance(os_error, ConnectionRefusedError):
        return "connection refused"
    if os_error.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return "host unreachable"
    return f"connection failed: {os_error.strerror or os_error}"


async def fetch(
    session: aiohttp.ClientSession,
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    max_bytes: int = 5_000_000,
    timeout: FetchTimeouts = FetchTimeouts(),  # frozen, so a shared default is safe
    max_redirects: int = MAX_REDIRECTS,
    user_agent: str = USER_AGENT,
    accept: str = DEFAULT_ACCEPT,
) -> FetchResult:
    """Fetch a feed or page conditionally, within a size cap and a hard deadline; raises FetchError."""
    if not isinstance(session.connector, GuardedConnector):
        raise TypeError("content fetches need the guarded session from open_session()")
    start = _checked_url(url)
    headers = {aiohttp.hdrs.USER_AGENT: user_agent, aiohttp.hdrs.ACCEPT: accept}
    if etag:
        headers[aiohttp.hdrs.IF_NONE_MATCH] = etag
    if last_modified:
        headers[aiohttp.hdrs.IF_MODIFIED_SINCE] = last_modified
    client_timeout = aiohttp.ClientTimeout(total=None, sock_connect=timeout.connect, sock_read=timeout.read)
    connect_timeout = getattr(aiohttp, "ConnectionTimeoutError", ())
    try:
        # The total deadline lives outside aiohttp so a server trickling one byte at a time
        # (which keeps resetting sock_read) is still cut off.
        async with asyncio.timeout(timeout.total):
            return await _follow(session, start, headers, max_bytes, client_timeout, max_redirects)
    except FetchError:
        raise
    except connect_timeout as exc:
        raise FetchError(f"connection timed out after {_seconds(timeout.connect)}") from exc
    except aiohttp.ServerTimeoutError as exc:
        raise FetchError(f"timed out after {_seconds(timeout.read)}") from exc
    except TimeoutError as exc:
        raise FetchError(f"timed out after {_seconds(timeout.total)}") from exc
    except aiohttp.ClientConnectorError as exc:
        raise FetchError(_connect_reason(exc)) from exc
    except aiohttp.ServerDisconnectedError as exc:
        raise FetchError("server closed the connection") from exc
    except aiohttp.ClientPayloadError as exc:
        raise FetchError("incomplete or corrupt body") from exc
    except aiohttp.InvalidURL as exc:
        raise FetchError("invalid URL") from exc
    except aiohttp.ClientResponseError as exc:
        raise FetchError(f"bad HTTP response: {exc.message}"[:200], status=exc.status or None) from exc
    except aiohttp.ClientError as exc:
        raise FetchError(f"request failed: {type(exc).__name__}") from exc
