"""The Jinja2 environment: every user-facing text is a template, per language, in HTML parse mode."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

LANGUAGES = ("tr", "en")
DEFAULT_LANGUAGE = "en"


def language_for(choice: str | None, telegram_code: str | None) -> str:
    """The reader's own choice wins; else Turkish for Telegram's tr*, English for everything else."""
    if choice in LANGUAGES:
        return choice
    if telegram_code and telegram_code.lower().startswith("tr"):
        return "tr"
    return DEFAULT_LANGUAGE


class Renderer:
    """Renders messages and labels; autoescaping keeps feed and user text from breaking Telegram's HTML."""

    def __init__(self) -> None:
        self.env = Environment(
            loader=PackageLoader("bot", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            enable_async=False,
            auto_reload=False,  # templates ship with the code: no stat() of the file on every message
        )
        self._labels = {lang: self.env.get_template(f"{lang}/labels.html").module for lang in LANGUAGES}

    def message(self, lang: str, name: str, **context: Any) -> str:
        """A whole message body in Telegram HTML."""
        return self.env.get_template(f"{lang}/{name}.html").render(lang=lang, **context).strip()

    def label(self, lang: str, name: str, *args: Any) -> str:
        """A plain-text label (button, command description) from the language's labels macros."""
        macro = getattr(self._labels[lang], name)
        return Markup(macro(*args)).unescape().strip()
