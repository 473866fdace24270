"""The weather map's SQL: the maxima it draws, the file_ids of uploaded maps, the morning map choice."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from storage.database import Database, StorageUnavailable
from storage.dialect import Dialect
from storage.models import DayMaxima, MapReader


def _maps_due(dialect: Dialect) -> str:
    """Readers who chose the map, whose morning text for today went out, and who have not had today's map.

    Parameters: today (Istanbul date), limit. The text's delivery is looked up by the unique (kind, ref) of
    its broadcast and the deliveries' primary key.
    """
    return (
        "SELECT c.chat_id, c.province, c.language, c.language_code "
        f"FROM chats c {dialect.indexed_by('chats_weather_map')} "
        "WHERE c.weather_map = 1 AND c.province IS NOT NULL AND c.reachable = 1 "
        " AND c.weather_sent_on = :today "
        " AND (c.weather_map_sent_on IS NULL OR c.weather_map_sent_on < :today) "
        " AND EXISTS (SELECT 1 FROM broadcasts b JOIN deliveries d ON d.broadcast_id = b.id "
        "   WHERE b.kind = 'weather' AND b.ref = CAST(c.province AS text) || ':' || :today "
        "   AND d.chat_id = c.chat_id AND d.status = 'sent') "
        "ORDER BY c.chat_id LIMIT :limit"
    )


class MapStore:
    """All SQL of the weather map."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._maps_due = _maps_due(db.dialect)

    async def day_maxima(self, day: date) -> DayMaxima | None:
        """The stored maxima of `day` (None when no province has a forecast for it)."""
        rows = await self._db.fetchall(
            "SELECT plate, temp_max, fetched_at FROM weather_forecasts WHERE day = ?", (day.isoformat(),)
        )
        if not rows:
            return None
        return DayMaxima(
            day=day,
            maxima={row["plate"]: row["temp_max"] for row in rows},
            fetched_at=min(datetime.fromisoformat(row["fetched_at"]) for row in rows),
        )

    async def file_id(self, version: str, plate: int) -> str | None:
        """The file_id of a picture uploaded before (plate 0: no province outlined)."""
        return await self._db.fetchval(
            "SELECT file_id FROM weather_map_files WHERE version = ? AND plate = ?", (version, plate)
        )

    async def save_file_id(self, version: str, plate: int, day: date, file_id: str) -> None:
        """Remember an upload, and forget the pictures of days before yesterday."""
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO weather_map_files (version, plate, day, file_id) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (version, plate) DO UPDATE SET file_id = excluded.file_id",
                (version, plate, day.isoformat(), file_id),
            )
            await tx.execute(
                "DELETE FROM weather_map_files WHERE day < ?", ((day - timedelta(days=1)).isoformat(),)
            )

    async def forget_file_id(self, version: str, plate: int) -> None:
        """Telegram no longer knows this file_id (another bot token): upload the picture again."""
        await self._db.execute(
            "DELETE FROM weather_map_files WHERE version = ? AND plate = ?", (version, plate)
        )

    async def wants_map(self, chat_id: int) -> bool:
        """Whether the chat's morning forecast comes with the map."""
        return bool(await self._db.fetchval("SELECT weather_map FROM chats WHERE chat_id = ?", (chat_id,)))

    async def set_wants_map(self, chat_id: int, on: bool) -> bool:
        """Switch the morning map on or off; returns the new setting."""
        row = await self._db.write_fetchone(
            "UPDATE chats SET weather_map = ? WHERE chat_id = ? RETURNING weather_map", (int(on), chat_id)
        )
        if row is None:  # the prelude records every chat, unless that write failed (full disk)
            raise StorageUnavailable(f"chat {chat_id} is not recorded yet")
        return bool(row[0])

    async def maps_due(self, today: date, limit: int) -> list[MapReader]:
        """Readers whose morning text went out today and who get the map with it but have not yet."""
        rows = await self._db.fetchall(self._maps_due, {"today": today.isoformat(), "limit": limit})
        return [MapReader(row[0], row[1], row[2], row[3]) for row in rows]

    async def mark_maps_sent(self, chat_ids: Sequence[int], today: date) -> None:
        """Stamp today's map as sent before sending it: a crash then loses a map, never repeats one."""
        await self._db.executemany(
            "UPDATE chats SET weather_map_sent_on = ? WHERE chat_id = ?",
            [(today.isoformat(), chat_id) for chat_id in chat_ids],
        )
