"""Telegram update handlers, one module per feature; each parses, calls a service, renders, replies."""

from __future__ import annotations

from telegram.ext import Application

from handlers import (
    articles,
    choices,
    corrections,
    errors,
    fallback,
    feeds,
    follows,
    hours,
    inline,
    language,
    membership,
    post,
    prelude,
    search,
    settings,
    sharing,
    start,
    stats,
    subscription,
    throttle,
    weather,
)


def register(application: Application) -> None:
    """Register every feature; the throttle's answer and the prelude run first, the fallback last."""
    throttle.register(application)
    prelude.register(application)
    features = (start, subscription, membership, articles, search, language, weather, sharing, inline)
    choosing = (settings, choices, follows, hours)
    for feature in (*features, *choosing, feeds, post, corrections, stats):
        feature.register(application)
    fallback.register(application)
    errors.register(application)
