"""Article messages: rendered once per language, always within Telegram's limits."""

from __future__ import annotations

from dataclasses import dataclass, replace

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.clock import in_istanbul
from bot.render import Renderer
from bot.text import MESSAGE_LIMIT, cut_text, visible_len
from storage.models import Article

TITLE_LIMIT = 300
LIST_TITLE_LIMIT = 160
TEASER_LIMIT = 900  # broadcasts and /latest: a teaser, the rest is one tap away
FULL_TEXT_LIMIT = MESSAGE_LIMIT  # /article and shared articles: as much as one message holds
MATCHED_LIMIT = 60  # the followed phrase named in "because you follow «...»"


@dataclass(frozen=True)
class RenderedMessage:
    """Text and buttons ready for sendMessage in HTML parse mode."""

    text: str
    reply_markup: InlineKeyboardMarkup | None = None


def render_article(
    renderer: Renderer,
    lang: str,
    article: Article,
    *,
    teaser_limit: int = TEASER_LIMIT,
    matched: str | None = None,
) -> RenderedMessage:
    """Headline, date, the beginning of the text cut at a boundary, and where to read the rest.

    `matched`: the reader's followed phrase that brought a pushed article, named under the date.
    """
    article = replace(
        article, title=cut_text(article.title, TITLE_LIMIT), published_at=in_istanbul(article.published_at)
    )
    matched = cut_text(matched, MATCHED_LIMIT) if matched else None
    overhead = visible_len(
        renderer.message(lang, "article", article=article, teaser="", truncated=True, matched=matched)
    )
    budget = min(teaser_limit, MESSAGE_LIMIT - overhead)
    teaser = cut_text(article.body, budget)
    text = renderer.message(
        lang, "article", article=article, teaser=teaser, truncated=teaser != article.body, matched=matched
    )
    return RenderedMessage(text, article_keyboard(renderer, lang, article))


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
    buttons.append(InlineKeyboardButton(renderer.label(lang, "share"), switch_inline_query=f"#{article.id}"))
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
    return RenderedMessage(message.text, InlineKeyboardMarkup(rows))


def without_button(markup: InlineKeyboardMarkup, callback_data: str) -> InlineKeyboardMarkup | None:
    """The keyboard minus the button that was just used, and minus rows left empty."""
    rows = [[b for b in row if b.callback_data != callback_data] for row in markup.inline_keyboard]
    rows = [row for row in rows if row]
    return InlineKeyboardMarkup(rows) if rows else None
