"""Article messages: rendered once per language, always within Telegram's limits."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.clock import in_istanbul
from bot.render import Renderer
from bot.text import CAPTION_LIMIT, MESSAGE_LIMIT, cut_text, visible_len
from storage.models import Article, ArticleRoute

TITLE_LIMIT = 300
LIST_TITLE_LIMIT = 160
TEASER_LIMIT = 900  # broadcasts and /latest: a teaser, the rest is one tap away
FULL_TEXT_LIMIT = MESSAGE_LIMIT  # /article and shared articles: as much as one message holds
MATCHED_LIMIT = 60  # the followed phrase named in "because you follow «...»"


@dataclass(frozen=True)
class LeadPhoto:
    """An article's lead photo and its caption (the same message cut to 1,024), sent instead of the text."""

    article_id: int
    image_url: str | None  # fetched once, uploaded once (bot/photos/)
    file_id: str | None  # known from an earlier upload (or the operator's /post photo)
    caption: str


@dataclass(frozen=True)
class RenderedMessage:
    """Text and buttons ready for sendMessage in HTML parse mode; an article may carry its lead photo."""

    text: str
    reply_markup: InlineKeyboardMarkup | None = None
    photo: LeadPhoto | None = None  # when set, sendPhoto with its caption, else (or when it fails) the text


def render_article(
    renderer: Renderer,
    lang: str,
    article: Article,
    *,
    teaser_limit: int = TEASER_LIMIT,
    matched: str | None = None,
) -> RenderedMessage:
    """Headline, date, the beginning of the text cut at a boundary, and where to read the rest.

    `matched`: the reader's followed phrase that brought a pushed article, named under the date. An article
    with a usable lead photo carries it with a caption of the same message cut to fit 1,024.
    """
    text = article_text(renderer, lang, article, teaser_limit=teaser_limit, matched=matched)
    photo = None
    if (article.image_url or article.photo_file_id) and not article.photo_error:
        caption = article_text(
            renderer, lang, article, teaser_limit=teaser_limit, matched=matched, limit=CAPTION_LIMIT
        )
        photo = LeadPhoto(article.id, article.image_url, article.photo_file_id, caption)
    return RenderedMessage(text, article_keyboard(renderer, lang, article), photo)


def pushed_article(
    renderer: Renderer, lang: str, article: Article, route: ArticleRoute | None, *, matched: str | None = None
) -> RenderedMessage:
    """A pushed article as readers get it (and operators preview it): Read, Share and "🔕 <section>"."""
    message = render_article(renderer, lang, article, matched=matched)
    if route is None:
        return message
    label = route.section_tr if lang == "tr" else route.section_en
    return with_buttons(message, section_keyboard(renderer, lang, route.section_id, label))


@lru_cache(maxsize=256)
def article_text(
    renderer: Renderer,
    lang: str,
    article: Article,
    *,
    teaser_limit: int = TEASER_LIMIT,
    matched: str | None = None,
    limit: int = MESSAGE_LIMIT,
) -> str:
    """The article message's HTML within `limit` visible UTF-16 units (4,096 a message, 1,024 a caption).

    Remembered for the newest 256 (article, language, limits): every reader's /latest is the same text, and
    rendering it twice (to measure, then to cut) is most of a reply's own CPU.
    """
    article = replace(
        article,
        title=cut_text(article.title, TITLE_LIMIT),
        published_at=in_istanbul(article.published_at),
        updated_at=in_istanbul(article.updated_at) if article.updated_at else None,  # "updated HH:MM"
    )
    matched = cut_text(matched, MATCHED_LIMIT) if matched else None
    overhead = visible_len(
        renderer.message(lang, "article", article=article, teaser="", truncated=True, matched=matched)
    )
    budget = min(teaser_limit, limit - overhead)
    teaser = cut_text(article.body, budget)
    return renderer.message(
        lang, "article", article=article, teaser=teaser, truncated=teaser != article.body, matched=matched
    )


def render_article_list(renderer: Renderer, lang: str, articles: list[Article]) -> RenderedMessage:
    """A compact numbered list for /latest N."""
    return RenderedMessage(renderer.message(lang, "article_list", articles=for_listing(articles)))


def for_listing(articles: list[Article]) -> list[Article]:
    """Short headlines and Istanbul dates, so ten of them fit one message."""
    return [
        replace(a, title=cut_text(a.title, LIST_TITLE_LIMIT), published_at=in_istanbul(a.published_at))
        for a in articles
    ]


def article_keyboard(renderer: Renderer, lang: str, article: Article) -> InlineKeyboardMarkup | None:
    """The buttons under every article message."""
    buttons = []
    if article.url and article.url.startswith(("http://", "https://")):
        buttons.append(InlineKeyboardButton(renderer.label(lang, "read_on_site"), url=article.url))
    query = f"#{article.id}" if article.id else ""  # a preview's article has no number yet
    buttons.append(InlineKeyboardButton(renderer.label(lang, "share"), switch_inline_query=query))
    return InlineKeyboardMarkup([buttons])


def section_keyboard(
    renderer: Renderer, lang: str, section_id: int, label: str, *, muted: bool = False
) -> InlineKeyboardMarkup:
    """Under a pushed article: "🔕 <section>" mutes its section in one tap; "🔔 <section>" undoes it."""
    label = cut_text(label, 40)
    if muted:
        button = InlineKeyboardButton(
            renderer.label(lang, "unmute_button", label), callback_data=f"unmute:{section_id}"
        )
    else:
        button = InlineKeyboardButton(
            renderer.label(lang, "mute_button", label), callback_data=f"mute:{section_id}"
        )
    return InlineKeyboardMarkup([[button]])


def render_digest(
    renderer: Renderer,
    lang: str,
    articles: list[Article],
    *,
    more: int,
    breaking: set[int],
    latest: int,
) -> RenderedMessage:
    """Numbered headlines (followed and breaking first, as given), and how many more there were."""
    return RenderedMessage(
        renderer.message(
            lang,
            "digest",
            articles=for_listing(articles),
            total=len(articles) + more,
            more=more,
            breaking=breaking,
            latest=latest,
        )
    )


def with_buttons(message: RenderedMessage, extra: InlineKeyboardMarkup | None) -> RenderedMessage:
    """The message with another keyboard's rows added below its own."""
    if extra is None:
        return message
    rows = [list(row) for row in message.reply_markup.inline_keyboard] if message.reply_markup else []
    rows.extend(list(row) for row in extra.inline_keyboard)
    return replace(message, reply_markup=InlineKeyboardMarkup(rows))


def without_button(markup: InlineKeyboardMarkup, callback_data: str) -> InlineKeyboardMarkup | None:
    """The keyboard minus the button that was just used, and minus rows left empty."""
    rows = [[b for b in row if b.callback_data != callback_data] for row in markup.inline_keyboard]
    rows = [row for row in rows if row]
    return InlineKeyboardMarkup(rows) if rows else None
