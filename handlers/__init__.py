"""Telegram update handlers, one module per feature; each parses, calls a service, renders, replies."""

from __future__ import annotations

from telegram.ext import Application

from handlers import (
    articles,
    errors,
    fallback,
    feeds,
    inline,
    language,
    post,
    prelude,
    search,
    sharing,
    start,
    subscription,
    weather,
)


def register(application: Application) -> None:
    """Register every feature; the prelude runs first, the fallback for unknown input last."""
    prelude.register(application)
    for feature in (start, subscription, articles, search, language, weather, sharing, inline, feeds, post):
        feature.register(application)
    fallback.register(application)
    errors.register(application)
