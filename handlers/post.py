"""/post for operators: a statement written in Telegram, previewed, then published to every subscriber."""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application, CommandHandler, MessageHandler, filters

from bot.arguments import POST_BODY_MAX, POST_TITLE_MAX, OptionError, parse_post
from bot.context import NewsbotContext
from bot.news.previews import DRAFT_TTL, Preview, preview_post
from bot.news.sections import SECTION_LABEL_MAX
from handlers.access import operators_only
from handlers.previews import show_preview

# A photo whose caption starts with /post (or /post@bot, /post!): the statement with its lead photo.
PHOTO_POST = filters.PHOTO & filters.CaptionRegex(r"^\s*/post(?:@\w+)?!?(?:\s|$)")


@operators_only
async def post(update: Update, context: NewsbotContext) -> None:
    """Options, headline on the first line, body below; previewed as readers will get it, with Publish.

    Sent as a photo's caption, the photo (already on Telegram, so nothing is downloaded or uploaded) is
    the statement's lead photo. Nothing is published until the operator presses Publish (handlers/previews).
    """
    message = update.effective_message
    text = (message.text or message.caption or "") if message is not None else ""
    parsed = parse_post(text) if message is not None else None
    if isinstance(parsed, OptionError):
        await context.reply(update, "option_refused", error=parsed, label_max=SECTION_LABEL_MAX, post=True)
        return
    if parsed is None or message is None:
        await context.reply(
            update,
            "post_usage",
            title_max=POST_TITLE_MAX,
            body_max=POST_BODY_MAX,
            ttl_minutes=int(DRAFT_TTL.total_seconds() // 60),
        )
        return
    preview = await preview_post(
        context.store,
        context.renderer,
        context.lang,
        parsed,
        text=text,
        chat_id=message.chat_id,
        photo_file_id=message.photo[-1].file_id if message.photo else None,
        now=context.services.clock(),
    )
    if isinstance(preview, Preview):
        await show_preview(update, context, preview)
    else:
        await context.reply(update, "post_repeats", article=preview)


def register(application: Application) -> None:
    """Wire /post, as a command and as a photo's caption."""
    application.add_handler(CommandHandler("post", post))
    application.add_handler(MessageHandler(PHOTO_POST, post))
