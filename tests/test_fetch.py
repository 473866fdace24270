"""Safe fetching against a local aiohttp server that misbehaves in the ways real news servers do."""

import asyncio
import gzip
import json
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.sources.fetch import USER_AGENT, FetchError, FetchResult, FetchTimeouts, fetch, open_session
from tests.conftest import LOCAL_SITES

BIG = 30_000_000
CHUNK = b"x" * 65536
ETAG = '"v1"'
LAST_MODIFIED = "Mon, 31 Jul 2023 10:00:00 GMT"
FEED = "<rss version='2.0'><channel><title>Gündem</title></channel></rss>".encode("cp1254")
# Only the timeout a test is about is short; the others are generous, so a busy machine trips none of them.
FAST = FetchTimeouts(connect=30, read=0.3, total=30)
PATIENT = FetchTimeouts(connect=30, read=30, total=30)
BIG_STATE = web.AppKey("big_state", dict)
BIG_DONE = web.AppKey("big_done", asyncio.Event)
RELEASE = web.AppKey("release", asyncio.Event)
LOOPED = web.AppKey("looped", list)


async def _ok(request: web.Request) -> web.StreamResponse:
    if request.headers.get("If-None-Match") == ETAG:
        return web.Response(status=304, headers={"ETag": ETAG})
    if request.headers.get("If-Modified-Since") == LAST_MODIFIED:
        return web.Response(status=304)
    return web.Response(
        body=FEED,
        headers={
            "Content-Type": "application/rss+xml; charset=windows-1254",
            "ETag": ETAG,
            "Last-Modified": LAST_MODIFIED,
        },
    )


async def _echo_headers(request: web.Request) -> web.Response:
    return web.json_response(dict(request.headers))


async def _status(request: web.Request) -> web.Response:
    return web.Response(status=int(request.match_info["code"]), text="nope")


async def _big(request: web.Request) -> web.StreamResponse:
    """Send 30 MB, announcing it or not, and record how much went out before the client hung up."""
    state = request.app[BIG_STATE]
    resp = web.StreamResponse(headers={"Content-Type": "text/html"})
    if request.match_info["mode"] == "announced":
        resp.content_length = BIG
    await resp.prepare(request)
    try:
        while state["sent"] < BIG:
            await resp.write(CHUNK)
            state["sent"] += len(CHUNK)
        state["completed"] = True
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        request.app[BIG_DONE].set()
    return resp


async def _gzip_bomb(request: web.Request) -> web.Response:
    body = gzip.compress(b"\0" * BIG)  # about 30 kB on the wire
    return web.Response(body=body, headers={"Content-Encoding": "gzip", "Content-Type": "text/html"})


async def _peer(request: web.Request) -> web.Response:
    assert request.transport is not None
    return web.Response(text=str(request.transport.get_extra_info("peername")[1]))


async def _hang(request: web.Request) -> web.Response:
    await request.app[RELEASE].wait()
    return web.Response(text="too late")


async def _trickle(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/html"})
    await resp.prepare(request)
    try:
        while not request.app[RELEASE].is_set():
            await resp.write(b"<")
            await asyncio.sleep(0.05)
    except (ConnectionError, asyncio.CancelledError):
        pass
    return resp


async def _redirect(request: web.Request) -> web.Response:
    n = int(request.match_info["n"])
    target = "/ok" if n <= 1 else f"/r/{n - 1}"  # /r/n takes n redirects
    raise web.HTTPFound(target)


async def _loop(request: web.Request) -> web.Response:
    request.app[LOOPED].append(request.path)
    raise web.HTTPMovedPermanently("/loop-b" if request.path == "/loop-a" else "/loop-a")


async def _to_ftp(request: web.Request) -> web.Response:
    raise web.HTTPFound("ftp://127.0.0.1/feed.xml")


async def _relative(request: web.Request) -> web.Response:
    raise web.HTTPSeeOther("ok")


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    app = web.Application()
    app[BIG_STATE] = {"sent": 0, "completed": False}
    app[BIG_DONE] = asyncio.Event()
    app[RELEASE] = asyncio.Event()
    app[LOOPED] = []
    app.router.add_get("/ok", _ok)
    app.router.add_get("/headers", _echo_headers)
    app.router.add_get("/status/{code}", _status)
    app.router.add_get("/big/{mode}", _big)
    app.router.add_get("/hang", _hang)
    app.router.add_get("/peer", _peer)
    app.router.add_get("/gzip-bomb", _gzip_bomb)
    app.router.add_get("/trickle", _trickle)
    app.router.add_get("/r/{n}", _redirect)
    app.router.add_get("/loop-a", _loop)
    app.router.add_get("/loop-b", _loop)
    app.router.add_get("/to-ftp", _to_ftp)
    app.router.add_get("/dir/relative", _relative)
    app.router.add_get("/dir/ok", _ok)
    srv = TestServer(app, host="127.0.0.1")
    await srv.start_server()
    try:
        yield srv
    finally:
        app[RELEASE].set()
        await srv.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with open_session(LOCAL_SITES) as s:
        yield s


def _url(server: TestServer, path: str) -> str:
    return str(server.make_url(path))


async def test_ok(server: TestServer, session: aiohttp.ClientSession) -> None:
    result = await fetch(session, _url(server, "/ok"))
    assert result == FetchResult(
        status=200,
        body=FEED,
        charset="windows-1254",
        content_type="application/rss+xml",
        etag=ETAG,
        last_modified=LAST_MODIFIED,
        url=_url(server, "/ok"),
    )


async def test_missing_content_type_is_none(session: aiohttp.ClientSession) -> None:
    # aiohttp.web always adds a Content-Type, so answer from a bare socket server.
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nraw")
        await writer.drain()
        writer.close()

    raw = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = raw.sockets[0].getsockname()[1]
    async with raw:
        result = await fetch(session, f"http://127.0.0.1:{port}/", timeout=PATIENT)
    assert (result.body, result.content_type, result.charset) == (b"raw", None, None)


async def test_sends_user_agent_and_conditional_headers(
    server: TestServer, session: aiohttp.ClientSession
) -> None:
    result = await fetch(session, _url(server, "/headers"), etag='"abc"', last_modified=LAST_MODIFIED)
    sent = json.loads(result.body)
    assert sent["User-Agent"] == USER_AGENT
    assert USER_AGENT.startswith("newsbot/0.1 (+https://")
    assert sent["If-None-Match"] == '"abc"'
    assert sent["If-Modified-Since"] == LAST_MODIFIED
    custom = await fetch(session, _url(server, "/headers"), user_agent="newsbot-test/1")
    assert b'"User-Agent": "newsbot-test/1"' in custom.body


async def test_304_with_etag_is_not_an_error(server: TestServer, session: aiohttp.ClientSession) -> None:
    first = await fetch(session, _url(server, "/ok"))
    second = await fetch(session, _url(server, "/ok"), etag=first.etag)
    assert second.status == 304
    assert second.body == b""
    assert second.etag == ETAG


async def test_304_with_last_modified(server: TestServer, session: aiohttp.ClientSession) -> None:
    result = await fetch(session, _url(server, "/ok"), last_modified=LAST_MODIFIED)
    assert (result.status, result.body) == (304, b"")


@pytest.mark.parametrize("code", [404, 410, 500, 503])
async def test_http_errors(server: TestServer, session: aiohttp.ClientSession, code: int) -> None:
    with pytest.raises(FetchError) as err:
        await fetch(session, _url(server, f"/status/{code}"))
    assert str(err.value) == f"HTTP {code}"
    assert err.value.status == code


@pytest.mark.parametrize("mode", ["announced", "chunked"])
async def test_30_mb_body_refused_without_reading_it_all(
    server: TestServer, session: aiohttp.ClientSession, mode: str
) -> None:
    with pytest.raises(FetchError, match=r"^body larger than 5 MB$"):
        await fetch(session, _url(server, f"/big/{mode}"), timeout=PATIENT)
    await asyncio.wait_for(server.app[BIG_DONE].wait(), 30)
    assert not server.app[BIG_STATE]["completed"]
    assert server.app[BIG_STATE]["sent"] < BIG


async def test_gzip_bomb_is_limited_after_decompression(
    server: TestServer, session: aiohttp.ClientSession
) -> None:
    with pytest.raises(FetchError, match=r"^body larger than 5 MB$"):
        await fetch(session, _url(server, "/gzip-bomb"))


async def test_connection_is_reused_after_a_full_read(
    server: TestServer, session: aiohttp.ClientSession
) -> None:
    first = await fetch(session, _url(server, "/peer"))
    second = await fetch(session, _url(server, "/peer"))
    assert first.body == second.body  # same client port: the keep-alive connection went back to the pool


async def test_small_limit_is_reported_in_kilobytes(
    server: TestServer, session: aiohttp.ClientSession
) -> None:
    with pytest.raises(FetchError, match=r"^body larger than 10 kB$"):
        await fetch(session, _url(server, "/big/chunked"), max_bytes=10_000)


async def test_hanging_server_hits_read_timeout(server: TestServer, session: aiohttp.ClientSession) -> None:
    with pytest.raises(FetchError, match=r"^timed out after 0.3 s$"):  # the read timeout, not the total
        await fetch(session, _url(server, "/hang"), timeout=FAST)


async def test_hanging_server_hits_total_deadline(server: TestServer, session: aiohttp.ClientSession) -> None:
    with pytest.raises(FetchError, match=r"^timed out after 0.5 s$"):  # the total, not the read timeout
        await fetch(session, _url(server, "/hang"), timeout=FetchTimeouts(connect=30, read=30, total=0.5))


async def test_slow_trickle_is_cut_by_total_deadline(
    server: TestServer, session: aiohttp.ClientSession
) -> None:
    # One byte every 50 ms never trips the 1 s read timeout; only the total deadline stops it.
    with pytest.raises(FetchError, match=r"^timed out after 1.5 s$"):
        await fetch(session, _url(server, "/trickle"), timeout=FetchTimeouts(connect=30, read=1, total=1.5))


async def test_follows_up_to_five_redirects(server: TestServer, session: aiohttp.ClientSession) -> None:
    result = await fetch(session, _url(server, "/r/5"))
    assert result.status == 200
    assert result.url == _url(server, "/ok")
    with pytest.raises(FetchError, match="too many redirects"):
        await fetch(session, _url(server, "/r/6"))


async def test_relative_redirect(server: TestServer, session: aiohttp.ClientSession) -> None:
    result = await fetch(session, _url(server, "/dir/relative"))
    assert result.url == _url(server, "/dir/ok")
    assert result.body == FEED


async def test_redirect_loop(server: TestServer, session: aiohttp.ClientSession) -> None:
    with pytest.raises(FetchError, match=r"^too many redirects \(more than 5\)$"):
        await fetch(session, _url(server, "/loop-a"), timeout=PATIENT)
    assert server.app[LOOPED] == ["/loop-a", "/loop-b"] * 3, "the first request and 5 redirects, no more"


async def test_redirect_to_other_scheme_refused(server: TestServer, session: aiohttp.ClientSession) -> None:
    with pytest.raises(FetchError, match="unsupported URL scheme 'ftp'"):
        await fetch(session, _url(server, "/to-ftp"))


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("file:///etc/passwd", "unsupported URL scheme 'file'"),
        ("ftp://127.0.0.1/feed", "unsupported URL scheme 'ftp'"),
        ("javascript:alert(1)", "unsupported URL scheme 'javascript'"),
        ("/relative/feed.xml", "unsupported URL scheme '(none)'"),
        ("http:///no-host", "invalid URL"),
    ],
)
async def test_only_http_and_https(session: aiohttp.ClientSession, url: str, reason: str) -> None:
    with pytest.raises(FetchError) as err:
        await fetch(session, url)
    assert str(err.value).startswith(reason)


async def test_connection_refused(session: aiohttp.ClientSession) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(FetchError, match=r"^connection refused$"):
        await fetch(session, f"http://127.0.0.1:{port}/feed.xml", timeout=PATIENT)
