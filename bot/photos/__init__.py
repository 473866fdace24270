"""Articles' lead photos: found at ingest, fetched once, uploaded to Telegram once, then sent by file_id."""

from bot.photos.service import ArticlePhotos, PhotoRefused, PhotoUnavailable, multipart, refuses_photo

__all__ = ["ArticlePhotos", "PhotoRefused", "PhotoUnavailable", "multipart", "refuses_photo"]
