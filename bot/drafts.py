"""Turn what sources produce into article drafts with their deduplication keys."""

from __future__ import annotations

from datetime import date, datetime

from bot.clock import as_utc, utc_now
from bot.sources.extract import ExtractedArticle
from bot.sources.links import content_hash, normalize_url
from bot.text import normalize_text
from storage.models import ArticleDraft


def make_draft(
    *,
    title: str,
    body: str,
    published: date | datetime | None,
    source: str,
    url: str | None = None,
    guid: str | None = None,
) -> ArticleDraft:
    """Compute every key that later copies of the same article will be recognised by."""
    title = normalize_text(title).replace("\n", " ")
    published_at = as_utc(published) if published is not None else utc_now()
    return ArticleDraft(
        title=title,
        body=normalize_text(body),
        published_at=published_at,
        source=source,
        url=url,
        url_key=normalize_url(url) if url else None,
        guid=guid.strip() if guid and guid.strip() else None,
        content_hash=content_hash(title, published) if published is not None else None,
    )


def draft_from_page(extracted: ExtractedArticle, *, source: str, guid: str | None = None) -> ArticleDraft:
    """A page extracted by trafilatura becomes a draft."""
    return make_draft(
        title=extracted.title,
        body=extracted.text,
        published=extracted.published,
        source=source,
        url=extracted.url,
        guid=guid,
    )
