"""Applying an operator's options: a section label becomes a section, a feed gets its language and mark."""

from __future__ import annotations

from dataclasses import dataclass, replace

from bot.arguments import ArticleOptions, PostText
from bot.clock import utc_now
from bot.drafts import make_draft
from bot.news.languages import AUTO
from bot.news.sections import SectionLabel, section_name
from bot.publishing import PublishResult, publish
from storage import Store
from storage.models import Article, Feed, Section
from storage.sections import GENERAL


async def section_for(store: Store, label: SectionLabel | None) -> Section | None:
    """The section a label names, created on first use; None when no label was given."""
    if label is None:
        return None
    section, _changed = await store.sections.ensure(label.tr, label.en, rename=label.both)
    return section


@dataclass(frozen=True)
class FeedConfigured:
    """A feed after `add`: whether it is new, whether options changed an existing one, its section."""

    feed: Feed
    created: bool
    changed: bool
    section: Section | None


async def configure_feed(store: Store, url: str, key: str, options: ArticleOptions) -> FeedConfigured:
    """List a new feed with its options, or apply the options given to a listed one (the rest stay)."""
    section, renamed = None, False
    if options.section is not None:
        label = options.section
        section, renamed = await store.sections.ensure(label.tr, label.en, rename=label.both)
    language = None if options.language == AUTO else options.language
    feed, created = await store.feeds.add(
        url,
        key,
        language=language,
        section_id=section.id if section else GENERAL,
        breaking=bool(options.breaking),
    )
    changed = renamed and not created
    if not created and options.given:
        wanted = (
            feed.language if options.language is None else language,
            feed.section_id if section is None else section.id,
            feed.breaking if options.breaking is None else options.breaking,
        )
        if wanted != (feed.language, feed.section_id, feed.breaking):
            changed = True
            updated = await store.feeds.set_options(
                feed.id, language=wanted[0], section_id=wanted[1], breaking=wanted[2]
            )
            feed = updated or feed
    if section is None:
        section = await store.sections.get(feed.section_id)
    return FeedConfigured(feed, created, changed, section)


async def article_marks(store: Store, article: Article) -> str:
    """` [en · Ekonomi/Economy · breaking]`: what an article carries beyond the defaults, for the shell."""
    section = await store.sections.get(article.section_id) if article.section_id != GENERAL else None
    marks = [article.language, section_name(section) if section else None, article.breaking and "breaking"]
    shown = " · ".join(mark for mark in marks if mark)
    return f" [{shown}]" if shown else ""


async def publish_post(
    store: Store, post: PostText, *, photo_file_id: str | None = None
) -> tuple[PublishResult, Section | None]:
    """Publish an operator's /post with its options and photo; returns it and the article's section."""
    section = await section_for(store, post.options.section)
    draft = make_draft(
        title=post.title,
        body=post.body,
        published=utc_now(),
        source="telegram",
        language=post.options.language,
        section_id=section.id if section else GENERAL,
        breaking=bool(post.options.breaking),
    )
    result = await publish(store, replace(draft, photo_file_id=photo_file_id), announce=True)
    if section is None or section.id != result.article.section_id:  # a repeat keeps its first section
        section = await store.sections.get(result.article.section_id)
    return result, section
