"""The map of Turkey as readers get it: drawn once per forecast, uploaded once, then sent by file_id.

- **Drawn once per forecast.** A map's version is a hash of the day, the temperatures as written on it
  and the map style, so a refresh that changes what the map shows draws it again and one that does not
  changes nothing. The map without an outline is drawn right after each refresh (`prepare`); the map
  with a province outlined (the reader's home) is drawn the first time someone asks for it, once per
  version and province (81 pictures drawn ahead for every refresh would mostly go unused).
- **Uploaded once.** The first send of a picture uploads it; the file_id Telegram returns is stored in
  the database (weather_map_files), and every later send, also after a restart, passes that file_id.
  Concurrent first requests for the same picture wait for the one upload. A file_id Telegram no longer
  knows (the bot's token was replaced by another bot's) is forgotten and the picture uploaded again.
- **Never on the event loop.** Drawing runs in a worker thread (asyncio.to_thread).
- **The morning map** goes to readers who chose it (/weathermap on) once their morning text has been sent,
  one send per reader and day, through the same rate limiter as everything else.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from telegram import Bot, InputFile, Message
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, TelegramError

from bot.clock import in_istanbul, utc_now
from bot.render import Renderer, language_for
from bot.weather.map import MAP_STYLE, MapImage, render_map, shown_temperature
from bot.weather.provinces import by_plate
from bot.weather.service import STALE_AFTER
from storage import Store
from storage.database import StorageError
from storage.models import MapReader

log = logging.getLogger(__name__)

MAP_WORDS = frozenset({"map", "harita"})  # /weather map
FILENAME = "turkiye-sicaklik.png"
PUSH_BATCH = 50  # morning maps stamped and sent together

Render = Callable[..., MapImage]


@dataclass(frozen=True)
class MapOfDay:
    """Today's maxima, the version of the picture they make, and how old they are."""

    day: date
    version: str
    maxima: Mapping[int, float | None]
    fetched_at: datetime


def map_version(day: date, maxima: Mapping[int, float | None]) -> str:
    """Equal for equal pictures: the day, each province's temperature as written, the map style."""
    shown = ",".join(
        f"{plate}:{'' if value is None else shown_temperature(value)}"
        for plate, value in sorted(maxima.items())
    )
    return hashlib.sha256(f"{MAP_STYLE}|{day.isoformat()}|{shown}".encode()).hexdigest()[:24]


class WeatherMaps:
    """Draws, uploads and sends the map; counts its renders and uploads so tests can hold it to "once"."""

    def __init__(
        self,
        store: Store,
        renderer: Renderer,
        *,
        clock: Callable[[], datetime] = utc_now,
        render: Render = render_map,
    ) -> None:
        self.store = store
        self.renderer = renderer
        self.clock = clock
        self._render_map = render
        self.renders = 0
        self.uploads = 0
        self._pngs: dict[tuple[str, int], bytes] = {}  # drawn, not uploaded yet
        self._files: dict[tuple[str, int], str] = {}  # uploaded: file_ids of the current version
        # Refused by Telegram (another token's files): a read racing the forget must not cache one again.
        self._refused: set[str] = set()
        self._lock = asyncio.Lock()  # one draw or upload at a time: concurrent first requests share one
        self._push: asyncio.Task[None] | None = None

    async def close(self) -> None:
        """Stop a morning-map push in progress (the maps it stamped are not sent again)."""
        if self._push is not None and not self._push.done():
            self._push.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._push
        self._push = None

    async def current(self) -> MapOfDay | None:
        """Today's map data (Istanbul date), or None when no forecast for today is stored."""
        today = in_istanbul(self.clock()).date()
        data = await self.store.maps.day_maxima(today)
        if data is None:
            return None
        return MapOfDay(today, map_version(today, data.maxima), data.maxima, data.fetched_at)

    async def prepare(self) -> bool:
        """Draw today's map (no outline) if this version is neither drawn nor uploaded; True if drawn."""
        try:
            current = await self.current()
            if current is None:
                return False
            key = (current.version, 0)
            async with self._lock:
                if await self._known_file(key) is not None or key in self._pngs:
                    return False
                self._keep_only(current.version)
                self._pngs[key] = await self._draw(current, None)
            return True
        except StorageError as error:
            log.warning("weather map not prepared: %s", error)
            return False

    async def _draw(self, current: MapOfDay, home: int | None) -> bytes:
        image = await asyncio.to_thread(self._render_map, current.day, current.maxima, home=home)
        self.renders += 1
        log.info(
            "weather map drawn for %s, outline %s: %d bytes", current.day, home or "none", len(image.png)
        )
        return image.png

    async def _known_file(self, key: tuple[str, int]) -> str | None:
        file_id = self._files.get(key)
        if file_id is None:
            file_id = await self.store.maps.file_id(*key)
            if file_id in self._refused:  # read just before a send forgot it: not worth a second try
                return None
            if file_id is not None:
                self._files[key] = file_id
        return file_id

    def _keep_only(self, version: str) -> None:
        """Pictures of older versions are never sent again: forget them."""
        for cache in (self._pngs, self._files):
            for key in [k for k in cache if k[0] != version]:
                del cache[key]

    def caption(self, lang: str, current: MapOfDay, home: int | None) -> str:
        """What the picture says in the reader's language: the day, the outline, the credits, its age."""
        province = by_plate(home) if home is not None else None
        age = self.clock() - current.fetched_at
        return self.renderer.message(
            lang,
            "weather_map",
            day=current.day,
            province=province.name if province else None,
            age_hours=int(age.total_seconds() // 3600) if age >= STALE_AFTER else None,
        )

    async def send(
        self,
        bot: Bot,
        chat_id: int,
        current: MapOfDay,
        home: int | None,
        caption: str,
        *,
        rate_limit_args: dict[str, Any] | None = None,
    ) -> Message:
        """Send the map (by file_id when uploaded before, else drawn if need be and uploaded once)."""
        key = (current.version, home or 0)
        file_id = await self._known_file(key)
        if file_id is not None:
            sent = await self._by_file_id(bot, chat_id, key, file_id, caption, rate_limit_args)
            if sent is not None:
                return sent
        async with self._lock:
            file_id = await self._known_file(key)  # another request may have uploaded it meanwhile
            if file_id is not None:
                sent = await self._by_file_id(bot, chat_id, key, file_id, caption, rate_limit_args)
                if sent is not None:
                    return sent
            self._keep_only(current.version)
            png = self._pngs.get(key) or await self._draw(current, home)
            self._pngs[key] = png
            message = await bot.send_photo(
                chat_id,
                InputFile(png, filename=FILENAME),
                caption=caption,
                parse_mode=ParseMode.HTML,
                rate_limit_args=rate_limit_args,
            )
            self.uploads += 1
            file_id = message.photo[-1].file_id
            self._files[key] = file_id
            self._pngs.pop(key, None)
        try:
            await self.store.maps.save_file_id(current.version, home or 0, current.day, file_id)
        except StorageError as error:  # kept in memory: sent by file_id until the next restart
            log.warning("weather map file_id not saved: %s", error)
        return message

    async def _by_file_id(
        self,
        bot: Bot,
        chat_id: int,
        key: tuple[str, int],
        file_id: str,
        caption: str,
        rate_limit_args: dict[str, Any] | None,
    ) -> Message | None:
        try:
            return await bot.send_photo(
                chat_id, file_id, caption=caption, parse_mode=ParseMode.HTML, rate_limit_args=rate_limit_args
            )
        except BadRequest as error:
            if "file identifier" not in error.message.lower() and "file_id" not in error.message.lower():
                raise
            log.warning("Telegram no longer knows the weather map's file_id (%s); uploading again", error)
            self._refused.add(file_id)
            self._files.pop(key, None)
            await self.store.maps.forget_file_id(*key)
            return None

    # --- the morning map -----------------------------------------------------------------------------

    def push_due(self, bot: Bot) -> asyncio.Task[None]:
        """Send today's morning maps in the background, unless that is already running; the task."""
        if self._push is None or self._push.done():
            self._push = asyncio.create_task(self._push_all(bot), name="weather-map-push")
        return self._push

    async def _push_all(self, bot: Bot) -> None:
        try:
            current = await self.current()
            while current is not None:
                due = await self.store.maps.maps_due(current.day, PUSH_BATCH)
                if not due:
                    return
                await self.store.maps.mark_maps_sent([reader.chat_id for reader in due], current.day)
                await asyncio.gather(*(self._push_one(bot, current, reader) for reader in due))
        except StorageError as error:
            log.warning("morning maps wait for the database: %s", error)

    async def _push_one(self, bot: Bot, current: MapOfDay, reader: MapReader) -> None:
        lang = language_for(reader.language, reader.language_code)
        try:
            await self.send(
                bot,
                reader.chat_id,
                current,
                reader.province,
                self.caption(lang, current, reader.province),
                rate_limit_args={"priority": "broadcast"},
            )
        except Forbidden as error:
            await self.store.outbox.deactivate_chat(reader.chat_id, error.message)
        except TelegramError as error:
            log.warning("morning map to chat %s not sent: %s", reader.chat_id, error)
