"""The one list of commands: /help, Telegram's command menu and the handlers follow it."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from telegram import Bot, BotCommand, BotCommandScopeChat, BotCommandScopeDefault
from telegram.error import BadRequest

from bot.render import LANGUAGES, Renderer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CommandInfo:
    """A command as readers see it; admin commands show only in operators' menus and help."""

    name: str
    admin: bool = False


COMMANDS: tuple[CommandInfo, ...] = (
    CommandInfo("start"),
    CommandInfo("help"),
    CommandInfo("latest"),
    CommandInfo("article"),
    CommandInfo("subscribe"),
    CommandInfo("unsubscribe"),
    CommandInfo("language"),
    CommandInfo("settings"),
    CommandInfo("languages"),
    CommandInfo("topics"),
    CommandInfo("follow"),
    CommandInfo("unfollow"),
    CommandInfo("digest"),
    CommandInfo("quiet"),
    CommandInfo("province"),
    CommandInfo("weather"),
    CommandInfo("weathertime"),
    CommandInfo("weatheralerts"),
    CommandInfo("weathermap"),
    CommandInfo("search"),
    CommandInfo("invite"),
    CommandInfo("feeds", admin=True),
    CommandInfo("post", admin=True),
    CommandInfo("edit", admin=True),
    CommandInfo("retract", admin=True),
    CommandInfo("cancel", admin=True),
    CommandInfo("stats", admin=True),
)


@dataclass(frozen=True)
class DescribedCommand:
    """A command with its description in one language."""

    name: str
    description: str


def describe(renderer: Renderer, lang: str, *, admin: bool) -> list[DescribedCommand]:
    """Commands visible to this reader, described in their language."""
    return [
        DescribedCommand(c.name, renderer.label(lang, f"cmd_{c.name}"))
        for c in COMMANDS
        if admin or not c.admin
    ]


async def publish_command_menu(bot: Bot, renderer: Renderer, admin_ids: frozenset[int]) -> None:
    """setMyCommands for readers in both languages, and the longer menu in each operator's chat."""
    for lang in LANGUAGES:
        commands = [BotCommand(c.name, c.description) for c in describe(renderer, lang, admin=False)]
        await bot.set_my_commands(commands, scope=BotCommandScopeDefault(), language_code=lang)
    default = [BotCommand(c.name, c.description) for c in describe(renderer, "en", admin=False)]
    await bot.set_my_commands(default, scope=BotCommandScopeDefault())
    admin_menu = [BotCommand(c.name, c.description) for c in describe(renderer, "en", admin=True)]
    if len(admin_menu) > len(default):
        for admin_id in admin_ids:
            try:
                await bot.set_my_commands(admin_menu, scope=BotCommandScopeChat(admin_id))
            except BadRequest as error:  # the operator has not started the bot yet
                log.info("no operator menu for %s yet: %s", admin_id, error)
