"""`newsbot import`: pages from files or URLs into the store, one line of output per page."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import aiohttp

from bot.arguments import ArticleOptions
from bot.clock import in_istanbul
from bot.drafts import draft_from_page
from bot.news.options import article_marks, section_for
from bot.publishing import publish
from bot.settings import Settings
from bot.sources.extract import ExtractionError, extract_article
from bot.sources.fetch import FetchError, fetch, open_session
from storage import Store
from storage.sections import GENERAL

MAX_PAGE_BYTES = 5_000_000


class ImportFailed(Exception):
    """A page that cannot become an article; the message is the one-line reason."""


async def import_pages(
    settings: Settings,
    sources: Sequence[str],
    *,
    out: TextIO,
    err: TextIO,
    options: ArticleOptions | None = None,
) -> int:
    """Import every source, report each, and return how many failed (the others still import)."""
    options = options or ArticleOptions()
    failures = 0
    store = await Store.open(settings.database)
    try:
        section = await section_for(store, options.section)
        async with open_session(settings.fetch_allow) as session:
            for source in sources:
                try:
                    html, url = await _read(session, source)
                    extracted = extract_article(html, url)
                    draft = draft_from_page(
                        extracted,
                        source="import",
                        language=options.language,
                        section_id=section.id if section else GENERAL,
                        breaking=bool(options.breaking),
                    )
                    result = await publish(store, draft)
                except (ImportFailed, ExtractionError, FetchError, OSError) as error:
                    failures += 1
                    print(f"error: {source}: {error}", file=err)
                    continue
                article = result.article
                verb = "added" if result.created else "already stored as"
                day = in_istanbul(article.published_at).date().isoformat()
                marks = await article_marks(store, article)
                print(f"{verb} #{article.id}: {article.title} ({day}){marks}", file=out)
    finally:
        await store.close()
    return failures



async def _read(session: aiohttp.ClientSession, source: str) -> tuple[bytes, str | None]:
    if source.startswith(("http://", "https://")):
        result = await fetch(session, source, max_bytes=MAX_PAGE_BYTES)
        if result.status != 200:
            raise ImportFailed(f"HTTP {result.status}")
        return result.body, result.url
    path = Path(source)
    if not path.is_file():
        raise ImportFailed("no such file")
    if path.stat().st_size > MAX_PAGE_BYTES:
        raise ImportFailed(f"file larger than {MAX_PAGE_BYTES // 1_000_000} MB")
    return path.read_bytes(), None
