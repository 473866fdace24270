"""Telegram update handlers, one module per feature; each parses, calls a service, renders, replies."""

from __future__ import annotations

from telegram.ext import Application

from handlers import articles, errors, fallback, language, membership, prelude, start, stats, subscription


def register(application: Application) -> None:
    """Register every feature; the prelude runs first, the fallback for unknown input last."""
    prelude.register(application)
    for feature in (start, subscription, articles, language):
        feature.register(application)
    for feature in (membership, stats):
        feature.register(application)
    fallback.register(application)
    errors.register(application)
