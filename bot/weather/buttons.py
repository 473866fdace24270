"""The map button under every weather message, and its short callback data ("wxmap:34")."""

from __future__ import annotations

import re

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.render import Renderer
from bot.weather.provinces import by_plate

MAP_PREFIX = "wxmap:"  # "wxmap:34": the map with İstanbul, the message's province, outlined
_MAP_DATA = re.compile(r"wxmap:([0-9]{1,2})")


def map_keyboard(renderer: Renderer, lang: str, plate: int) -> InlineKeyboardMarkup:
    """The button under a weather message: the map, with that message's province outlined."""
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(renderer.label(lang, "map_button"), callback_data=f"{MAP_PREFIX}{plate}")]]
    )


def parse_map_data(data: str | None) -> int | None:
    """The province of a map button, or None for stale or forged data."""
    match = _MAP_DATA.fullmatch(data or "")
    if match is None or by_plate(int(match.group(1))) is None:
        return None
    return int(match.group(1))
