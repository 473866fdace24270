"""The /province picker: regions or first letters, then a page of provinces; short callback data."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.render import Renderer
from bot.weather.provinces import (
    Province,
    by_plate,
    first_letters,
    provinces_by_letter,
    provinces_in_region,
    regions,
)

PICKER_PREFIX = "prov:"
WEATHER_PREFIX = "wx:"  # "did you mean" buttons of /weather NAME: show, don't set
PAGE_SIZE = 9
COLUMNS = 3

ViewKind = Literal["regions", "letters", "region", "letter", "set"]
_DATA = re.compile(r"prov:(?:(R)|(L)|([rl]):([0-9]{1,2}):([0-9]{1,2})|s:([0-9]{1,2}))")
_WEATHER_DATA = re.compile(r"wx:([0-9]{1,2})")


@dataclass(frozen=True)
class PickerView:
    """One screen of the picker (or the final choice, kind "set" with the plate in `index`)."""

    kind: ViewKind
    index: int = 0
    page: int = 0

    @property
    def data(self) -> str:
        """Callback data for a button that opens this view; always well under 64 bytes."""
        if self.kind == "regions":
            return PICKER_PREFIX + "R"
        if self.kind == "letters":
            return PICKER_PREFIX + "L"
        if self.kind == "set":
            return f"{PICKER_PREFIX}s:{self.index}"
        return f"{PICKER_PREFIX}{self.kind[0]}:{self.index}:{self.page}"


@dataclass(frozen=True)
class PickerScreen:
    """What to show for a view: a heading for the template and the keyboard."""

    heading: str | None
    page: int
    pages: int
    keyboard: InlineKeyboardMarkup


def parse_picker_data(data: str | None) -> PickerView | None:
    """A button press back into a view; stale or forged data (unknown region, page, plate) is None."""
    match = _DATA.fullmatch(data or "")
    if match is None:
        return None
    regions_view, letters_view, kind, index, page, plate = match.groups()
    if regions_view:
        return PickerView("regions")
    if letters_view:
        return PickerView("letters")
    if plate is not None:
        return PickerView("set", int(plate)) if by_plate(int(plate)) else None
    view = PickerView("region" if kind == "r" else "letter", int(index), int(page))
    provinces = _provinces(view)
    if provinces is None or view.page >= _pages(provinces):
        return None
    return view


def parse_weather_data(data: str | None) -> Province | None:
    """The province of a /weather "did you mean" button, or None for stale data."""
    match = _WEATHER_DATA.fullmatch(data or "")
    return None if match is None else by_plate(int(match.group(1)))


def picker_screen(renderer: Renderer, lang: str, view: PickerView) -> PickerScreen:
    """The heading and keyboard of a (parsed, valid) view."""
    if view.kind == "regions":
        buttons = [
            _button(name_tr if lang == "tr" else name_en, PickerView("region", i))
            for i, (name_tr, name_en) in enumerate(regions())
        ]
        rows = [
            *_rows(buttons, 2),
            [_button(renderer.label(lang, "picker_by_letter"), PickerView("letters"))],
        ]
        return PickerScreen(None, 0, 1, InlineKeyboardMarkup(rows))
    if view.kind == "letters":
        buttons = [_button(letter, PickerView("letter", i)) for i, letter in enumerate(first_letters())]
        rows = [
            *_rows(buttons, 6),
            [_button(renderer.label(lang, "picker_by_region"), PickerView("regions"))],
        ]
        return PickerScreen(None, 0, 1, InlineKeyboardMarkup(rows))
    provinces = _provinces(view)
    assert provinces is not None, "views come from parse_picker_data or from this module"
    pages = _pages(provinces)
    shown = provinces[view.page * PAGE_SIZE : (view.page + 1) * PAGE_SIZE]
    rows = _rows([_button(p.name, PickerView("set", p.plate)) for p in shown], COLUMNS)
    navigation = []
    if view.page > 0:
        navigation.append(
            _button(renderer.label(lang, "picker_previous"), PickerView(view.kind, view.index, view.page - 1))
        )
    back = PickerView("regions" if view.kind == "region" else "letters")
    navigation.append(_button(renderer.label(lang, "picker_back"), back))
    if view.page + 1 < pages:
        navigation.append(
            _button(renderer.label(lang, "picker_next"), PickerView(view.kind, view.index, view.page + 1))
        )
    return PickerScreen(_heading(view, lang), view.page, pages, InlineKeyboardMarkup([*rows, navigation]))


def suggestion_keyboard(suggestions: tuple[Province, ...], *, for_weather: bool) -> InlineKeyboardMarkup:
    """ "Did you mean" buttons: set the home province, or (for /weather NAME) show that forecast."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    p.name,
                    callback_data=f"{WEATHER_PREFIX}{p.plate}"
                    if for_weather
                    else PickerView("set", p.plate).data,
                )
            ]
            for p in suggestions
        ]
    )


def _provinces(view: PickerView) -> list[Province] | None:
    if view.kind == "region":
        all_regions = regions()
        return provinces_in_region(all_regions[view.index][1]) if view.index < len(all_regions) else None
    letters = first_letters()
    return provinces_by_letter(letters[view.index]) if view.index < len(letters) else None


def _heading(view: PickerView, lang: str) -> str:
    if view.kind == "region":
        name_tr, name_en = regions()[view.index]
        return name_tr if lang == "tr" else name_en
    return first_letters()[view.index]


def _pages(provinces: list[Province]) -> int:
    return max(1, math.ceil(len(provinces) / PAGE_SIZE))


def _button(text: str, view: PickerView) -> InlineKeyboardButton:
    return InlineKeyboardButton(text, callback_data=view.data)


def _rows(buttons: list[InlineKeyboardButton], width: int) -> list[list[InlineKeyboardButton]]:
    return [buttons[i : i + width] for i in range(0, len(buttons), width)]
