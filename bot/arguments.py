"""Pure parsers for command arguments; anything odd becomes None, never an exception."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.news.languages import AUTO, normalize_language
from bot.news.sections import SectionLabel, parse_section_label, shown

_DIGITS = re.compile(r"#?(\d{1,9})")
DEEP_LINK_PAYLOAD = re.compile(r"[A-Za-z0-9_-]{1,64}")
_COMMAND = re.compile(r"\s*/\S*")
_POST_COMMAND = re.compile(r"\s*/[A-Za-z0-9_]*(?:@[A-Za-z0-9_]+)?(!?)")  # /post! is breaking news


def parse_count(args: Sequence[str], *, default: int, maximum: int) -> int | None:
    """`/latest`, `/latest 5`: a whole number from 1 to maximum, else None."""
    if not args:
        return default
    value = _single_number(args)
    return value if value is not None and 1 <= value <= maximum else None


def parse_id(args: Sequence[str]) -> int | None:
    """`/article 12` or `/article #12`: a positive id, else None."""
    value = _single_number(args)
    return value if value is not None and value >= 1 else None


def _single_number(args: Sequence[str]) -> int | None:
    if len(args) != 1:
        return None
    match = _DIGITS.fullmatch(args[0])
    return None if match is None else int(match.group(1))


def parse_deep_link(args: Sequence[str]) -> str | None:
    """`/start PAYLOAD`: Telegram's deep-link alphabet and length, else None."""
    if len(args) != 1 or DEEP_LINK_PAYLOAD.fullmatch(args[0]) is None:
        return None
    return args[0]


POST_TITLE_MAX = 300
POST_BODY_MAX = 3500


@dataclass(frozen=True)
class ArticleOptions:
    """An operator's word on language, section and breaking; None where they said nothing."""

    language: str | None = None  # an ISO 639-1 code, or AUTO (detect again; feeds only)
    section: SectionLabel | None = None
    breaking: bool | None = None

    @property
    def given(self) -> bool:
        """Whether any option was given (re-adding a feed with options changes it)."""
        return self.language is not None or self.section is not None or self.breaking is not None


@dataclass(frozen=True)
class OptionError:
    """A refused option: `problem` is "language", "section" or "option"; `value` is cut short to show."""

    problem: str
    value: str


@dataclass(frozen=True)
class PostText:
    """An admin's statement written in Telegram: the first line is the headline, the rest the body."""

    title: str
    body: str
    options: ArticleOptions = ArticleOptions()


@dataclass(frozen=True)
class FeedsCommand:
    """/feeds, /feeds add URL [options], /feeds remove URL."""

    action: str  # list | add | remove
    url: str = ""
    options: ArticleOptions = ArticleOptions()


# A token: unquoted characters and "quoted runs" (a quote left open runs to the end of the line).
_TOKEN = re.compile(r'(?:[^\s"]|"[^"]*(?:"|$))+')
_QUOTES = str.maketrans({c: '"' for c in "“”„‟«»″"})  # phones type “smart” quotes; one for one
_LOOKS_LIKE_OPTION = re.compile(r"--[A-Za-z]|[A-Za-z][\w-]*=")
_LANGUAGE_KEYS = ("lang", "language")
_KEYS = (*_LANGUAGE_KEYS, "section", "breaking", "no-breaking")
_ON = ("on", "yes", "1", "true", "evet")
_OFF = ("off", "no", "0", "false", "hayir", "hayır")


def parse_language_option(value: str, *, allow_auto: bool) -> str | None:
    """An operator's language: `en`, `en-US` -> `en`; `auto` where allowed; None when it is no language."""
    if allow_auto and value.strip().lower() == AUTO:
        return AUTO
    return normalize_language(value)


def _tokens(line: str) -> list[tuple[str, int]]:
    """The line's tokens with quotes removed, each with the offset just after it."""
    scanned = line.translate(_QUOTES)
    return [(m.group(0).replace('"', ""), m.end()) for m in _TOKEN.finditer(scanned)]


def _options(
    tokens: list[tuple[str, int]], *, bare_breaking: bool, allow_auto: bool
) -> tuple[ArticleOptions, int] | OptionError:
    """Read leading option tokens; returns the options and how many tokens they took."""
    language: str | None = None
    section: SectionLabel | None = None
    breaking: bool | None = None
    index = 0
    while index < len(tokens):
        token = _dashes(tokens[index][0])
        lowered = token.lower()
        if lowered == "--breaking" or (bare_breaking and lowered == "breaking"):
            breaking, index = True, index + 1
            continue
        if lowered == "--no-breaking":
            breaking, index = False, index + 1
            continue
        if not _LOOKS_LIKE_OPTION.match(token):
            break
        key, equals, value = token.partition("=")
        key = key.lower().lstrip("-")
        if not equals:
            valued = key in (*_LANGUAGE_KEYS, "section") and token.startswith("--")
            if not valued or index + 1 >= len(tokens):
                return OptionError("option", shown(token))
            index += 1
            value = tokens[index][0]
        if key in _LANGUAGE_KEYS:
            language = parse_language_option(value, allow_auto=allow_auto)
            if language is None:
                return OptionError("language", shown(value))
        elif key == "section":
            section = parse_section_label(value)
            if section is None:
                return OptionError("section", shown(value))
        elif key == "breaking" and value.lower() in (*_ON, *_OFF):
            breaking = value.lower() in _ON
        else:
            return OptionError("option", shown(token))
        index += 1
    return ArticleOptions(language, section, breaking), index


def _dashes(token: str) -> str:
    """Phones turn `--` into a dash (`—breaking`); a dash before a known option name means `--`."""
    if token[:1] in "—–" and token[1:].partition("=")[0].lower() in _KEYS:
        return "--" + token[1:]
    return token


def parse_post(message_text: str) -> PostText | OptionError | None:
    """`/post[!] [lang=en] [section="Spor/Sports"] [--breaking] Headline` then body lines.

    Options come first on the command's line; the first word that is no option starts the headline.
    None when the headline or body is empty or too long; OptionError for a refused option.
    """
    command = _POST_COMMAND.match(message_text)
    rest = message_text[command.end() :] if command else message_text
    first_line, newline, remainder = rest.partition("\n")
    tokens = _tokens(first_line)
    parsed = _options(tokens, bare_breaking=False, allow_auto=False)
    if isinstance(parsed, OptionError):
        return parsed
    options, used = parsed
    if used:
        first_line = first_line[tokens[used - 1][1] :]
    if command and command.group(1):  # /post! Headline
        options = ArticleOptions(options.language, options.section, True)
    title, _newline, body = (first_line + newline + remainder).strip().partition("\n")
    title, body = " ".join(title.split()), body.strip()
    if not title or not body or len(title) > POST_TITLE_MAX or len(body) > POST_BODY_MAX:
        return None
    return PostText(title, body, options)


def parse_feeds(message_text: str) -> FeedsCommand | OptionError | None:
    """`/feeds`, `/feeds remove URL`, `/feeds add URL [language=en|auto] [section="A/B"] [breaking[=off]]`."""
    command = _COMMAND.match(message_text)
    rest = (message_text[command.end() :] if command else message_text).replace("\n", " ")
    words = [token for token, _end in _tokens(rest)]
    if not words:
        return FeedsCommand("list")
    action = words[0].lower()
    if action == "remove" and len(words) == 2:
        return FeedsCommand("remove", words[1])
    if action != "add" or len(words) < 2:
        return None
    tokens = _tokens(rest)[2:]
    parsed = _options(tokens, bare_breaking=True, allow_auto=True)
    if isinstance(parsed, OptionError):
        return parsed
    options, used = parsed
    if used < len(tokens):
        return OptionError("option", shown(tokens[used][0]))
    return FeedsCommand("add", words[1], options)


def parse_offset(text: str, *, maximum: int) -> int | None:
    """An inline query's paging offset: "" is the start, a number up to maximum, anything else None."""
    if not text:
        return 0
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        return None
    value = int(text)
    return value if value <= maximum else None
