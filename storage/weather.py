"""Forecasts of the 81 provinces, each chat's home province and push time, and queueing the morning push."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import date, datetime

from storage.database import Database
from storage.models import Forecast, WeatherSettings
from storage.outbox import Outbox

BROADCAST_KIND = "weather"

# Readers of one province whose push time has come today and who have not had it yet.
# Positional, because Outbox.enqueue puts the broadcast id first. Parameters: plate, now HH:MM, today.
_DUE = (
    "province = ? AND weather_time IS NOT NULL AND weather_time <= ? "
    "AND (weather_sent_on IS NULL OR weather_sent_on < ?) AND reachable = 1"
)
_DUE_RECIPIENTS = f"SELECT chat_id FROM chats WHERE {_DUE}"
# The every-minute check, cheap on the chats_weather_pending index (SQLite uses no index for "IS NULL OR <").
_PENDING_REST = (
    "AND weather_time <= :hhmm AND province IS NOT NULL AND weather_time IS NOT NULL AND reachable = 1"
)
_ANYONE_DUE = (
    f"SELECT EXISTS (SELECT 1 FROM chats WHERE weather_sent_on IS NULL {_PENDING_REST}) "
    f"OR EXISTS (SELECT 1 FROM chats WHERE weather_sent_on < :today {_PENDING_REST})"
)


class WeatherStore:
    """All weather SQL: the forecast table and the weather columns of chats."""

    def __init__(self, db: Database, outbox: Outbox) -> None:
        self._db = db
        self._outbox = outbox

    async def save_forecasts(self, forecasts: Sequence[Forecast], keep_from: date) -> None:
        """Replace the stored days with a fresh answer and forget days before keep_from, atomically."""
        async with self._db.transaction() as tx:
            await tx.executemany(
                "INSERT INTO weather_forecasts (plate, day, temp_max, temp_min, weather_code, "
                " precipitation_probability, fetched_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (plate, day) DO UPDATE SET temp_max = excluded.temp_max, "
                " temp_min = excluded.temp_min, weather_code = excluded.weather_code, "
                " precipitation_probability = excluded.precipitation_probability, "
                " fetched_at = excluded.fetched_at",
                [
                    (
                        f.plate,
                        f.day.isoformat(),
                        f.temp_max,
                        f.temp_min,
                        f.weather_code,
                        f.precipitation_probability,
                        f.fetched_at.isoformat(),
                    )
                    for f in forecasts
                ],
            )
            await tx.execute("DELETE FROM weather_forecasts WHERE day < ?", (keep_from.isoformat(),))

    async def forecast(self, plate: int, day: date) -> Forecast | None:
        """One province's forecast for one day, however old."""
        row = await self._db.fetchone(
            "SELECT * FROM weather_forecasts WHERE plate = ? AND day = ?", (plate, day.isoformat())
        )
        return None if row is None else _forecast(row)

    async def oldest_fetch_for(self, day: date) -> tuple[int, datetime | None]:
        """How many provinces have a forecast for `day`, and the oldest fetch among them (staleness)."""
        row = await self._db.fetchone(
            "SELECT count(*), min(fetched_at) FROM weather_forecasts WHERE day = ?", (day.isoformat(),)
        )
        assert row is not None
        return row[0], None if row[1] is None else datetime.fromisoformat(row[1])

    async def settings(self, chat_id: int) -> WeatherSettings:
        """The chat's home province and push time (defaults for a chat the bot has not seen)."""
        row = await self._db.fetchone(
            "SELECT province, weather_time FROM chats WHERE chat_id = ?", (chat_id,)
        )
        if row is None:
            return WeatherSettings(province=None, weather_time=None)
        return WeatherSettings(province=row["province"], weather_time=row["weather_time"])

    async def set_province(self, chat_id: int, plate: int) -> WeatherSettings:
        """Set the home province; a reader whose push time has passed today gets today's at the next run."""
        row = await self._db.fetchone(
            "UPDATE chats SET province = ? WHERE chat_id = ? RETURNING province, weather_time",
            (plate, chat_id),
        )
        assert row is not None, "the prelude records every chat before handlers run"
        return WeatherSettings(province=row["province"], weather_time=row["weather_time"])

    async def set_weather_time(self, chat_id: int, weather_time: str | None) -> WeatherSettings:
        """Set ("HH:MM") or clear (None) the push time; a reader has at most one push a day regardless."""
        row = await self._db.fetchone(
            "UPDATE chats SET weather_time = ? WHERE chat_id = ? RETURNING province, weather_time",
            (weather_time, chat_id),
        )
        assert row is not None, "the prelude records every chat before handlers run"
        return WeatherSettings(province=row["province"], weather_time=row["weather_time"])

    async def enqueue_due(self, now: datetime) -> dict[int, int]:
        """Queue today's push for due readers (`now`: Istanbul), one broadcast per province; {plate: n}."""
        # One transaction per province queues and stamps weather_sent_on, so a crash does both or neither for
        # each province: no reader is lost or served twice, and no transaction holds the write lock long.
        # Provinces without a forecast for today wait (their readers stay due).
        params = _now(now)
        queued: dict[int, int] = {}
        if not await self._db.fetchval(_ANYONE_DUE, params):
            return queued
        rows = await self._db.fetchall(
            "SELECT DISTINCT province FROM chats WHERE province IS NOT NULL "
            "AND weather_time IS NOT NULL AND weather_time <= :hhmm "
            "AND (weather_sent_on IS NULL OR weather_sent_on < :today) AND reachable = 1 "
            "AND province IN (SELECT plate FROM weather_forecasts WHERE day = :today) "
            "ORDER BY province",
            params,
        )
        for (plate,) in rows:
            due = (plate, params["hhmm"], params["today"])
            ref = f"{plate}:{params['today']}"
            async with self._db.transaction() as tx:
                await self._outbox.enqueue(tx, BROADCAST_KIND, ref, _DUE_RECIPIENTS, due)
                queued[plate] = await tx.execute(
                    f"UPDATE chats SET weather_sent_on = ? WHERE {_DUE}", (params["today"], *due)
                )
        return queued


def _now(now: datetime) -> dict[str, str]:
    return {"hhmm": now.strftime("%H:%M"), "today": now.date().isoformat()}


def _forecast(row: sqlite3.Row) -> Forecast:
    return Forecast(
        plate=row["plate"],
        day=date.fromisoformat(row["day"]),
        temp_max=row["temp_max"],
        temp_min=row["temp_min"],
        weather_code=row["weather_code"],
        precipitation_probability=row["precipitation_probability"],
        fetched_at=datetime.fromisoformat(row["fetched_at"]),
    )
