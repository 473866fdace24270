"""The bot token must never reach log output, whatever path the text takes into a record."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from bot.logsafe import (
    FORMAT,
    NOISY_LOGGERS,
    RedactingFilter,
    configure_logging,
    install_log_redaction,
    redact,
    uninstall_log_redaction,
)

TOKEN = "987654321:AAF-x_9qLmNoPqRsTuVwXyZaBcDeFgHiJkL"  # 35 chars after the colon
OTHER = "11111:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"  # token-shaped, never registered
URL = f"https://api.telegram.org/bot{TOKEN}/sendMessage"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Redaction is process-global; undo it so other test modules see stock logging."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in NOISY_LOGGERS}
    yield
    uninstall_log_redaction()
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    for name, lvl in levels.items():
        logging.getLogger(name).setLevel(lvl)


def test_uninstall_restores_factory() -> None:
    before = logging.getLogRecordFactory()
    install_log_redaction(TOKEN)
    assert logging.getLogRecordFactory() is not before
    uninstall_log_redaction()
    assert logging.getLogRecordFactory() is before
    assert redact(URL) == "https://api.telegram.org/bot<redacted>/sendMessage"  # generic shape still caught


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """A root handler with the production format, so we check the exact text an operator would see."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(FORMAT))
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)


def test_redact_text() -> None:
    install_log_redaction(TOKEN)
    assert redact(URL) == "https://api.telegram.org/bot<redacted>/sendMessage"
    assert redact(f"token={TOKEN}") == "token=<redacted>"
    assert redact(f"/bot{OTHER}/getMe") == "/bot<redacted>/getMe"
    assert redact("chat 12:30, no secrets") == "chat 12:30, no secrets"


def test_token_in_args_and_exception_is_redacted(captured: io.StringIO) -> None:
    install_log_redaction(TOKEN)
    log = logging.getLogger("newsbot.test")
    log.info("POST %s -> %d", URL, 200)
    log.warning("bare token %s and other %s", TOKEN, OTHER)
    try:
        raise RuntimeError(f"connect failed for {URL}")
    except RuntimeError:
        log.exception("request failed")
    log.error("wrapped", exc_info=ValueError(f"bad {TOKEN}"))
    log.info("broken %d format", URL)  # bad args must not leak through logging's error report
    out = captured.getvalue()
    assert TOKEN not in out
    assert OTHER not in out
    assert "POST https://api.telegram.org/bot<redacted>/sendMessage -> 200" in out
    assert "connect failed for https://api.telegram.org/bot<redacted>/sendMessage" in out
    assert "bad <redacted>" in out
    assert "Traceback" in out  # exception text is kept, only scrubbed
    assert "broken %d format [unformattable args: ('https://api.telegram.org/bot<redacted>" in out


def test_caplog_sees_redacted_records(caplog: pytest.LogCaptureFixture) -> None:
    install_log_redaction(TOKEN)
    with caplog.at_level(logging.INFO):
        logging.getLogger("telegram.ext.Updater").info("polling %s", URL)
    assert TOKEN not in caplog.text
    assert "bot<redacted>" in caplog.text


def test_filter_on_existing_handlers_and_noisy_loggers() -> None:
    handler = logging.StreamHandler(io.StringIO())
    logging.getLogger().addHandler(handler)
    try:
        install_log_redaction(TOKEN)
        install_log_redaction(TOKEN)  # idempotent
        assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1
        # records that bypass the LogRecord factory (e.g. from a socket listener) are scrubbed too
        record = logging.makeLogRecord({"msg": "url %s", "args": (URL,), "levelno": logging.INFO})
        handler.handle(record)
        assert TOKEN not in handler.stream.getvalue()
    finally:
        logging.getLogger().removeHandler(handler)
    for name in ("httpx", "httpcore", "aiohttp.access", "aiohttp.client"):
        assert logging.getLogger(name).level == logging.WARNING


def test_configure_logging(captured: io.StringIO) -> None:
    configure_logging("debug", token=TOKEN)
    assert logging.getLogger().level == logging.DEBUG
    assert logging.getLogger("httpx").level == logging.WARNING
    logging.getLogger("httpx").info("HTTP Request: POST %s", URL)  # suppressed entirely
    logging.getLogger("newsbot").debug("calling %s", URL)
    out = captured.getvalue()
    assert "HTTP Request" not in out
    assert "DEBUG newsbot: calling https://api.telegram.org/bot<redacted>/sendMessage" in out
