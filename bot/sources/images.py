"""Where an article's lead photo is: the feed item's media, else the page's og:image / twitter:image."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urljoin, urlsplit

import lxml.html

MAX_IMAGE_URL = 2048
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif")
_PAGE_META = (
    "//meta[@property='og:image:secure_url']/@content",
    "//meta[@property='og:image']/@content",
    "//meta[@name='og:image']/@content",
    "//meta[@property='og:image:url']/@content",
    "//meta[@name='twitter:image']/@content",
    "//meta[@property='twitter:image']/@content",
    "//meta[@name='twitter:image:src']/@content",
)


def image_address(value: Any, base_url: str | None = None) -> str | None:
    """An absolute http(s) address of reasonable length, resolved against the document's own, else None."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not value or len(value) > MAX_IMAGE_URL or any(ch.isspace() for ch in value):
        return None
    try:
        absolute = urljoin(base_url, value) if base_url else value
        parts = urlsplit(absolute)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return absolute


def _looks_like_image(kind: Any, medium: Any, url: str) -> bool:
    kind = kind.lower() if isinstance(kind, str) else ""
    if kind:
        return kind.startswith("image/")
    if isinstance(medium, str) and medium:
        return medium.lower() == "image"
    return urlsplit(url).path.lower().endswith(_IMAGE_SUFFIXES)


def _media(items: Any) -> Iterable[dict[str, Any]]:
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def feed_image(raw: Any, base_url: str | None = None) -> str | None:
    """A feedparser entry's image: media:content, else media:thumbnail, else an image enclosure."""
    for item in _media(raw.get("media_content")):
        url = image_address(item.get("url"), base_url)
        if url and _looks_like_image(item.get("type"), item.get("medium"), url):
            return url
    for item in _media(raw.get("media_thumbnail")):
        url = image_address(item.get("url"), base_url)
        if url:
            return url
    for item in _media(raw.get("enclosures")):
        url = image_address(item.get("href") or item.get("url"), base_url)
        if url and _looks_like_image(item.get("type"), None, url):
            return url
    return None


def page_image(tree: lxml.html.HtmlElement | None, base_url: str | None = None) -> str | None:
    """The page's og:image, else its twitter:image, as an absolute address."""
    if tree is None:
        return None
    for xpath in _PAGE_META:
        for found in tree.xpath(xpath):
            url = image_address(str(found), base_url)
            if url:
                return url
    return None
