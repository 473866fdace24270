"""/post for operators: publish a statement written in Telegram to every subscriber."""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application, CommandHandler, MessageHandler, filters

from bot.arguments import POST_BODY_MAX, POST_TITLE_MAX, OptionError, parse_post
from bot.context import NewsbotContext
from bot.news.options import publish_post
from bot.news.sections import SECTION_LABEL_MAX, section_name
from handlers.access import operators_only

# A photo whose caption starts with /post (or /post@bot, /post!): the statement with its lead photo.
PHOTO_POST = filters.PHOTO & filters.CaptionRegex(r"^\s*/post(?:@\w+)?!?(?:\s|$)")


@operators_only
async def post(update: Update, context: NewsbotContext) -> None:
    """Options, headline on the first line, body below; confirms with the article's number.

    Sent as a photo's caption, the photo (already on Telegram, so nothing is downloaded or uploaded) is
    the statement's lead photo.
    """
    message = update.effective_message
    text = (message.text or message.caption or "") if message is not None else ""
    parsed = parse_post(text) if message is not None else None
    if isinstance(parsed, OptionError):
        await context.reply(update, "option_refused", error=parsed, label_max=SECTION_LABEL_MAX, post=True)
        return
    if parsed is None:
        await context.reply(update, "post_usage", title_max=POST_TITLE_MAX, body_max=POST_BODY_MAX)
        return
    photo = message.photo[-1].file_id if message is not None and message.photo else None
    result, section = await publish_post(context.store, parsed, photo_file_id=photo)
    article = result.article
    await context.reply(
        update,
        "post_published",
        article=article,
        created=result.created,
        language=article.language or context.settings.default_language,
        section=section_name(section) if section else "",
    )


def register(application: Application) -> None:
    """Wire /post, as a command and as a photo's caption."""
    application.add_handler(CommandHandler("post", post))
    application.add_handler(MessageHandler(PHOTO_POST, post))
