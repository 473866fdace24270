"""Who may do what: a chat's admins change its settings, operators use operator commands in private."""

from bot.access.chat_admins import ChatAdmins
from bot.access.rules import in_operator_chat, may_change_chat

__all__ = ["ChatAdmins", "in_operator_chat", "may_change_chat"]
