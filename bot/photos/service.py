"""One download and one upload per article's lead photo, however many readers get it.

- **Fetched once** through the guarded content fetch (bot/sources/fetch.py: NEWSBOT_FETCH_ALLOW, timeouts),
  at most 10 MB, and only an image/* answer. The bytes are kept until Telegram has them.
- **Uploaded once.** The first send uploads the picture (sendPhoto, multipart) and stores the file_id
  Telegram returns on the article (articles.photo_file_id); every later send, also after a restart, passes
  that file_id. Concurrent first sends of one article wait on a per-article lock for the one upload instead
  of uploading in parallel, and take their rate-limiter slot only once they know what to send.
- **Or text.** When the picture cannot be used (404, not an image, too big, refused by the guard, refused by
  Telegram), the reason is logged once and stored (articles.photo_error), and this and every later send of
  the article is the text message instead. A failure that is the chat's, not the picture's (blocked,
  flood control, network), is raised to the sender as usual and the bytes stay for the next try.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import aiohttp
from telegram import Bot, InlineKeyboardMarkup, InputFile, Message
from telegram.constants import ParseMode
from telegram.error import BadRequest

from bot.sources.addresses import FetchAllow
from bot.sources.fetch import FetchError, FetchTimeouts, fetch, open_session
from bot.views import LeadPhoto
from storage import Store
from storage.database import StorageError

log = logging.getLogger(__name__)

T = TypeVar("T")
MAX_PHOTO_BYTES = 10 * 1024 * 1024  # what Telegram takes for a photo
# Bad Request descriptions that are about the picture (or its file_id), not about the chat.
_PHOTO_REFUSALS = ("image", "photo", "file", "http url", "wrong type", "dimensions", "too big")
_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "image/webp": "webp"}


class PhotoUnavailable(Exception):
    """The picture could not be fetched or is not one; str() is the short reason."""


class PhotoRefused(Exception):
    """Telegram refused the picture or its file_id (not the chat); str() is its description."""


def refuses_photo(status: int, description: str) -> bool:
    """Whether an error answer to sendPhoto is about the picture, so the text should go instead."""
    lowered = description.lower()
    return status == 400 and "chat" not in lowered and any(word in lowered for word in _PHOTO_REFUSALS)


def multipart(fields: dict[str, str], name: str, filename: str, data: bytes, kind: str) -> tuple[bytes, str]:
    """A multipart/form-data body with text fields and one file; (body, Content-Type)."""
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode()
        for key, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
        f"Content-Type: {kind}\r\n\r\n".encode()
        + data
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


@dataclass(frozen=True)
class Picture:
    """Downloaded bytes with their type, waiting for their one upload."""

    data: bytes
    content_type: str

    @property
    def filename(self) -> str:
        """A file name Telegram can tell the format by."""
        return f"photo.{_EXTENSIONS.get(self.content_type, 'jpg')}"


Upload = Callable[[Picture], Awaitable[tuple[T, str]]]  # -> (what was sent, its file_id)


class ArticlePhotos:
    """Downloads, uploads and remembers lead photos; counts both so tests can hold it to "once"."""

    def __init__(
        self,
        store: Store,
        allow: FetchAllow,
        *,
        max_bytes: int = MAX_PHOTO_BYTES,
        timeouts: FetchTimeouts | None = None,
    ) -> None:
        self.store = store
        self.allow = allow
        self.max_bytes = max_bytes
        self.timeouts = timeouts or FetchTimeouts(connect=5, read=10, total=30)
        self.downloads = 0
        self.uploads = 0
        self._session: aiohttp.ClientSession | None = None
        self._file_ids: dict[int, str] = {}
        self._stale: set[str] = set()  # file_ids Telegram refused: cached renders may still carry them
        self._failed: dict[int, str] = {}
        self._pictures: dict[int, Picture] = {}  # downloaded, not uploaded yet
        self._locks: dict[int, asyncio.Lock] = {}

    async def close(self) -> None:
        """Close the fetch session (a later fetch opens a new one)."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def file_id(self, photo: LeadPhoto) -> str | None:
        """The photo's file_id if it was uploaded (here or before a restart) and not refused since."""
        file_id = self._file_ids.get(photo.article_id, photo.file_id)
        return None if file_id in self._stale else file_id

    def failed(self, photo: LeadPhoto) -> bool:
        """Whether the photo turned out unusable (the reason was logged and stored once)."""
        return photo.article_id in self._failed

    async def send(
        self,
        photo: LeadPhoto,
        *,
        by_file_id: Callable[[str], Awaitable[T]],
        upload: Upload[T],
    ) -> T | None:
        """Send by file_id, or upload once; None when there is no usable photo (send the text instead).

        `by_file_id` and `upload` take the rate limiter's slot themselves, right before their one request,
        so readers waiting for another send's upload hold no slot meanwhile.
        """
        for _attempt in range(2):  # a refused file_id is forgotten and the picture uploaded once more
            if self.failed(photo):
                return None
            file_id = self.file_id(photo)
            if file_id is None:
                async with self._locks.setdefault(photo.article_id, asyncio.Lock()):
                    if self.failed(photo):
                        return None
                    file_id = self.file_id(photo)
                    if file_id is None:
                        return await self._upload(photo, upload)
            try:
                return await by_file_id(file_id)
            except PhotoRefused as error:
                log.warning("article %d: Telegram refused its photo's file_id (%s)", photo.article_id, error)
                self._stale.add(file_id)
                self._file_ids.pop(photo.article_id, None)
                if photo.image_url is None:
                    await self._fail(photo, f"Telegram refused the file_id: {error}")
                    return None
        return None

    async def _upload(self, photo: LeadPhoto, upload: Upload[T]) -> T | None:
        """The one upload (called under the article's lock)."""
        picture = self._pictures.get(photo.article_id)
        if picture is None:
            if photo.image_url is None:
                await self._fail(photo, "no picture to upload")
                return None
            try:
                picture = await self._download(photo.image_url)
            except PhotoUnavailable as error:
                await self._fail(photo, str(error))
                return None
            self._pictures[photo.article_id] = picture
        try:
            sent, file_id = await upload(picture)
        except PhotoRefused as error:
            self._pictures.pop(photo.article_id, None)
            await self._fail(photo, f"Telegram refused it: {error}")
            return None
        self.uploads += 1
        self._pictures.pop(photo.article_id, None)
        self._file_ids[photo.article_id] = file_id
        self._locks.pop(photo.article_id, None)  # waiters hold it; later sends go by file_id
        try:
            await self.store.articles.save_photo(photo.article_id, file_id)
        except StorageError as error:  # kept in memory: sent by file_id until the next restart
            log.warning("article %d: photo file_id not saved: %s", photo.article_id, error)
        return sent

    async def _download(self, url: str) -> Picture:
        if self._session is None:
            self._session = open_session(self.allow, limit=16)
        try:
            result = await fetch(
                self._session, url, max_bytes=self.max_bytes, timeout=self.timeouts, accept="image/*"
            )
        except FetchError as error:
            raise PhotoUnavailable(str(error)) from None
        finally:
            self.downloads += 1
        kind = (result.content_type or "").lower()
        if result.status != 200:
            raise PhotoUnavailable(f"HTTP {result.status}")
        if not kind.startswith("image/"):
            raise PhotoUnavailable(f"not an image ({kind or 'no content type'})")
        if not result.body:
            raise PhotoUnavailable("empty image")
        return Picture(result.body, kind)

    async def _fail(self, photo: LeadPhoto, reason: str) -> None:
        """Log and store once why the article goes out as text."""
        self._failed[photo.article_id] = reason
        self._pictures.pop(photo.article_id, None)
        log.warning(
            "article %d: lead photo %s not used, sending text instead: %s",
            photo.article_id,
            photo.image_url or "(file_id)",
            reason,
        )
        try:
            await self.store.articles.photo_failed(photo.article_id, reason)
        except StorageError as error:
            log.warning("article %d: photo error not saved: %s", photo.article_id, error)

    async def reply(
        self, bot: Bot, chat_id: int, photo: LeadPhoto, reply_markup: InlineKeyboardMarkup | None
    ) -> Message | None:
        """An answer to a reader (/latest, /article, a deep link) through python-telegram-bot; None: text."""

        async def by_file_id(file_id: str) -> Message:
            try:
                return await bot.send_photo(
                    chat_id,
                    file_id,
                    caption=photo.caption,
                    parse_mode=ParseMode.HTML,
                    reply_markup=reply_markup,
                )
            except BadRequest as error:
                if refuses_photo(400, error.message):
                    raise PhotoRefused(error.message) from None
                raise

        async def upload(picture: Picture) -> tuple[Message, str]:
            try:
                message = await bot.send_photo(
                    chat_id,
                    InputFile(picture.data, filename=picture.filename),
                    caption=photo.caption,
                    parse_mode=ParseMode.HTML,
                    reply_markup=reply_markup,
                )
            except BadRequest as error:
                if refuses_photo(400, error.message):
                    raise PhotoRefused(error.message) from None
                raise
            return message, message.photo[-1].file_id

        return await self.send(photo, by_file_id=by_file_id, upload=upload)
