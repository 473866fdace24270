"""The /settings message and its screens: what they show, their buttons, and what a press asks for.

Callback data ("cfg:" + screen [+ ":" action ":" value]) stays under Telegram's 64 bytes and names the
choice itself, not a position in a list, so pressing an old button does what it says or nothing:
  cfg:m | cfg:l | cfg:s | cfg:f | cfg:d | cfg:q         show a screen
  cfg:<screen>:L:en.tr                                   article languages (shown again on that screen)
  cfg:s:-:<section id> | cfg:s:+:<section id> | cfg:s:*  section off / on / all on
  cfg:f:x:<follow key>                                   stop following a phrase
  cfg:d:T:off | cfg:d:T:0800.1830                        digest times
  cfg:q:Q:off | cfg:q:Q:2200-0700                        quiet hours
  cfg:m:W:1 | cfg:m:W:0                                  the morning forecast with the map, or text only
Under pushed articles: "mute:<section id>" and its undo "unmute:<section id>".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.readers.schedule import MAX_DIGEST_TIMES, format_minute, parse_minute
from bot.readers.service import Panel, ReaderService, follow_key
from bot.render import LANGUAGES, Renderer
from bot.views import RenderedMessage
from storage.readers import MAX_FOLLOWS

PANEL_PREFIX = "cfg:"
MUTE_PREFIX = "mute:"
UNMUTE_PREFIX = "unmute:"
SCREENS = {"m": "main", "l": "languages", "s": "sections", "f": "follows", "d": "digest", "q": "quiet"}
DIGEST_PRESETS: tuple[tuple[int, ...], ...] = ((), (480,), (480, 1080), (450, 750, 1140))
QUIET_PRESETS: tuple[tuple[int, int] | None, ...] = (None, (1320, 420), (1380, 480), (0, 420))
LANGUAGE_CHOICES: tuple[tuple[str, ...], ...] = (("tr",), ("en",), tuple(sorted(LANGUAGES)))

_SECTION_ID = r"[0-9]{1,9}"
_HHMM = r"[0-9]{4}"
_DATA = re.compile(
    rf"cfg:(?P<screen>[mlsfdq])(?::(?:"
    rf"L:(?P<languages>[a-z]{{2}}(?:\.[a-z]{{2}}){{0,3}})"
    rf"|(?P<toggle>[-+]):(?P<section>{_SECTION_ID})|(?P<all>\*)"
    rf"|x:(?P<follow>[0-9a-f]{{10}})"
    rf"|T:(?P<digest>off|{_HHMM}(?:\.{_HHMM}){{0,{MAX_DIGEST_TIMES - 1}}})"
    rf"|Q:(?P<quiet>off|{_HHMM}-{_HHMM})"
    rf"|W:(?P<weather_map>[01])"
    rf"))?"
)
_MUTE_DATA = re.compile(rf"(mute|unmute):({_SECTION_ID})")


@dataclass(frozen=True)
class PanelAction:
    """A press on the settings message: the screen to show afterwards and the change to make, if any."""

    screen: str  # a key of SCREENS
    kind: str | None = None  # languages | mute | unmute | all_on | unfollow | digest | quiet | weather_map
    value: Any = None

    @property
    def changes(self) -> bool:
        """Whether the press changes a setting (in groups only admins may)."""
        return self.kind is not None


def parse_panel_data(data: str | None) -> PanelAction | None:
    """Callback data back into an action; forged or garbled data (and impossible values) is None."""
    match = _DATA.fullmatch(data or "")
    if match is None:
        return None
    screen = match["screen"]
    if match["languages"]:
        languages = tuple(sorted(set(match["languages"].split("."))))
        if any(lang not in LANGUAGES for lang in languages):
            return None
        return PanelAction(screen, "languages", languages)
    if match["toggle"]:
        kind = "mute" if match["toggle"] == "-" else "unmute"
        return PanelAction(screen, kind, int(match["section"])) if screen == "s" else None
    if match["all"]:
        return PanelAction(screen, "all_on") if screen == "s" else None
    if match["follow"]:
        return PanelAction(screen, "unfollow", match["follow"]) if screen == "f" else None
    if match["digest"]:
        minutes = _minutes(match["digest"].split(".")) if match["digest"] != "off" else ()
        minutes = None if minutes is None else tuple(sorted(set(minutes)))
        return PanelAction(screen, "digest", minutes) if screen == "d" and minutes is not None else None
    if match["weather_map"]:
        return PanelAction(screen, "weather_map", match["weather_map"] == "1") if screen == "m" else None
    if match["quiet"]:
        if match["quiet"] == "off":
            return PanelAction(screen, "quiet", None) if screen == "q" else None
        hours = _minutes(match["quiet"].split("-"))
        if screen != "q" or hours is None or hours[0] == hours[1]:
            return None
        return PanelAction(screen, "quiet", hours)
    return PanelAction(screen)


def parse_mute_data(data: str | None) -> tuple[bool, int] | None:
    """ "mute:3" -> (True, 3), "unmute:3" -> (False, 3); anything else None."""
    match = _MUTE_DATA.fullmatch(data or "")
    return None if match is None else (match.group(1) == "mute", int(match.group(2)))


def mute_data(section_id: int, *, mute: bool) -> str:
    """Callback data of the mute button under a pushed article, and of its undo."""
    return f"{MUTE_PREFIX if mute else UNMUTE_PREFIX}{section_id}"


async def apply(service: ReaderService, chat_id: int, action: PanelAction) -> bool:
    """Make the change a press asks for; False when it names something that no longer exists."""
    if action.kind == "languages":
        return await service.set_languages(chat_id, action.value)
    if action.kind in ("mute", "unmute"):
        return await service.set_section(chat_id, action.value, on=action.kind == "unmute") is not None
    if action.kind == "all_on":
        await service.all_sections_on(chat_id)
    elif action.kind == "unfollow":
        return await service.unfollow_key(chat_id, action.value) is not None
    elif action.kind == "digest":
        await service.set_digest(chat_id, action.value)
    elif action.kind == "quiet":
        await service.set_quiet(chat_id, *(action.value or (None, None)))
    elif action.kind == "weather_map":
        await service.set_weather_map(chat_id, action.value)
    return True


def screen(renderer: Renderer, lang: str, name: str, panel: Panel) -> RenderedMessage:
    """One screen of the settings message (a key of SCREENS), text and buttons, in the reader's language."""
    view = _view(lang, panel)
    text = renderer.message(lang, f"settings_{SCREENS[name]}", view=view)
    return RenderedMessage(text, InlineKeyboardMarkup(_keyboard(renderer, lang, name, panel)))


def replace_button(
    markup: InlineKeyboardMarkup, data: str, button: InlineKeyboardButton
) -> InlineKeyboardMarkup:
    """The same keyboard with the button whose callback data is `data` swapped for another."""
    return InlineKeyboardMarkup(
        [[button if b.callback_data == data else b for b in row] for row in markup.inline_keyboard]
    )


def quiet_text(start: int | None, end: int | None) -> tuple[str, str] | None:
    """Quiet hours for a template: ("22:00", "07:00"), or None when off."""
    return None if start is None or end is None else (format_minute(start), format_minute(end))


def _view(lang: str, panel: Panel) -> dict[str, Any]:
    """Everything a settings template shows, as plain values (the templates escape them)."""
    choices = panel.choices
    return {
        "subscribed": choices.subscribed,
        "languages": choices.languages,
        "languages_chosen": choices.languages_chosen,
        "sections": [(s.label(lang), s.id not in choices.muted_sections) for s in panel.sections],
        "muted": [s.label(lang) for s in panel.muted],
        "follows": [f.phrase for f in choices.follows],
        "max_follows": MAX_FOLLOWS,
        "digest": [format_minute(minute) for minute in panel.digest_minutes],
        "quiet": quiet_text(choices.quiet_start, choices.quiet_end),
    }


def _keyboard(renderer: Renderer, lang: str, name: str, panel: Panel) -> list[list[InlineKeyboardButton]]:
    def button(macro: str, data: str, *args: Any) -> InlineKeyboardButton:
        return InlineKeyboardButton(renderer.label(lang, macro, *args), callback_data=PANEL_PREFIX + data)

    choices = panel.choices
    back = [button("settings_back", "m")]
    if name in ("m", "l"):
        languages = [
            button("languages_button", f"{name}:L:{'.'.join(c)}", "+".join(c), c == choices.languages)
            for c in LANGUAGE_CHOICES
        ]
        if name == "l":
            return [languages, back]
        return [
            languages,
            [button("settings_sections", "s"), button("settings_follows", "f")],
            [button("settings_digest", "d"), button("settings_quiet", "q")],
            [button("settings_weather_map", f"m:W:{0 if choices.weather_map else 1}", choices.weather_map)],
        ]
    if name == "s":
        toggles = [
            button("section_toggle", f"s:{_toggle(s.id, choices.muted_sections)}", s.label(lang), on)
            for s in panel.sections
            for on in [s.id not in choices.muted_sections]
        ]
        rows = _rows(toggles, 2)
        if panel.muted:
            rows.append([button("sections_all_on", "s:*")])
        return [*rows, back]
    if name == "f":
        removes = [
            button("unfollow_button", f"f:x:{follow_key(f.folded)}", f.phrase) for f in choices.follows
        ]
        return [*_rows(removes, 2), back]
    if name == "d":
        digests = [
            button(
                "digest_preset",
                "d:T:" + (_compact(preset, ".") or "off"),
                [format_minute(m) for m in preset],
                preset == panel.digest_minutes,
            )
            for preset in DIGEST_PRESETS
        ]
        return [*_rows(digests, 2), back]
    current = None if choices.quiet_start is None else (choices.quiet_start, choices.quiet_end)
    quiets = [
        button(
            "quiet_preset",
            "q:Q:" + ("off" if preset is None else _compact(preset, "-")),
            None if preset is None else quiet_text(*preset),
            preset == current,
        )
        for preset in QUIET_PRESETS
    ]
    return [*_rows(quiets, 2), back]


def _toggle(section_id: int, muted: frozenset[int]) -> str:
    """ "+:3" switches a muted section on, "-:3" switches it off."""
    return f"{'+' if section_id in muted else '-'}:{section_id}"


def _compact(minutes: tuple[int, ...], separator: str) -> str:
    """(480, 1110) -> "0800.1830": times in callback data."""
    return separator.join(format_minute(minute).replace(":", "") for minute in minutes)


def _rows(buttons: list[InlineKeyboardButton], width: int) -> list[list[InlineKeyboardButton]]:
    return [buttons[i : i + width] for i in range(0, len(buttons), width)]


def _minutes(parts: list[str]) -> tuple[int, ...] | None:
    minutes = [parse_minute(f"{part[:2]}:{part[2:]}") for part in parts]
    if any(minute is None for minute in minutes):
        return None
    return tuple(minute for minute in minutes if minute is not None)
