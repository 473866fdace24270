"""Operator configuration from environment variables and an optional `.env` file."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from bot.logsafe import redact
from bot.news.languages import ISO_639_1
from bot.sources.addresses import FetchAllow
from bot.sources.links import http_url_parts
from storage.postgres.sql import redact_url

DEFAULT_BOT_API_URL = "https://api.telegram.org/bot"
DEFAULT_WEATHER_API_URL = "https://api.open-meteo.com/v1/forecast"
MIN_FEED_INTERVAL = 1.0
MAX_FEED_INTERVAL = 86_400.0
MAX_DAYS = 36_500  # a century: anything longer is a typo
DEFAULT_USER_RATE = (20, 10.0)  # updates per seconds one sender may send before being ignored a while
MAX_USER_RATE_COUNT = 10_000
MAX_USER_RATE_SECONDS = 3_600.0


class SettingsError(ValueError):
    """A configuration value an operator must fix; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    """Everything the bot reads from its environment, validated once at start."""

    token: str | None = field(default=None, repr=False)  # a repr ends up in logs and tracebacks
    db_path: Path = Path("newsbot.db")
    # NEWSBOT_DATABASE_URL: PostgreSQL instead of the SQLite file; never shown (it may hold a password).
    database_url: str | None = field(default=None, repr=False)
    bot_api_url: str = DEFAULT_BOT_API_URL
    admin_ids: frozenset[int] = field(default_factory=frozenset)
    feed_interval: float = 300.0
    broadcast_rate: int = 30
    paid_broadcast: bool = False
    weather_api_url: str = DEFAULT_WEATHER_API_URL
    webhook_secret: str | None = field(default=None, repr=False)
    log_level: str = "INFO"
    retention_days: int = 14  # finished deliveries are kept this long, then only counted (bot/maintenance.py)
    default_language: str = "tr"  # articles whose language no operator, feed or page gave
    fetch_allow: FetchAllow = field(default_factory=FetchAllow)  # private hosts content fetches may reach
    private_chat_interval: float = 1.0  # Telegram's per-chat pace; tests shorten it, operators don't need to
    send_margin: float = 0.02  # seconds added to each one-second window against network jitter (bot/app.py)
    user_rate: tuple[int, float] | None = DEFAULT_USER_RATE  # None: no per-sender limit (bot/intake/)
    user_quiet: float = 30.0  # seconds a sender over user_rate is ignored (longer while they keep it up)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")
    ) -> Settings:
        """Read the process environment over `.env`, so the shell always wins."""
        values: dict[str, str] = {}
        if env_file is not None and env_file.is_file():
            values.update(read_env_file(env_file))
        values.update(os.environ if environ is None else environ)
        return cls.from_mapping(values)

    @classmethod
    def from_mapping(cls, values: Mapping[str, str]) -> Settings:
        """Validate every variable so a typo fails at start with its name, not later."""

        def get(name: str) -> str | None:
            value = values.get(name)
            return value.strip() if value is not None and value.strip() else None

        token = get("TELEGRAM_BOT_TOKEN")
        if token is not None and (":" not in token or any(c.isspace() for c in token)):
            raise SettingsError(
                "TELEGRAM_BOT_TOKEN: not a bot token (expected 123456:ABC-DEF..., from @BotFather)"
            )
        return cls(
            token=token,
            db_path=Path(get("NEWSBOT_DB") or "newsbot.db"),
            database_url=_database_url(get("NEWSBOT_DATABASE_URL")),
            bot_api_url=_bot_api_url(get("NEWSBOT_BOT_API_URL")),
            admin_ids=_ids(get("NEWSBOT_ADMIN_IDS")),
            feed_interval=_seconds(get("NEWSBOT_FEED_INTERVAL"), "NEWSBOT_FEED_INTERVAL", 300.0),
            broadcast_rate=_integer(get("NEWSBOT_BROADCAST_RATE"), "NEWSBOT_BROADCAST_RATE", 30, 1, 1000),
            paid_broadcast=_flag(get("NEWSBOT_PAID_BROADCAST"), "NEWSBOT_PAID_BROADCAST"),
            weather_api_url=_url(
                get("NEWSBOT_WEATHER_API_URL"), "NEWSBOT_WEATHER_API_URL", DEFAULT_WEATHER_API_URL
            ),
            webhook_secret=_secret(get("NEWSBOT_WEBHOOK_SECRET")),
            log_level=_log_level(get("NEWSBOT_LOG_LEVEL")),
            retention_days=_integer(get("NEWSBOT_RETENTION_DAYS"), "NEWSBOT_RETENTION_DAYS", 14, 1, MAX_DAYS),
            default_language=_language(get("NEWSBOT_DEFAULT_LANGUAGE")),
            fetch_allow=_fetch_allow(get("NEWSBOT_FETCH_ALLOW")),
            user_rate=_user_rate(get("NEWSBOT_USER_RATE")),
            send_margin=_send_margin(get("NEWSBOT_SEND_MARGIN")),
        )

    @property
    def database(self) -> Path | str:
        """What Store.open opens: the PostgreSQL URL when one is set, else the SQLite file."""
        return self.database_url or self.db_path

    def webhook_secret_token(self) -> str:
        """Derive a stable secret from the token so restarts keep accepting Telegram's webhook calls."""
        if self.webhook_secret:
            return self.webhook_secret
        return hashlib.sha256(f"newsbot-webhook:{self.token}".encode()).hexdigest()[:48]


def read_env_file(path: Path) -> dict[str, str]:
    """Parse KEY=VALUE lines the way docker and most shells' dotenv tools do."""
    result: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        key = key.removeprefix("export ").strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        result[key] = value
    return result


def _database_url(value: str | None) -> str | None:
    """A postgresql:// URL with a host and a database name; the message never repeats its password."""
    if value is None:
        return None
    shown = redact_url(value)
    try:
        parts = urlsplit(value)
        _ = parts.port  # a port that is not a number raises here
    except ValueError:
        raise SettingsError(f"NEWSBOT_DATABASE_URL: not a valid URL ({shown})") from None
    if parts.scheme not in ("postgresql", "postgres"):
        raise SettingsError(
            f"NEWSBOT_DATABASE_URL: expected postgresql://user:password@host:5432/dbname, got {shown}"
        )
    if not parts.hostname and "host=" not in parts.query:
        raise SettingsError(f"NEWSBOT_DATABASE_URL: no host in {shown}")
    if not parts.path.strip("/"):
        raise SettingsError(f"NEWSBOT_DATABASE_URL: no database name in {shown} (add /dbname)")
    return value


def _url(value: str | None, name: str, default: str) -> str:
    """An http(s) URL with a host and a usable port, checked here so no library raises on it later."""
    if value is None:
        return default
    if http_url_parts(value) is None:
        raise SettingsError(
            f"{name}: expected an http(s) URL, http(s)://host[:port]/... with a port from 1 to 65535, "
            f"got {_shown_url(value)}"
        )
    return value


def _bot_api_url(value: str | None) -> str:
    """PTB's base_url: the token is appended to it, so without the trailing /bot it lands in the port."""
    url = _url(value, "NEWSBOT_BOT_API_URL", DEFAULT_BOT_API_URL)
    parts = http_url_parts(url)
    if parts is None or parts.query or parts.fragment or not url.endswith("/bot"):
        raise SettingsError(
            "NEWSBOT_BOT_API_URL: expected an http(s) URL ending in /bot (the token is appended to it), "
            f"e.g. {DEFAULT_BOT_API_URL} or http://localhost:8081/bot, got {_shown_url(url)}"
        )
    return url


def _shown_url(value: str) -> str:
    """A URL for an error line: a token pasted into it stays out of the terminal and the logs."""
    shown = redact(value)
    return repr(shown if len(shown) <= 100 else shown[:100] + "...")


def _ids(value: str | None) -> frozenset[int]:
    if value is None:
        return frozenset()
    parts = [part for part in value.replace(" ", "").split(",") if part]
    if not all(part.isascii() and part.isdigit() and 0 < int(part) < 2**63 for part in parts):
        raise SettingsError(
            f"NEWSBOT_ADMIN_IDS: expected comma-separated numeric Telegram user ids, got {value!r}"
        )
    return frozenset(int(part) for part in parts)


def _send_margin(value: str | None) -> float:
    """Seconds added to each one-second send window: 0 to 0.5 (0.5 s costs a third of the rate)."""
    if value is None:
        return 0.02
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not 0.0 <= number <= 0.5:  # NaN fails this test too
        raise SettingsError(f"NEWSBOT_SEND_MARGIN: expected seconds from 0 to 0.5, got {value[:20]!r}")
    return number


def _seconds(value: str | None, name: str, default: float) -> float:
    """A number of seconds from 1 to a day: smaller would hammer the feeds, larger overflows the scheduler."""
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not MIN_FEED_INTERVAL <= number <= MAX_FEED_INTERVAL:  # NaN fails this test too
        raise SettingsError(
            f"{name}: expected a number of seconds from {MIN_FEED_INTERVAL:g} to {MAX_FEED_INTERVAL:g}, "
            f"got {value!r}"
        )
    return number


def _integer(value: str | None, name: str, default: int, low: int, high: int) -> int:
    """A whole number in [low, high]; "0.5" is refused rather than rounded down to something unusable."""
    if value is None:
        return default
    if not (value.isascii() and value.isdigit() and len(value) <= 9) or not low <= int(value) <= high:
        shown = value if len(value) <= 20 else value[:20] + "..."
        raise SettingsError(f"{name}: expected a whole number from {low} to {high}, got {shown!r}")
    return int(value)


def _user_rate(value: str | None) -> tuple[int, float] | None:
    """N/SECONDS (at most N updates from one sender in any SECONDS), or off."""
    if value is None:
        return DEFAULT_USER_RATE
    if value.lower() == "off":
        return None
    count, _, seconds = value.replace(" ", "").partition("/")
    try:
        period = float(seconds)
    except ValueError:
        period = float("nan")
    if (
        not (count.isascii() and count.isdigit() and len(count) <= 9)
        or not 1 <= int(count) <= MAX_USER_RATE_COUNT
        or not 1.0 <= period <= MAX_USER_RATE_SECONDS  # NaN and inf fail this too
    ):
        shown = value if len(value) <= 20 else value[:20] + "..."
        raise SettingsError(
            f"NEWSBOT_USER_RATE: expected N/SECONDS (1-{MAX_USER_RATE_COUNT} updates in 1-"
            f"{MAX_USER_RATE_SECONDS:g} seconds, e.g. 20/10) or off, got {shown!r}"
        )
    return int(count), period


def _flag(value: str | None, name: str) -> bool:
    if value is None:
        return False
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}: expected 1 or 0, got {value!r}")


def _secret(value: str | None) -> str | None:
    if value is None:
        return None
    if not 1 <= len(value) <= 256 or not all(c.isascii() and (c.isalnum() or c in "_-") for c in value):
        raise SettingsError("NEWSBOT_WEBHOOK_SECRET: 1-256 characters of A-Z a-z 0-9 _ -")
    return value


def _language(value: str | None) -> str:
    """A two-letter ISO 639-1 code: routing compares it with readers' choices, so "tr-TR" is a typo."""
    if value is None:
        return "tr"
    if value.lower() not in ISO_639_1:
        shown = value if len(value) <= 20 else value[:20] + "..."
        raise SettingsError(
            f"NEWSBOT_DEFAULT_LANGUAGE: expected a two-letter ISO 639-1 code such as tr or en, got {shown!r}"
        )
    return value.lower()


def _fetch_allow(value: str | None) -> FetchAllow:
    """Hosts, addresses and CIDR ranges content fetches may reach although they are not public."""
    try:
        return FetchAllow.parse(value)
    except ValueError as exc:
        raise SettingsError(f"NEWSBOT_FETCH_ALLOW: {exc}") from None


def _log_level(value: str | None) -> str:
    level = (value or "INFO").upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise SettingsError(f"NEWSBOT_LOG_LEVEL: expected DEBUG, INFO, WARNING or ERROR, got {value!r}")
    return level
