"""Configuration: the variable names are a contract; bad values name the variable."""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from pathlib import Path

import pytest

from bot.settings import Settings, SettingsError
from bot.sources.addresses import FetchAllow
from tests.conftest import running
from tests.conversation import Reader


def test_defaults_without_any_variable():
    settings = Settings.from_mapping({})
    assert settings.token is None
    assert settings.db_path == Path("newsbot.db")
    assert settings.bot_api_url == "https://api.telegram.org/bot"
    assert settings.admin_ids == frozenset()
    assert settings.fetch_allow == FetchAllow(), "nothing private is trusted unless the operator says so"


def test_every_documented_variable_is_read():
    settings = Settings.from_mapping(
        {
            "TELEGRAM_BOT_TOKEN": "123:abc",
            "NEWSBOT_DB": "/data/x.db",
            "NEWSBOT_BOT_API_URL": "http://127.0.0.1:8081/bot",
            "NEWSBOT_ADMIN_IDS": "1, 2,3",
            "NEWSBOT_FEED_INTERVAL": "2",
        }
    )
    assert settings.token == "123:abc"
    assert settings.db_path == Path("/data/x.db")
    assert settings.bot_api_url == "http://127.0.0.1:8081/bot"
    assert settings.admin_ids == {1, 2, 3}
    assert settings.feed_interval == 2


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("NEWSBOT_ADMIN_IDS", "alice"),
        ("NEWSBOT_BOT_API_URL", "ftp://x"),
        ("NEWSBOT_BOT_API_URL", "http://localhost:8081"),  # the token would land in the port
        ("NEWSBOT_BOT_API_URL", "http://localhost:8081/bot/"),
        ("NEWSBOT_BOT_API_URL", "http://localhost:8081/bot?x=1"),
        ("NEWSBOT_BOT_API_URL", "http://[x"),
        ("NEWSBOT_BOT_API_URL", "http://localhost:99999/bot"),
        ("NEWSBOT_BOT_API_URL", "http://localhost:0/bot"),
        ("NEWSBOT_BOT_API_URL", "http://:8081/bot"),
        ("NEWSBOT_WEATHER_API_URL", "http://[x"),
        ("NEWSBOT_WEATHER_API_URL", "https://open-meteo.example:99999/v1/forecast"),
        ("NEWSBOT_WEATHER_API_URL", "open-meteo.example/v1/forecast"),
        ("NEWSBOT_FEED_INTERVAL", "-5"),
        ("NEWSBOT_FEED_INTERVAL", "soon"),
        ("NEWSBOT_PAID_BROADCAST", "maybe"),
        ("TELEGRAM_BOT_TOKEN", "no colon"),
        ("NEWSBOT_BROADCAST_RATE", "0.5"),  # was accepted, became int 0 and divided by zero at start
        ("NEWSBOT_BROADCAST_RATE", "0"),
        ("NEWSBOT_BROADCAST_RATE", "30.5"),
        ("NEWSBOT_BROADCAST_RATE", "1001"),
        ("NEWSBOT_BROADCAST_RATE", "-3"),
        ("NEWSBOT_BROADCAST_RATE", "fast"),
        ("NEWSBOT_BROADCAST_RATE", "1e3"),
        ("NEWSBOT_FEED_INTERVAL", "0.5"),
        ("NEWSBOT_FEED_INTERVAL", "1e300"),  # overflowed the scheduler
        ("NEWSBOT_FEED_INTERVAL", "nan"),
        ("NEWSBOT_FEED_INTERVAL", "inf"),
        ("NEWSBOT_FEED_INTERVAL", "86401"),
        ("NEWSBOT_ADMIN_IDS", "-5"),
        ("NEWSBOT_ADMIN_IDS", "1_000"),
        ("NEWSBOT_ADMIN_IDS", "0"),
        ("NEWSBOT_FETCH_ALLOW", "10.0.0.0/33"),
        ("NEWSBOT_FETCH_ALLOW", "10.0.0.5/8"),  # host bits set: 10.0.0.0/8 or 10.0.0.5 was meant
        ("NEWSBOT_FETCH_ALLOW", "cms.intranet:8080"),
        ("NEWSBOT_FETCH_ALLOW", "http://cms.intranet/"),
        ("NEWSBOT_FETCH_ALLOW", "127.1"),
        ("NEWSBOT_FETCH_ALLOW", "intranet, bad host"),
        ("NEWSBOT_USER_RATE", "20"),
        ("NEWSBOT_USER_RATE", "0/10"),
        ("NEWSBOT_USER_RATE", "20/0"),
        ("NEWSBOT_USER_RATE", "20/0.5"),
        ("NEWSBOT_USER_RATE", "2.5/10"),
        ("NEWSBOT_USER_RATE", "20/nan"),
        ("NEWSBOT_USER_RATE", "20/inf"),
        ("NEWSBOT_USER_RATE", "10001/10"),
        ("NEWSBOT_USER_RATE", "20/3601"),
        ("NEWSBOT_USER_RATE", "lots"),
        ("NEWSBOT_USER_RATE", "20/10/30"),
        ("NEWSBOT_SEND_MARGIN", "-0.01"),
        ("NEWSBOT_SEND_MARGIN", "0.6"),
        ("NEWSBOT_SEND_MARGIN", "nan"),
        ("NEWSBOT_SEND_MARGIN", "30ms"),
    ],
)
def test_invalid_values_name_the_variable(name, value):
    with pytest.raises(SettingsError, match=name):
        Settings.from_mapping({name: value})


def test_the_send_margin_is_read_in_seconds():
    assert Settings.from_mapping({}).send_margin == 0.02
    assert Settings.from_mapping({"NEWSBOT_SEND_MARGIN": "0.1"}).send_margin == 0.1
    assert Settings.from_mapping({"NEWSBOT_SEND_MARGIN": "0"}).send_margin == 0.0


def test_the_bot_api_url_error_says_it_must_end_in_bot_and_shows_no_token():
    with pytest.raises(SettingsError) as refused:
        Settings.from_mapping({"NEWSBOT_BOT_API_URL": "http://localhost:8081/bot123456:" + "x" * 35})
    message = str(refused.value)
    assert "\n" not in message and "ending in /bot" in message
    assert "x" * 35 not in message and "bot<redacted>" in message


def test_a_database_url_selects_postgresql_and_a_bad_one_is_refused_without_its_password():
    assert Settings.from_mapping({}).database == Path("newsbot.db"), "SQLite unless a URL is given"
    url = "postgresql://news:s3cret-pw@db.example:5432/newsbot?sslmode=require"
    settings = Settings.from_mapping({"NEWSBOT_DATABASE_URL": url, "NEWSBOT_DB": "/data/x.db"})
    assert settings.database == settings.database_url == url
    assert "s3cret-pw" not in repr(settings) and "db.example" not in repr(settings)
    for bad in (
        "mysql://news:s3cret-pw@db.example/newsbot",
        "postgresql://news:s3cret-pw@/newsbot",
        "postgresql://news:s3cret-pw@db.example:port/newsbot",
        "postgresql://news:s3cret-pw@db.example:5432",
        "/data/newsbot.db",
    ):
        with pytest.raises(SettingsError, match="NEWSBOT_DATABASE_URL") as refused:
            Settings.from_mapping({"NEWSBOT_DATABASE_URL": bad})
        assert "s3cret-pw" not in str(refused.value) and "\n" not in str(refused.value)


def test_the_repr_shows_no_secret():
    settings = Settings.from_mapping(
        {"TELEGRAM_BOT_TOKEN": "123456:tokensecret", "NEWSBOT_WEBHOOK_SECRET": "hooksecret"}
    )
    assert settings.token == "123456:tokensecret" and settings.webhook_secret == "hooksecret"
    for shown in (repr(settings), str(settings)):
        assert "tokensecret" not in shown and "hooksecret" not in shown
        assert "bot_api_url=" in shown, "the rest is still there to read"


def test_fetch_allow_reads_hosts_addresses_and_ranges():
    allow = Settings.from_mapping(
        {"NEWSBOT_FETCH_ALLOW": " CMS.Intranet. , 127.0.0.1,10.20.0.0/16, [::1], fd00::/8,, "}
    ).fetch_allow
    assert allow.hosts == {"cms.intranet"}
    assert allow.networks == tuple(
        ipaddress.ip_network(n) for n in ("127.0.0.1/32", "10.20.0.0/16", "::1/128", "fd00::/8")
    )
    assert allow.allows_host("cms.intranet") and allow.allows_host("CMS.INTRANET.")
    assert not allow.allows_host("www.cms.intranet"), "a name, not a domain and its subdomains"


def test_environment_wins_over_dotenv(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(
        '# comment\nexport NEWSBOT_DB="from-file.db"\nNEWSBOT_ADMIN_IDS=5\n', encoding="utf-8"
    )
    settings = Settings.from_env({"NEWSBOT_ADMIN_IDS": "9"}, env_file=env_file)
    assert settings.db_path == Path("from-file.db")
    assert settings.admin_ids == {9}


def test_webhook_secret_is_stable_and_in_telegrams_alphabet():
    settings = Settings.from_mapping({"TELEGRAM_BOT_TOKEN": "123:abc"})
    secret = settings.webhook_secret_token()
    assert secret == settings.webhook_secret_token()
    assert secret.isalnum() and 1 <= len(secret) <= 256


@pytest.mark.parametrize(("rate", "interval"), [("1", "1"), ("1000", "86400"), ("30", "2.5")])
async def test_every_value_the_validator_accepts_runs(settings, telegram, rate, interval):
    parsed = Settings.from_mapping({"NEWSBOT_BROADCAST_RATE": rate, "NEWSBOT_FEED_INTERVAL": interval})
    assert parsed.broadcast_rate == int(rate) and parsed.feed_interval == float(interval)
    chosen = replace(settings, broadcast_rate=parsed.broadcast_rate, feed_interval=parsed.feed_interval)
    async with running(chosen) as app:
        reader = Reader(app, telegram, 77, language_code="en", first_name="Ann")
        assert "/latest" in (await reader.says("/help")).plain


@pytest.mark.parametrize(
    ("value", "parsed"),
    [(None, (20, 10.0)), ("30/10", (30, 10.0)), (" 5 / 2.5 ", (5, 2.5)), ("OFF", None), ("1/1", (1, 1.0))],
)
def test_user_rate(value, parsed):
    settings = Settings.from_mapping({} if value is None else {"NEWSBOT_USER_RATE": value})
    assert settings.user_rate == parsed
