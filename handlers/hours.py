"""/digest and /quiet: when articles come, as typed commands (the buttons are on /settings)."""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application, CommandHandler

from bot.context import NewsbotContext
from bot.readers.panel import quiet_text
from bot.readers.parsing import parse_digest, parse_quiet
from bot.readers.schedule import MAX_DIGEST_TIMES, format_minute
from handlers.choices import may_change, readers, send_screen


async def digest(update: Update, context: NewsbotContext) -> None:
    """`/digest 08:00,18:30` (up to 3 a day) or `off`; alone it shows the setting and presets."""
    text = " ".join(context.args or [])
    if not text:
        await send_screen(update, context, "d")
        return
    choice = parse_digest(text)
    if choice.problem is not None:
        await context.reply(
            update, "digest_usage", problem=choice.problem, given=choice.given, most=MAX_DIGEST_TIMES
        )
        return
    if not await may_change(update, context):
        await context.reply(update, "choices_admins_only")
        return
    chat_id = update.effective_chat.id
    service = readers(context)
    await service.set_digest(chat_id, choice.minutes)
    panel = await service.panel(chat_id)
    await context.reply(
        update,
        "digest_set",
        times=[format_minute(minute) for minute in choice.minutes],
        subscribed=panel.choices.subscribed if panel else False,
    )


async def quiet(update: Update, context: NewsbotContext) -> None:
    """`/quiet 22:00-07:00` or `off`; alone it shows the setting and presets."""
    text = " ".join(context.args or [])
    if not text:
        await send_screen(update, context, "q")
        return
    choice = parse_quiet(text)
    if choice.problem is not None:
        await context.reply(update, "quiet_usage", problem=choice.problem)
        return
    if not await may_change(update, context):
        await context.reply(update, "choices_admins_only")
        return
    await readers(context).set_quiet(update.effective_chat.id, choice.start, choice.end)
    await context.reply(update, "quiet_set", quiet=quiet_text(choice.start, choice.end))


def register(application: Application) -> None:
    """Wire /digest and /quiet."""
    application.add_handler(CommandHandler("digest", digest))
    application.add_handler(CommandHandler("quiet", quiet))
