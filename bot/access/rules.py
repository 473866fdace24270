"""The two rules: who may change a chat's state, and where operator commands answer."""

from __future__ import annotations

from collections.abc import Collection

from telegram import Bot, Update
from telegram.constants import ChatType

from bot.access.chat_admins import ChatAdmins


def in_operator_chat(update: Update, operators: Collection[int]) -> bool:
    """Operator commands work only in a private chat with an operator, so a group never sees their output."""
    chat, user = update.effective_chat, update.effective_user
    return chat is not None and chat.type == ChatType.PRIVATE and user is not None and user.id in operators


async def may_change_chat(update: Update, bot: Bot, admins: ChatAdmins, now: float) -> bool:
    """Anyone changes their own private chat; a group or channel only by its creator or an administrator.

    Messages an anonymous admin writes come from GroupAnonymousBot with the group as sender_chat (only
    admins can write as the group); their button presses carry their own account, which getChatMember
    reports as an (anonymous) administrator. A channel's own posts come from its admins by definition. A
    bot message's sender_chat (a button under a channel post) proves nothing about who pressed.
    """
    chat = update.effective_chat
    if chat is None:  # a button under an inline-mode message: no chat to change
        return False
    if chat.type == ChatType.PRIVATE:
        return True
    if update.channel_post is not None:
        return True
    message = update.message  # not effective_message: for a button press that is the bot's own message
    if message is not None and message.sender_chat is not None and message.sender_chat.id == chat.id:
        return True
    user = update.effective_user
    if user is None:
        return False
    return await admins.is_admin(bot, chat.id, user.id, now)
