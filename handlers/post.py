"""/post for operators: publish a statement written in Telegram to every subscriber."""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application, CommandHandler

from bot.arguments import POST_BODY_MAX, POST_TITLE_MAX, parse_post
from bot.clock import utc_now
from bot.context import NewsbotContext
from bot.drafts import make_draft
from bot.publishing import publish
from handlers.access import operators_only


@operators_only
async def post(update: Update, context: NewsbotContext) -> None:
    """Headline on the first line, body below; confirms with the article's number."""
    message = update.effective_message
    parsed = parse_post(message.text or "") if message is not None else None
    if parsed is None:
        await context.reply(update, "post_usage", title_max=POST_TITLE_MAX, body_max=POST_BODY_MAX)
        return
    draft = make_draft(title=parsed.title, body=parsed.body, published=utc_now(), source="telegram")
    result = await publish(context.store, draft, announce=True)
    await context.reply(update, "post_published", article=result.article, created=result.created)


def register(application: Application) -> None:
    """Wire /post."""
    application.add_handler(CommandHandler("post", post))
