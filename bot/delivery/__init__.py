"""Delivery: the outbox engine, the rate limiter and the lean Bot API client broadcasts go out through."""

from bot.delivery.engine import DeliveryEngine, DeliveryOptions, article_renderer

__all__ = ["DeliveryEngine", "DeliveryOptions", "article_renderer"]
