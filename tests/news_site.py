"""A local news site for ingestion tests and benchmarks: feeds, article pages and misbehaving servers."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime
from email.utils import format_datetime
from xml.sax.saxutils import escape

from aiohttp import web
from aiohttp.test_utils import TestServer

_PROVINCES = "Adana Adıyaman Afyon Ağrı Aksaray Amasya Ankara Antalya Ardahan Artvin Aydın Balıkesir"


@dataclass
class Item:
    """One feed item; any of guid, link and published may be missing, as in real feeds."""

    title: str
    link: str | None = None
    guid: str | None = None
    summary: str = ""
    published: datetime | None = None


def rss(
    items: list[Item], *, title: str = "Gündem", encoding: str = "utf-8", language: str | None = None
) -> bytes:
    """An RSS 2.0 document in the given encoding, with a <language> when given."""
    parts = [f'<?xml version="1.0" encoding="{encoding}"?>\n<rss version="2.0"><channel>']
    parts.append(
        f"<title>{escape(title)}</title><link>https://site.example/</link><description>d</description>"
    )
    if language is not None:
        parts.append(f"<language>{escape(language)}</language>")
    for item in items:
        parts.append("<item>")
        parts.append(f"<title>{escape(item.title)}</title>")
        if item.link:
            parts.append(f"<link>{escape(item.link)}</link>")
        if item.guid:
            parts.append(f'<guid isPermaLink="false">{escape(item.guid)}</guid>')
        if item.summary:
            parts.append(f"<description>{escape(item.summary)}</description>")
        if item.published:
            parts.append(f"<pubDate>{format_datetime(item.published)}</pubDate>")
        parts.append("</item>")
    parts.append("</channel></rss>")
    return "".join(parts).encode(encoding)


def article_page(
    title: str, paragraphs: list[str], published: date, *, layout: str = "semantic", lang: str | None = None
) -> str:
    """An article page with the outlet's furniture (menu, province widget, share line, footer)."""
    day = f"{published.day} {published.strftime('%B')}, {published.year}"
    text = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    widget = "".join(f"<div class='city-item'>{name}</div>" for name in _PROVINCES.split())
    if layout == "semantic":
        main = (
            f"<article><header><h1>{escape(title)}</h1><p><time datetime='{published.isoformat()}'>{day}"
            f"</time></p></header><div class='news-text'>{text}</div></article>"
        )
    else:
        main = (
            f"<div class='news'><div class='news-title'>{escape(title)}</div>"
            f"<div class='news-date'>{day}</div><div class='news-body'>{text}</div></div>"
        )
    html = "<html>" if lang is None else f"<html lang='{escape(lang)}'>"
    return (
        f"{html}<head><meta charset='utf-8'><title>{escape(title)} - Site</title></head><body>"
        "<div class='menu'><a href='/'>Home</a> <a href='/politics'>Politics</a></div>"
        f"<div class='weather'>{widget}<div>Adana 31 °C</div></div>{main}"
        "<div class='share'>Be the first to recommend it among your friends</div>"
        "<footer>© Site. All rights reserved. Contact us.</footer></body></html>"
    )


@dataclass
class Resource:
    """What one path answers: a body with a type, a status, or a misbehaviour."""

    body: bytes = b""
    content_type: str = "application/rss+xml; charset=utf-8"
    status: int = 200
    behaviour: str | None = None  # hang | big | trickle
    location: str | None = None  # where a redirect points


@dataclass
class SeenRequest:
    """A request the site answered, with the status it answered."""

    path: str
    headers: dict[str, str]
    status: int = 0


@dataclass
class NewsSite:
    """An aiohttp server on 127.0.0.1 (or another loopback address) whose feeds and pages tests change."""

    resources: dict[str, Resource] = field(default_factory=dict)
    requests: list[SeenRequest] = field(default_factory=list)
    big_size: int = 30_000_000
    host: str = "127.0.0.1"

    async def __aenter__(self) -> NewsSite:
        self._release = asyncio.Event()
        app = web.Application()
        app.router.add_get("/{path:.*}", self._handle)
        self.server = TestServer(app, host=self.host)
        await self.server.start_server()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._release.set()
        await self.server.close()

    def url(self, path: str) -> str:
        """The absolute URL of a path on this site."""
        return str(self.server.make_url(path))

    def feed(
        self,
        path: str,
        items: list[Item],
        *,
        encoding: str = "utf-8",
        title: str = "Gündem",
        language: str | None = None,
    ) -> str:
        """Serve an RSS feed (with an ETag) and return its URL."""
        self.resources[path] = Resource(
            rss(items, title=title, encoding=encoding, language=language),
            f"application/rss+xml; charset={encoding}",
        )
        return self.url(path)

    def page(self, path: str, html: str | bytes, *, charset: str = "utf-8") -> str:
        """Serve an HTML page and return its URL."""
        body = html if isinstance(html, bytes) else html.encode(charset)
        self.resources[path] = Resource(body, f"text/html; charset={charset}")
        return self.url(path)

    def raw(
        self,
        path: str,
        body: bytes = b"",
        *,
        content_type: str = "text/html",
        status: int = 200,
        behaviour: str | None = None,
    ) -> str:
        """Serve anything, including a status or a misbehaviour; returns the URL."""
        self.resources[path] = Resource(body, content_type, status, behaviour)
        return self.url(path)

    def redirect(self, path: str, location: str, *, status: int = 302) -> str:
        """Answer a path with a redirect to any URL; returns the path's URL."""
        self.resources[path] = Resource(status=status, location=location)
        return self.url(path)

    def seen(self, path: str) -> list[SeenRequest]:
        """Requests for one path, oldest first."""
        return [r for r in self.requests if r.path == path]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        seen = SeenRequest(request.path, dict(request.headers))
        self.requests.append(seen)
        resource = self.resources.get(request.path)
        if resource is None:
            seen.status = 404
            return web.Response(status=404, text="<html><body><h1>404 Not Found</h1></body></html>")
        if resource.behaviour == "hang":
            await self._release.wait()
            return web.Response(text="too late")
        if resource.behaviour in ("big", "trickle"):
            return await self._stream(request, resource.behaviour)
        seen.status = resource.status
        if resource.status != 200:
            headers = {"Location": resource.location} if resource.location else None
            return web.Response(
                status=resource.status, body=resource.body, content_type="text/html", headers=headers
            )
        etag = '"' + hashlib.sha1(resource.body).hexdigest()[:16] + '"'
        if request.headers.get("If-None-Match") == etag:
            seen.status = 304
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(body=resource.body, headers={"Content-Type": resource.content_type, "ETag": etag})

    async def _stream(self, request: web.Request, behaviour: str) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        await response.prepare(request)
        sent, chunk = 0, b"<item>" + b"x" * 65530
        try:
            while sent < self.big_size and not self._release.is_set():
                if behaviour == "big":
                    await response.write(chunk)
                    sent += len(chunk)
                else:
                    await response.write(b" ")
                    await asyncio.sleep(0.1)
        except (ConnectionError, asyncio.CancelledError):
            pass
        return response
