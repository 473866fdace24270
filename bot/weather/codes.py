"""WMO weather interpretation codes, as Open-Meteo uses them; their words live in labels.html."""

from __future__ import annotations

WMO_EMOJI: dict[int, str] = {
    0: "☀️",
    1: "🌤",
    2: "⛅",
    3: "☁️",
    45: "🌫",
    48: "🌫",
    51: "🌦",
    53: "🌦",
    55: "🌦",
    56: "🌧",
    57: "🌧",
    61: "🌧",
    63: "🌧",
    65: "🌧",
    66: "🌧",
    67: "🌧",
    71: "🌨",
    73: "🌨",
    75: "❄️",
    77: "🌨",
    80: "🌦",
    81: "🌧",
    82: "⛈",
    85: "🌨",
    86: "❄️",
    95: "⛈",
    96: "⛈",
    99: "⛈",
}
WMO_CODES: tuple[int, ...] = tuple(WMO_EMOJI)
UNKNOWN_EMOJI = "🌡"


def weather_emoji(code: int | None) -> str:
    """The emoji for a WMO code; a code outside the table gets a neutral thermometer."""
    return WMO_EMOJI.get(code, UNKNOWN_EMOJI) if code is not None else UNKNOWN_EMOJI
