"""Keep the bot token out of logs, because it is part of every Bot API URL and grants full control."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from typing import Any

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Loggers that print full request URLs (and so the token) at INFO.
NOISY_LOGGERS = ("httpx", "httpcore", "aiohttp.access", "aiohttp.client")

# The token's ":" as it reaches a log line: plain, URL-encoded (%3A, %3a) or encoded again (%253A, ...)
# when a URL carrying the token is itself put into a URL. Its other characters are never encoded.
_COLON = r"(?::|%(?:25)*3[Aa])"
# Any Telegram bot token: <bot id digits>:<35 url-safe base64 chars>, optionally with the "bot" URL prefix.
_GENERIC = rf"(?P<prefix>bot)?\d+{_COLON}[A-Za-z0-9_-]{{35}}(?![A-Za-z0-9_-])"

_lock = threading.Lock()
_tokens: set[str] = set()
_pattern: re.Pattern[str] = re.compile(_GENERIC)
_previous_factory: Callable[..., logging.LogRecord] | None = None


def _build_pattern(tokens: set[str]) -> re.Pattern[str]:
    """Compile one alternation so every record costs a single regex pass."""
    literal = [
        rf"(?P<prefix{i}>bot)?{_literal(tok)}" for i, tok in enumerate(sorted(tokens, key=len, reverse=True))
    ]
    return re.compile("|".join([*literal, _GENERIC]))


def _literal(token: str) -> str:
    """A known token as a pattern that also matches its URL-encoded forms."""
    bot_id, colon, secret = token.partition(":")
    return re.escape(bot_id) + _COLON + re.escape(secret) if colon else re.escape(token)


def _replace(match: re.Match[str]) -> str:
    """Keep a 'bot' URL prefix visible so redacted URLs stay readable."""
    has_prefix = any(v for k, v in match.groupdict().items() if k.startswith("prefix"))
    return "bot<redacted>" if has_prefix else "<redacted>"


def redact(text: str) -> str:
    """Return text with every known or token-shaped secret replaced, for use in error messages too."""
    if ":" not in text and "%" not in text:
        return text
    return _pattern.sub(_replace, text)


def _redact_record(record: logging.LogRecord) -> None:
    """Merge args, then scrub message, exception text and stack so no handler sees a token."""
    try:
        message = record.getMessage()
    except Exception:  # malformed args: logging's error report would print msg and args raw
        message = f"{record.msg!s} [unformattable args: {record.args!r}]"
    record.msg = redact(message)
    record.args = None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


class RedactingFilter(logging.Filter):
    """Handler filter scrubbing records from every logger, since logger filters miss propagated records."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Scrub in place and never drop the record."""
        _redact_record(record)
        return True


def _install_factory() -> None:
    """Wrap the LogRecord factory so handlers added later (e.g. pytest's caplog) get scrubbed records too."""
    global _previous_factory
    if _previous_factory is not None:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        _redact_record(record)
        return record

    logging.setLogRecordFactory(factory)
    _previous_factory = previous


def install_log_redaction(token: str | None) -> None:
    """Scrub the token (and any token-shaped string) from all log output and silence URL-logging libraries."""
    global _pattern
    with _lock:
        if token:
            _tokens.add(token)
        _pattern = _build_pattern(_tokens)
        _install_factory()
        for handler in logging.getLogger().handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(RedactingFilter())
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def uninstall_log_redaction() -> None:
    """Undo install_log_redaction (factory, root handler filters, tokens) so tests leave logging as found."""
    global _previous_factory, _pattern
    with _lock:
        if _previous_factory is not None:
            logging.setLogRecordFactory(_previous_factory)
            _previous_factory = None
        for handler in logging.getLogger().handlers:
            for flt in [f for f in handler.filters if isinstance(f, RedactingFilter)]:
                handler.removeFilter(flt)
        _tokens.clear()
        _pattern = re.compile(_GENERIC)


def configure_logging(level: str = "INFO", token: str | None = None) -> None:
    """One-call logging setup for the bot process, so redaction can never be forgotten."""
    logging.basicConfig(level=level.upper(), format=FORMAT)
    logging.getLogger().setLevel(level.upper())
    install_log_redaction(token)
