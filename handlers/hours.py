"""/digest and /quiet: when articles come, as typed commands (the buttons are on /settings)."""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application, CommandHandler

from bot.context import NewsbotContext
from bot.readers.panel import quiet_text
from bot.readers.parsing import parse_digest, parse_quiet
from bot.readers.schedule import MAX_DIGEST_TIMES, format_minute
from handlers.access import setting_command
from handlers.choices import readers, send_screen


async def show_digest(update: Update, context: NewsbotContext) -> None:
    """`/digest 08:00,18:30` (up to 3 a day) or `off`; alone it shows the setting and presets (to anyone)."""
    await send_screen(update, context, "d")


async def change_digest(update: Update, context: NewsbotContext) -> None:
    """Digest times, or off, as typed after /digest."""
    choice = parse_digest(" ".join(context.args or []))
    if choice.problem is not None:
        await context.reply(
            update, "digest_usage", problem=choice.problem, given=choice.given, most=MAX_DIGEST_TIMES
        )
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


async def show_quiet(update: Update, context: NewsbotContext) -> None:
    """`/quiet 22:00-07:00` or `off`; alone it shows the setting and presets (to anyone)."""
    await send_screen(update, context, "q")


async def change_quiet(update: Update, context: NewsbotContext) -> None:
    """Quiet hours, or off, as typed after /quiet."""
    choice = parse_quiet(" ".join(context.args or []))
    if choice.problem is not None:
        await context.reply(update, "quiet_usage", problem=choice.problem)
        return
    await readers(context).set_quiet(update.effective_chat.id, choice.start, choice.end)
    await context.reply(update, "quiet_set", quiet=quiet_text(choice.start, choice.end))


def register(application: Application) -> None:
    """Wire /digest and /quiet."""
    application.add_handler(CommandHandler("digest", setting_command(show_digest, change_digest)))
    application.add_handler(CommandHandler("quiet", setting_command(show_quiet, change_quiet)))
