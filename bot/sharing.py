"""Sharing: the deep-link payload format, invite links and the inline cards a friend receives.

Payload format (Telegram allows 1-64 characters of A-Z a-z 0-9 _ -):
  ``a<id>``            open article <id>, e.g. ``a12``
  ``r<code>``          an invitation from the owner of the 8-character invite code, e.g. ``r7Gx9kQ2a``
  ``a<id>-r<code>``    article <id> shared by the code's owner, e.g. ``a12-r7Gx9kQ2a``
Invite codes are opaque (storage/referrals.py), so a link never reveals the sharer's user id.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InlineQueryResultCachedPhoto,
    InputTextMessageContent,
    LinkPreviewOptions,
)
from telegram.constants import ParseMode
from telegram.helpers import create_deep_linked_url

from bot.arguments import parse_deep_link
from bot.clock import in_istanbul
from bot.render import Renderer
from bot.text import cut_text
from bot.views import render_article
from storage.models import Article
from storage.referrals import INVITE_CODE_LENGTH

MAX_ARTICLE_ID = 999_999_999
CARD_TITLE_LIMIT = 150
CARD_TEASER_LIMIT = 120
CARD_MESSAGE_TEASER_LIMIT = 600
_CODE = f"[A-Za-z0-9]{{{INVITE_CODE_LENGTH}}}"
_PAYLOAD = re.compile(rf"a(?P<article>[1-9][0-9]{{0,8}})(?:-r(?P<sharer>{_CODE}))?|r(?P<inviter>{_CODE})")


@dataclass(frozen=True)
class ShareLink:
    """What a deep link carries: an article to open, an invite code to credit, or both."""

    article_id: int | None = None
    invite_code: str | None = None

    @property
    def payload(self) -> str:
        """The `/start` payload for this link, in the format of the module docstring."""
        parts = []
        if self.article_id is not None:
            if not 1 <= self.article_id <= MAX_ARTICLE_ID:
                raise ValueError(f"article id out of range: {self.article_id}")
            parts.append(f"a{self.article_id}")
        if self.invite_code is not None:
            if not re.fullmatch(_CODE, self.invite_code):
                raise ValueError("not an invite code")
            parts.append(f"r{self.invite_code}")
        if not parts:
            raise ValueError("an empty share link")
        return "-".join(parts)


def parse_share_link(args: Sequence[str]) -> ShareLink | None:
    """`/start a12-rCODE` and friends; anything else (including Telegram-valid junk) is None."""
    payload = parse_deep_link(args)
    match = _PAYLOAD.fullmatch(payload) if payload else None
    if match is None:
        return None
    article = match.group("article")
    return ShareLink(int(article) if article else None, match.group("sharer") or match.group("inviter"))


def deep_link(bot_username: str, link: ShareLink) -> str:
    """https://t.me/<bot>?start=<payload>; the username comes from getMe, never configuration."""
    return create_deep_linked_url(bot_username, link.payload)


def share_url(url: str, text: str) -> str:
    """Telegram's own "share to a chat" page for a link with a line of text."""
    return "https://t.me/share/url?" + urlencode({"url": url, "text": text})


def inline_card(
    renderer: Renderer, lang: str, article: Article, open_url: str
) -> InlineQueryResultArticle | InlineQueryResultCachedPhoto:
    """The inline result for an article: the article message itself, plus "Open in the bot".

    With its lead photo uploaded already, the card is that photo with its caption; with a photo not yet
    uploaded, the article card shows it as its thumbnail.
    """
    message = render_article(renderer, lang, article, teaser_limit=CARD_MESSAGE_TEASER_LIMIT)
    rows = [list(row) for row in message.reply_markup.inline_keyboard] if message.reply_markup else []
    rows.append([InlineKeyboardButton(renderer.label(lang, "open_in_bot"), url=open_url)])
    date = renderer.label(lang, "date", in_istanbul(article.published_at))
    teaser = cut_text(" ".join(article.body.split()), CARD_TEASER_LIMIT)
    title = cut_text(article.title, CARD_TITLE_LIMIT) or f"#{article.id}"
    description = f"{date} · {teaser}" if teaser else date
    if message.photo is not None and message.photo.file_id:
        return InlineQueryResultCachedPhoto(
            id=f"a{article.id}",
            photo_file_id=message.photo.file_id,
            title=title,
            description=description,
            caption=message.photo.caption,
            parse_mode=ParseMode.HTML,
            reply_markup=InlineKeyboardMarkup(rows),
        )
    return InlineQueryResultArticle(
        id=f"a{article.id}",
        title=title,
        description=description,
        thumbnail_url=message.photo.image_url if message.photo is not None else None,
        input_message_content=InputTextMessageContent(
            message.text,
            parse_mode=ParseMode.HTML,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        ),
        reply_markup=InlineKeyboardMarkup(rows),
    )
