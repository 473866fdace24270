"""The bot's own membership: blocks and unblocks, groups and channels adding or removing it, migrations."""

from __future__ import annotations

from telegram import Update
from telegram.constants import ChatMemberStatus, ChatType
from telegram.ext import Application, ChatMemberHandler, MessageHandler, filters

from bot.context import NewsbotContext
from handlers.subscription import adopt_language

GONE = (ChatMemberStatus.BANNED, ChatMemberStatus.LEFT)


async def membership_changed(update: Update, context: NewsbotContext) -> None:
    """Private: kicked = blocked, member = unblocked. Channels subscribe while the bot is an admin."""
    change = update.my_chat_member
    chat, status = change.chat, change.new_chat_member.status
    outbox, chats = context.store.outbox, context.store.chats
    if chat.type == ChatType.PRIVATE:
        if status == ChatMemberStatus.BANNED:
            await outbox.deactivate_chat(chat.id, "blocked the bot")
        elif status == ChatMemberStatus.MEMBER:
            await chats.mark_reachable(chat.id, True)
    elif chat.type == ChatType.CHANNEL:
        if status == ChatMemberStatus.ADMINISTRATOR:
            await adopt_language(context, chat.id, context.lang)
            await chats.subscribe(chat.id)
        else:
            await outbox.end_subscription(chat.id, "the channel removed the bot as admin")
    elif status in GONE:
        await outbox.end_subscription(chat.id, "removed from the group")
    else:
        await chats.mark_reachable(chat.id, True)


async def group_migrated(update: Update, context: NewsbotContext) -> None:
    """A group became a supergroup: its subscription and queued articles follow it."""
    message = update.effective_message
    if message.migrate_to_chat_id:
        await context.store.outbox.migrate_chat(message.chat.id, message.migrate_to_chat_id)


def register(application: Application) -> None:
    """Wire my_chat_member updates and group migrations."""
    application.add_handler(ChatMemberHandler(membership_changed, ChatMemberHandler.MY_CHAT_MEMBER))
    application.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, group_migrated))
