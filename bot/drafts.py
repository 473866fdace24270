"""Turn what sources produce into article drafts with their deduplication keys."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime

from bot.clock import as_utc, utc_now
from bot.news.languages import first_language
from bot.sources.extract import ExtractedArticle
from bot.sources.links import normalize_url
from bot.text import normalize_text
from storage.identity import text_key
from storage.models import ArticleDraft


@dataclass(frozen=True)
class ArticleKeys:
    """What an article is recognised by; two articles are one when any key they both have is equal."""

    guid: str | None
    url_key: str | None
    content_hash: str | None


def headline(title: str) -> str:
    """A headline as stored: tidied, on one line."""
    return normalize_text(title).replace("\n", " ")


def article_keys(*, title: str, body: str, url: str | None = None, guid: str | None = None) -> ArticleKeys:
    """Guid or link alone when the article has one; else headline and body, since headlines recur daily."""
    guid = guid.strip() if guid and guid.strip() else None
    url_key = (normalize_url(url) or None) if url else None
    if guid or url_key:
        return ArticleKeys(guid, url_key, None)
    return ArticleKeys(None, None, text_key(headline(title), normalize_text(body)))


def make_draft(
    *,
    title: str,
    body: str,
    published: date | datetime | None,
    source: str,
    url: str | None = None,
    guid: str | None = None,
    language: str | None = None,
    section_id: int = 1,
    breaking: bool = False,
) -> ArticleDraft:
    """Compute every key that later copies of the same article will be recognised by."""
    keys = article_keys(title=title, body=body, url=url, guid=guid)
    return ArticleDraft(
        title=headline(title),
        body=normalize_text(body),
        published_at=as_utc(published) if published is not None else utc_now(),
        source=source,
        url=url,
        url_key=keys.url_key,
        guid=keys.guid,
        content_hash=keys.content_hash,
        language=first_language(language),
        section_id=section_id,
        breaking=breaking,
    )


def draft_from_page(
    extracted: ExtractedArticle,
    *,
    source: str,
    guid: str | None = None,
    language: str | None = None,
    section_id: int = 1,
    breaking: bool = False,
) -> ArticleDraft:
    """A page becomes a draft: its og:image is the lead photo; the operator's language beats the page's."""
    draft = make_draft(
        title=extracted.title,
        body=extracted.text,
        published=extracted.published,
        source=source,
        url=extracted.url,
        guid=guid,
        language=first_language(language, extracted.language),
        section_id=section_id,
        breaking=breaking,
    )
    return replace(draft, image_url=extracted.image_url)
