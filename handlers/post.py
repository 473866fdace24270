"""/post for operators: publish a statement written in Telegram to every subscriber."""

from __future__ import annotations

from dataclasses import replace

from telegram import Update
from telegram.ext import Application, CommandHandler, MessageHandler, filters

from bot.arguments import POST_BODY_MAX, POST_TITLE_MAX, parse_post
from bot.clock import utc_now
from bot.context import NewsbotContext
from bot.drafts import make_draft
from bot.publishing import publish
from handlers.access import operators_only

# A photo whose caption starts with /post (or /post@bot): the statement with its lead photo.
PHOTO_POST = filters.PHOTO & filters.CaptionRegex(r"^\s*/post(?:@\w+)?(?:\s|$)")


@operators_only
async def post(update: Update, context: NewsbotContext) -> None:
    """Headline on the first line, body below; confirms with the article's number.

    Sent as a photo's caption, the photo (already on Telegram, so nothing is downloaded or uploaded) is
    the statement's lead photo.
    """
    message = update.effective_message
    text = (message.text or message.caption or "") if message is not None else ""
    parsed = parse_post(text) if message is not None else None
    if parsed is None:
        await context.reply(update, "post_usage", title_max=POST_TITLE_MAX, body_max=POST_BODY_MAX)
        return
    draft = make_draft(title=parsed.title, body=parsed.body, published=utc_now(), source="telegram")
    if message is not None and message.photo:
        draft = replace(draft, photo_file_id=message.photo[-1].file_id)
    result = await publish(context.store, draft, announce=True)
    await context.reply(update, "post_published", article=result.article, created=result.created)


def register(application: Application) -> None:
    """Wire /post, as a command and as a photo's caption."""
    application.add_handler(CommandHandler("post", post))
    application.add_handler(MessageHandler(PHOTO_POST, post))
