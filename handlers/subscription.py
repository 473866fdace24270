"""/subscribe and /unsubscribe: idempotent, and they say what changed."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import TelegramError
from telegram.ext import Application, CommandHandler

from bot.context import NewsbotContext

log = logging.getLogger(__name__)
MANAGERS = (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)


async def may_manage(update: Update, context: NewsbotContext) -> bool:
    """Anyone in a private chat; in groups only admins (asked via getChatMember) or the group itself."""
    chat, user, message = update.effective_chat, update.effective_user, update.effective_message
    if chat.type in (ChatType.PRIVATE, ChatType.CHANNEL):
        return True
    if message is not None and message.sender_chat is not None and message.sender_chat.id == chat.id:
        return True  # an anonymous admin writes as the group
    if user is None:
        return False
    try:
        member = await context.bot.get_chat_member(chat.id, user.id)
    except TelegramError as error:
        log.warning("could not check whether %s administers chat %s: %s", user.id, chat.id, error)
        return False
    return member.status in MANAGERS


async def adopt_language(context: NewsbotContext, chat_id: int, lang: str) -> None:
    """A group or channel gets articles in the language of the admin who subscribed it, unless one is set."""
    record = await context.store.chats.get(chat_id)
    if record is not None and record.language is None:
        await context.store.chats.set_language(chat_id, lang)


async def subscribe(update: Update, context: NewsbotContext) -> None:
    """Subscribe this chat to every new article."""
    if not await may_manage(update, context):
        await context.reply(update, "subscription_admins_only")
        return
    chat = update.effective_chat
    if chat.type != ChatType.PRIVATE:
        await adopt_language(context, chat.id, context.lang)
    change = await context.store.chats.subscribe(chat.id)
    await context.reply(update, "subscription", subscribed=True, changed=change.changed)


async def unsubscribe(update: Update, context: NewsbotContext) -> None:
    """Stop new articles for this chat."""
    if not await may_manage(update, context):
        await context.reply(update, "subscription_admins_only")
        return
    change = await context.store.chats.unsubscribe(update.effective_chat.id)
    await context.reply(update, "subscription", subscribed=False, changed=change.changed)


def register(application: Application) -> None:
    """Wire the subscription commands."""
    application.add_handler(CommandHandler("subscribe", subscribe))
    application.add_handler(CommandHandler("unsubscribe", unsubscribe))
