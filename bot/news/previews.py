"""Operators see before they publish: /post and /edit become a stored draft, shown as readers will get it.

The preview is rendered by the delivery engine's own path (bot/views.pushed_article): the same template, the
photo with its caption or the text, the reader buttons, and for a correction the "updated HH:MM" mark. The
draft lives in the database (storage/post_drafts.py), so a restart between the preview and Publish loses
nothing. Publish claims the draft in the transaction that publishes it: a double press, or two presses at
once, publish exactly once; an expired, cancelled or already published draft publishes nothing.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.arguments import POST_BODY_MAX, POST_TITLE_MAX, PostText, parse_post
from bot.corrections import Correction, EditText, correct, parse_edit, reader_form
from bot.drafts import headline, make_draft
from bot.news.options import publish_post
from bot.news.sections import SectionLabel
from bot.publishing import PublishResult
from bot.render import Renderer
from bot.text import normalize_text
from bot.views import RenderedMessage, pushed_article
from storage import Store
from storage.database import Transaction
from storage.models import Article, ArticleRoute, PostDraft, Section
from storage.post_drafts import CANCELLED, PENDING, PUBLISHED
from storage.sections import GENERAL

# Long enough to reread a statement and fix a typo; short enough that a preview forgotten in the chat is not
# published hours later by a stray tap, when the news has moved on.
DRAFT_TTL = timedelta(minutes=30)
POST = "post"
EDIT = "edit"
EXPIRED = "expired"  # a refusal: the draft is past its time, or gone (pruned, or another chat's)


class DraftGone(Exception):
    """Another press claimed the draft first, or it expired meanwhile: the transaction publishes nothing."""


@dataclass(frozen=True)
class Preview:
    """A stored draft and the message readers would get (without the Publish and Cancel row)."""

    draft: PostDraft
    message: RenderedMessage


@dataclass(frozen=True)
class Pressed:
    """What Publish or Cancel did: a refusal (expired, published, cancelled), or what was published."""

    kind: str
    refused: str | None = None
    post: PublishResult | None = None
    section: Section | None = None
    correction: Correction | None = None
    article_id: int | None = None


async def preview_post(
    store: Store,
    renderer: Renderer,
    lang: str,
    post: PostText,
    *,
    text: str,
    chat_id: int,
    photo_file_id: str | None,
    now: datetime,
) -> Preview | Article:
    """Store the /post as a draft and render it as pushed, with the section it would get (none is created).

    A statement already published (same headline and text) is that article instead, and no draft: Publish
    would send nothing, so the operator hears it now rather than after pressing it.
    """
    section = await _section_to_be(store, post.options.section)
    draft = make_draft(
        title=post.title,
        body=post.body,
        published=now,
        source="telegram",
        language=post.options.language,
        section_id=section.id,
        breaking=bool(post.options.breaking),
    )
    repeated = await store.articles.find_duplicate(draft)
    if repeated is not None:
        return repeated
    article = Article(
        0,  # no number until it is published
        draft.title,
        draft.body,
        draft.url,
        draft.published_at,
        draft.source,
        photo_file_id=photo_file_id,
        language=draft.language,
        section_id=section.id,
        breaking=draft.breaking,
    )
    route = ArticleRoute(
        0, draft.language or "", section.id, section.label_tr, section.label_en, draft.breaking
    )
    stored = await _store(store, POST, chat_id, text, now, photo_file_id=photo_file_id)
    return Preview(stored, pushed_article(renderer, lang, article, route))


async def preview_edit(
    store: Store, renderer: Renderer, lang: str, edit: EditText, *, text: str, chat_id: int, now: datetime
) -> Preview | Correction:
    """Store the /edit as a draft and render the corrected copy; a Correction when nothing would change."""
    article = await store.articles.get(edit.article_id)
    if article is None or article.withdrawn:
        return Correction(article, False)
    if reader_form(article.title, article.body) == reader_form(edit.title, edit.body):
        return Correction(article, False)
    corrected = replace(
        article,
        title=headline(edit.title),
        body=normalize_text(edit.body),
        version=article.version + 1,
        updated_at=now,
    )
    route = await store.routing.article_route(article.id)
    stored = await _store(store, EDIT, chat_id, text, now, article_id=article.id)
    return Preview(stored, pushed_article(renderer, lang, corrected, route))


async def publish_draft(store: Store, token: str, chat_id: int, now: datetime) -> Pressed:
    """Publish a pending draft of this chat exactly once: /post publishes, /edit corrects and queues edits."""
    draft = await store.post_drafts.get(token)
    refused = _refusal(draft, chat_id, now)
    if draft is None or refused is not None:
        return Pressed(draft.kind if draft else POST, refused or EXPIRED)

    async def claim(tx: Transaction) -> None:
        if await store.post_drafts.claim(tx, token, chat_id, PUBLISHED, now.timestamp()) is None:
            raise DraftGone(token)

    try:
        if draft.kind == EDIT:
            edit = parse_edit(draft.text, title_max=POST_TITLE_MAX, body_max=POST_BODY_MAX)
            if edit is None:
                raise DraftGone(token)  # stored by an older parser that took it; nothing sensible to apply
            correction = await correct(store, edit.article_id, edit.title, edit.body, now, claim=claim)
            return Pressed(EDIT, correction=correction, article_id=edit.article_id)
        post = parse_post(draft.text)
        if not isinstance(post, PostText):
            raise DraftGone(token)
        result, section = await publish_post(
            store, post, photo_file_id=draft.photo_file_id, claim=claim, now=now
        )
        return Pressed(POST, post=result, section=section, article_id=result.article.id)
    except DraftGone:
        latest = await store.post_drafts.get(token)
        return Pressed(draft.kind, _refusal(latest, chat_id, now) or EXPIRED)


async def cancel_draft(store: Store, token: str, chat_id: int, now: datetime) -> Pressed:
    """Cancel a pending draft of this chat; nothing is published, and a later Publish is refused."""
    async with store.db.transaction() as tx:
        claimed = await store.post_drafts.claim(tx, token, chat_id, CANCELLED, now.timestamp())
    if claimed is not None:
        return Pressed(claimed.kind)
    draft = await store.post_drafts.get(token)
    return Pressed(draft.kind if draft else POST, _refusal(draft, chat_id, now) or EXPIRED)


async def _store(
    store: Store,
    kind: str,
    chat_id: int,
    text: str,
    now: datetime,
    *,
    photo_file_id: str | None = None,
    article_id: int | None = None,
) -> PostDraft:
    return await store.post_drafts.add(
        token=secrets.token_hex(8),
        kind=kind,
        chat_id=chat_id,
        text=text,
        now=now.timestamp(),
        expires_at=(now + DRAFT_TTL).timestamp(),
        article_id=article_id,
        photo_file_id=photo_file_id,
    )


async def _section_to_be(store: Store, label: SectionLabel | None) -> Section:
    """The section Publish would file the statement in: found by label, renamed as asked, or new (id 0)."""
    if label is None:
        general = await store.sections.get(GENERAL)
        return general or Section(GENERAL, "genel", "Genel", "General")
    found = await store.sections.find(label.tr, label.en)
    if found is None:
        return Section(0, "", label.tr, label.en)
    if label.both:
        return replace(found, label_tr=label.tr, label_en=label.en)
    return found


def _refusal(draft: PostDraft | None, chat_id: int, now: datetime) -> str | None:
    """Why a press on this draft does nothing (its state, or expired), or None when it may go ahead."""
    if draft is None or draft.chat_id != chat_id:
        return EXPIRED
    if draft.state != PENDING:
        return draft.state
    if draft.expires_at <= now.timestamp():
        return EXPIRED
    return None
