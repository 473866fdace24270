"""The `newsbot` command as an operator uses it: real processes, real database files."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TOKEN
from tests.fake_telegram import FakeBotAPI

FIXTURES = Path(__file__).parent / "fixtures"


def newsbot(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSBOT_", "TELEGRAM_"))}
    env["PYTHONPATH"] = str(Path(__file__).parents[1])
    env.update(extra)
    return env


def bot_env(api: FakeBotAPI, tmp_path: Path) -> dict[str, str]:
    database = str(tmp_path / "n.db")
    return clean_env(TELEGRAM_BOT_TOKEN=TOKEN, NEWSBOT_BOT_API_URL=api.base_url, NEWSBOT_DB=database)


def test_run_without_a_token_explains_how_to_get_one(tmp_path):
    result = newsbot("run", env=clean_env(), cwd=tmp_path)
    assert result.returncode == 2
    assert "TELEGRAM_BOT_TOKEN" in result.stderr and "@BotFather" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_invalid_variable_gets_one_line_and_exit_code_2(tmp_path):
    result = newsbot("run", env=clean_env(TELEGRAM_BOT_TOKEN=TOKEN, NEWSBOT_ADMIN_IDS="alice"), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "NEWSBOT_ADMIN_IDS" in result.stderr


def test_a_fractional_broadcast_rate_is_refused_before_it_can_divide_by_zero(tmp_path):
    env = clean_env(TELEGRAM_BOT_TOKEN=TOKEN, NEWSBOT_BROADCAST_RATE="0.5", NEWSBOT_DB=str(tmp_path / "n.db"))
    result = newsbot("run", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == "newsbot: NEWSBOT_BROADCAST_RATE: expected a whole number from 1 to 1000, got '0.5'"
    )


def test_import_takes_the_article_and_leaves_the_page_furniture(tmp_path):
    db = tmp_path / "news.db"
    result = newsbot(
        "import",
        str(FIXTURES / "article_semantic.html"),
        str(FIXTURES / "article_divs.html"),
        str(FIXTURES / "article_semantic.html"),
        str(FIXTURES / "article_divs.html"),
        env=clean_env(NEWSBOT_DB=str(db)),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "added #1: Azerbaijani diaspora organizations issued a statement (2023-07-31)" in result.stdout
    assert "already stored as #1" in result.stdout and "already stored as #2" in result.stdout
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT title, published_at, body FROM articles").fetchall()
    assert len(rows) == 2, "each page once; the canonical link and the link-less copy are two articles"
    for title, published_at, body in rows:
        assert published_at.startswith("2023-07-30T21:00:00")  # 31 July 00:00 Istanbul, stored in UTC
        assert title == "Azerbaijani diaspora organizations issued a statement"
        assert "The statement reads" in body and "double standards" in body
        for furniture in ("Zonguldak", "°C", "recommend it among your friends", "Adıyaman"):
            assert furniture not in body
        assert body.startswith(title + " regarding"), "the repeated headline lines are dropped"


def test_import_reports_unreadable_pages_and_still_imports_the_others(tmp_path):
    result = newsbot(
        "import",
        str(tmp_path / "missing.html"),
        str(FIXTURES / "error_404.html"),
        str(FIXTURES / "article_turkish.html"),
        env=clean_env(NEWSBOT_DB=str(tmp_path / "news.db")),
        cwd=tmp_path,
    )
    assert result.returncode == 1
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 2 and all(line.startswith("error: ") for line in errors)
    assert "added #1" in result.stdout


def test_import_of_pages_that_are_not_html_is_one_line_each(tmp_path):
    (tmp_path / "fragment.html").write_text("<p>x</p>", encoding="utf-8")
    (tmp_path / "binary.html").write_bytes(b"\x00\x01\x02 binary")
    env = clean_env(NEWSBOT_DB=str(tmp_path / "news.db"))
    result = newsbot("import", "fragment.html", "binary.html", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: fragment.html: no article text found",
        "error: binary.html: no article text found",
    ], "no library log lines (trafilatura: empty HTML tree) between them"


async def test_run_polls_answers_and_stops_cleanly_on_sigterm(tmp_path):
    async with FakeBotAPI(token=TOKEN, bot_username="newsbot_test_bot") as api:
        from tests.fake_telegram import make_user, message_update

        api.push_update(message_update(make_user(5, language_code="en"), "/start"))
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.cli",
            "run",
            env=clean_env(
                TELEGRAM_BOT_TOKEN=TOKEN, NEWSBOT_BOT_API_URL=api.base_url, NEWSBOT_DB=str(tmp_path / "n.db")
            ),
            cwd=tmp_path,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            welcome = await api.wait_for_messages(1, chat_id=5, timeout=60)  # a cold start; bounds a hang
            assert "Welcome" in welcome[0].plain
            process.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
        finally:
            if process.returncode is None:
                process.kill()
        assert process.returncode == 0, stderr.decode()
        assert TOKEN not in stderr.decode(), "the token leaked into the logs"
        polls = [r for r in api.requests if r.method == "getUpdates"]
        long_polls = [r for r in polls if int(r.params.get("timeout", 0)) >= 10]
        assert len(polls) - len(long_polls) <= 1, "only the final offset confirmation may be a short poll"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_webhook_mode_registers_a_secret_and_refuses_requests_without_it(tmp_path):
    import aiohttp

    from tests.fake_telegram import make_user, message_update

    port = free_port()
    async with FakeBotAPI(token=TOKEN, bot_username="newsbot_test_bot") as api:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "run",
            "--webhook-url", "https://bot.example.com/telegram", "--listen", "127.0.0.1", "--port", str(port),
            env=bot_env(api, tmp_path), cwd=tmp_path, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            async with asyncio.timeout(60):  # a cold start on a busy machine takes seconds; bounds a hang
                while api.webhook is None:
                    await asyncio.sleep(0.1)
            assert api.webhook["url"] == "https://bot.example.com/telegram"
            secret = api.webhook["secret_token"]
            update = message_update(make_user(5, language_code="en"), "/start")
            url = f"http://127.0.0.1:{port}/telegram"
            async with aiohttp.ClientSession() as session, asyncio.timeout(60):
                while True:
                    try:
                        async with session.post(url, json=update) as response:
                            assert response.status == 403, "a request without the secret token is refused"
                        break
                    except aiohttp.ClientConnectionError:
                        await asyncio.sleep(0.1)
                headers = {"X-Telegram-Bot-Api-Secret-Token": secret}
                async with session.post(url, json=update, headers=headers) as response:
                    assert response.status == 200
            welcome = await api.wait_for_messages(1, chat_id=5, timeout=30)
            assert "Welcome" in welcome[0].plain
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.communicate(), timeout=30)
        finally:
            if process.returncode is None:
                process.kill()
        assert process.returncode == 0


SECRET_TOKEN = "123456:" + "S3cr3t_" * 5  # token-shaped, so a leak in any form would be easy to spot


def assert_one_line_without_token(result: subprocess.CompletedProcess[str]) -> str:
    """What an operator sees: one line on stderr, nothing on stdout, no token and no traceback."""
    output = result.stdout + result.stderr
    assert SECRET_TOKEN.split(":")[1] not in output and "S3cr3t_" not in output, output[-2000:]
    assert "Traceback" not in output, output[-2000:]
    assert result.stdout == "" and result.stderr.strip().count("\n") == 0, output[-2000:]
    return result.stderr.strip()


def test_a_bot_api_url_without_bot_is_refused_before_the_token_lands_in_its_port(tmp_path):
    env = clean_env(
        TELEGRAM_BOT_TOKEN=SECRET_TOKEN,
        NEWSBOT_BOT_API_URL="http://localhost:8081",
        NEWSBOT_DB=str(tmp_path / "n.db"),
    )
    result = newsbot("run", env=env, cwd=tmp_path)
    line = assert_one_line_without_token(result)
    assert result.returncode == 2
    assert line.startswith("newsbot: NEWSBOT_BOT_API_URL: ") and "ending in /bot" in line


@pytest.mark.parametrize(
    ("name", "value", "command"),
    [
        ("NEWSBOT_BOT_API_URL", "http://[x", ("feed", "list")),
        ("NEWSBOT_BOT_API_URL", "http://[x", ("run",)),
        ("NEWSBOT_BOT_API_URL", "http://localhost:99999/bot", ("run",)),
        ("NEWSBOT_WEATHER_API_URL", "http://[x", ("run",)),
        ("NEWSBOT_WEATHER_API_URL", "https://open-meteo.example:99999/v1/forecast", ("run",)),
    ],
)
def test_a_malformed_url_variable_is_one_line_naming_it(tmp_path, name, value, command):
    env = clean_env(TELEGRAM_BOT_TOKEN=SECRET_TOKEN, NEWSBOT_DB=str(tmp_path / "n.db"), **{name: value})
    result = newsbot(*command, env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert assert_one_line_without_token(result).startswith(f"newsbot: {name}: expected an http(s) URL")


def test_a_malformed_webhook_url_is_one_line(tmp_path):
    env = clean_env(TELEGRAM_BOT_TOKEN=SECRET_TOKEN, NEWSBOT_DB=str(tmp_path / "n.db"))
    result = newsbot("run", "--webhook-url", "https://[x", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert assert_one_line_without_token(result) == (
        "newsbot: --webhook-url must be an https URL, got 'https://[x'"
    )


async def test_an_unexpected_failure_at_start_is_one_redacted_line_and_status_1(tmp_path):
    """Telegram refuses the token at start: python-telegram-bot's error quotes the token in full."""
    async with FakeBotAPI(token=TOKEN, bot_username="newsbot_test_bot") as api:
        env = bot_env(api, tmp_path) | {"TELEGRAM_BOT_TOKEN": SECRET_TOKEN}  # not the one Telegram knows
        result = await asyncio.to_thread(newsbot, "run", env=env, cwd=tmp_path)
    output = result.stdout + result.stderr
    assert "S3cr3t_" not in output, output[-3000:]  # it was in Python's traceback of the uncaught error
    assert result.returncode == 1, output[-3000:]
    stopped = [line for line in result.stderr.splitlines() if "newsbot run stopped" in line]
    assert len(stopped) == 1, output[-3000:]
    assert " ERROR " in stopped[0] and stopped[0].endswith(
        "newsbot run stopped: InvalidToken: The token `<redacted>` was rejected by the server."
    )
