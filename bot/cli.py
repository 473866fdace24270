"""The `newsbot` command: run the bot, import pages, manage feeds, back up the database."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.arguments import ArticleOptions, parse_language_option
from bot.logsafe import configure_logging, redact
from bot.news.sections import SECTION_LABEL_MAX, SectionLabel, parse_section_label, shown
from bot.settings import Settings, SettingsError
from bot.sources.links import http_url_parts
from storage.database import Database, StorageError, backup_database

EXIT_FAILED = 1
EXIT_CONFIG = 2
TOKEN_HINT = (
    "newsbot: TELEGRAM_BOT_TOKEN is not set. Talk to @BotFather in Telegram (https://t.me/BotFather), "
    "send /newbot, then set the token it gives you: export TELEGRAM_BOT_TOKEN=123456:ABC... "
    "(or put TELEGRAM_BOT_TOKEN=... in a .env file here)."
)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `newsbot` console script."""
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print(f"newsbot: {error}", file=sys.stderr)
        return EXIT_CONFIG
    quiet_command = args.command != "run" and settings.log_level == "INFO"
    configure_logging("WARNING" if quiet_command else settings.log_level, settings.token)
    # Extraction libraries log every page they cannot read at ERROR ("empty HTML tree"); the importer and
    # the feed poller already give one line per page with the reason, so these say nothing more.
    for noisy in ("trafilatura", "htmldate", "courlan", "charset_normalizer", "justext"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    try:
        return args.handler(settings, args)
    except StorageError as error:  # a broken, foreign or newer database file, a full disk: one line
        print(f"newsbot: {error}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # anything else: one line, never a traceback that may carry the token
        reason = f"{type(error).__name__}: {redact(' '.join(str(error).split()))}"
        logging.getLogger(__name__).error("newsbot %s stopped: %s", args.command, reason)
        return EXIT_FAILED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="newsbot", description="A Telegram bot for a news outlet.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the bot (long polling, or a webhook with --webhook-url)")
    run.add_argument("--webhook-url", help="public HTTPS URL Telegram should post updates to")
    run.add_argument("--listen", default="0.0.0.0", help="address the webhook server binds (default 0.0.0.0)")
    run.add_argument("--port", type=_port, default=8443, help="port the webhook server binds (default 8443)")
    run.set_defaults(handler=_run)

    importer = commands.add_parser("import", help="add articles from HTML pages (files or http(s) URLs)")
    importer.add_argument("sources", nargs="+", metavar="PATH_OR_URL")
    importer.add_argument(
        "--language", type=_language, help="the articles' language, e.g. en (default: the page's)"
    )
    importer.add_argument("--section", type=_section, help='their section: "Ekonomi/Economy" or one label')
    importer.add_argument("--breaking", action="store_true", default=None, help="breaking news")
    importer.set_defaults(handler=_import)

    feed = commands.add_parser("feed", help="manage the RSS/Atom feeds the bot polls")
    feed_commands = feed.add_subparsers(dest="feed_command", required=True, metavar="ACTION")
    feed_add = feed_commands.add_parser(
        "add", help="add a feed and fetch it once (backlog not pushed); for a listed feed, change its options"
    )
    feed_add.add_argument("url", metavar="URL")
    feed_add.add_argument(
        "--language", type=_feed_language, help="its articles' language, e.g. en; auto: the feed's or page's"
    )
    feed_add.add_argument("--section", type=_section, help='its section: "Ekonomi/Economy" or one label')
    feed_add.add_argument(
        "--breaking", action=argparse.BooleanOptionalAction, default=None, help="a breaking-news feed"
    )
    feed_add.set_defaults(handler=_feed)
    feed_commands.add_parser(
        "list", help="URL, title, language, section, breaking, last fetch, article count, last error"
    ).set_defaults(handler=_feed)
    feed_remove = feed_commands.add_parser("remove", help="stop polling a feed (its articles stay)")
    feed_remove.add_argument("url", metavar="URL")
    feed_remove.set_defaults(handler=_feed)

    backup = commands.add_parser("backup", help="copy the database consistently, even while the bot runs")
    backup.add_argument("path", metavar="PATH", type=Path, help="the new file (not the .db file's own path)")
    backup.add_argument("--force", action="store_true", help="overwrite PATH if it exists")
    backup.set_defaults(handler=_backup)

    migrate = commands.add_parser(
        "migrate-to-postgres", help="copy the SQLite database (NEWSBOT_DB) into an empty PostgreSQL database"
    )
    migrate.add_argument("url", metavar="URL", help="postgresql://user:password@host:port/database")
    migrate.add_argument("--from", dest="source", type=Path, help="the SQLite file (default: NEWSBOT_DB)")
    migrate.set_defaults(handler=_migrate_to_postgres)
    return parser


def _port(value: str) -> int:
    port = int(value) if value.isdigit() else 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 1 to 65535, got {value!r}")
    return port


def _language(value: str) -> str:
    language = parse_language_option(value, allow_auto=False)
    if language is None:
        raise argparse.ArgumentTypeError(f"expected a language code such as tr or en, got {shown(value)!r}")
    return language


def _feed_language(value: str) -> str:
    language = parse_language_option(value, allow_auto=True)
    if language is None:
        raise argparse.ArgumentTypeError(
            f"expected a language code such as tr or en, or auto, got {shown(value)!r}"
        )
    return language


def _section(value: str) -> SectionLabel:
    label = parse_section_label(value)
    if label is None:
        raise argparse.ArgumentTypeError(
            f'expected "Türkçe/English" or one label, up to {SECTION_LABEL_MAX} characters each, '
            f"got {shown(value)!r}"
        )
    return label


def _options(args: argparse.Namespace) -> ArticleOptions:
    return ArticleOptions(args.language, args.section, args.breaking)


def _run(settings: Settings, args: argparse.Namespace) -> int:
    if not settings.token:
        print(TOKEN_HINT, file=sys.stderr)
        return EXIT_CONFIG
    from bot.app import ALLOWED_UPDATES, build_application

    if args.webhook_url:
        parts = http_url_parts(args.webhook_url)
        if parts is None or parts.scheme.lower() != "https":
            shown = redact(args.webhook_url)[:200]
            print(f"newsbot: --webhook-url must be an https URL, got {shown!r}", file=sys.stderr)
            return EXIT_CONFIG
    asyncio.run(_check_database(settings.database))  # before Telegram: a bad database is one line
    application = build_application(settings)
    if args.webhook_url:
        logging.getLogger(__name__).info("webhook mode on %s:%s", args.listen, args.port)
        application.run_webhook(
            listen=args.listen,
            port=args.port,
            url_path=parts.path.lstrip("/"),
            webhook_url=args.webhook_url,
            secret_token=settings.webhook_secret_token(),
            allowed_updates=ALLOWED_UPDATES,
        )
    else:
        logging.getLogger(__name__).info("long polling %s", settings.bot_api_url.split("/bot")[0])
        application.run_polling(allowed_updates=ALLOWED_UPDATES, timeout=30, poll_interval=0.0)
    return 0


async def _check_database(target: Path | str) -> None:
    """Open (and migrate) the database once, so StorageError reaches main() rather than PTB's loop."""
    if isinstance(target, str):  # NEWSBOT_DATABASE_URL
        from storage.postgres.database import PgDatabase

        database: Database | PgDatabase = await PgDatabase.open(target, writers=1, readers=1)
    else:
        database = await Database.open(target)
    await database.close()


def _backup(settings: Settings, args: argparse.Namespace) -> int:
    if settings.database_url:
        print("newsbot: backup copies the SQLite file; on PostgreSQL use pg_dump", file=sys.stderr)
        return EXIT_CONFIG
    size = asyncio.run(backup_database(settings.db_path, args.path, overwrite=args.force))
    print(f"backed up {settings.db_path} to {args.path} ({_size(size)})")
    return 0


def _migrate_to_postgres(settings: Settings, args: argparse.Namespace) -> int:
    from storage.postgres.copy import copy_to_postgres
    from storage.postgres.sql import redact_url

    source = args.source or settings.db_path
    shown = redact_url(args.url)
    try:
        tables = asyncio.run(copy_to_postgres(source, args.url, progress=print))
    except StorageError as error:  # the message names the database without its password
        print(f"newsbot: {error}", file=sys.stderr)
        return 1
    rows = sum(table.target_rows for table in tables)
    print(
        f"copied {source} to {shown}: {len(tables)} tables, {rows} rows; "
        "the row count of every table matches the SQLite database"
    )
    return 0


def _size(size: int) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def _import(settings: Settings, args: argparse.Namespace) -> int:
    from bot.importer import import_pages

    failures = asyncio.run(
        import_pages(settings, args.sources, out=sys.stdout, err=sys.stderr, options=_options(args))
    )
    return 1 if failures else 0


def _feed(settings: Settings, args: argparse.Namespace) -> int:
    from bot import feed_commands

    logging.getLogger("bot.ingest").setLevel(logging.ERROR)  # the one-line result already says why
    if args.feed_command == "add":
        return asyncio.run(
            feed_commands.add_feed(settings, args.url, _options(args), out=sys.stdout, err=sys.stderr)
        )
    if args.feed_command == "remove":
        return asyncio.run(feed_commands.remove_feed(settings, args.url, out=sys.stdout, err=sys.stderr))
    return asyncio.run(feed_commands.list_feeds(settings, out=sys.stdout))


if __name__ == "__main__":
    sys.exit(main())
