"""/follow and /unfollow: words and phrases that reach the reader whatever their sections."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from telegram import Update
from telegram.ext import Application, CommandHandler

from bot.context import NewsbotContext
from bot.readers.parsing import parse_phrases
from handlers.access import chat_admins_only
from handlers.choices import readers, send_screen
from storage.readers import MAX_FOLLOWS

Handler = Callable[[Update, NewsbotContext], Awaitable[None]]


def _arguments(update: Update) -> str:
    """Everything after the command, line breaks and commas included (context.args drops them)."""
    text = update.effective_message.text or ""
    parts = text.split(maxsplit=1)
    return parts[1] if len(parts) > 1 else ""


async def follow(update: Update, context: NewsbotContext) -> None:
    """`/follow Çankırı, deprem` follows each phrase; `/follow` alone lists them with remove buttons."""
    await _change_or_list(update, context, add_follows)


async def unfollow(update: Update, context: NewsbotContext) -> None:
    """`/unfollow Çankırı` stops following (any spelling); alone it lists the phrases with remove buttons."""
    await _change_or_list(update, context, remove_follows)


@chat_admins_only
async def add_follows(update: Update, context: NewsbotContext) -> None:
    """Follow each phrase after /follow; say what was added, known, over the limit or unusable."""
    await _change_follows(update, context, follow=True)


@chat_admins_only
async def remove_follows(update: Update, context: NewsbotContext) -> None:
    """Stop following each phrase after /unfollow; say what was removed and what is left."""
    await _change_follows(update, context, follow=False)


async def _change_or_list(update: Update, context: NewsbotContext, change: Handler) -> None:
    """Anyone may look at the list; changing it goes through the admins-only handler."""
    if _arguments(update).strip():
        await change(update, context)
        return
    await send_screen(update, context, "f")


async def _change_follows(update: Update, context: NewsbotContext, *, follow: bool) -> None:
    """/follow and /unfollow differ only in the service call and the reply's template."""
    phrases = parse_phrases(_arguments(update))
    if not phrases.valid and not phrases.invalid:  # only commas and spaces
        await send_screen(update, context, "f")
        return
    chat_id = update.effective_chat.id
    service = readers(context)
    change = None
    if phrases.valid:
        change = await (service.follow if follow else service.unfollow)(chat_id, phrases.valid)
    panel = await service.panel(chat_id)
    await context.reply(
        update,
        "follow_result" if follow else "unfollow_result",
        change=change,
        invalid=phrases.invalid,
        follows=[f.phrase for f in panel.choices.follows] if panel else [],
        subscribed=panel.choices.subscribed if panel else False,
        max_follows=MAX_FOLLOWS,
    )


def register(application: Application) -> None:
    """Wire /follow and /unfollow."""
    application.add_handler(CommandHandler("follow", follow))
    application.add_handler(CommandHandler("unfollow", unfollow))
