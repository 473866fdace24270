"""Forecasts of the 81 provinces, each chat's home province and push time, and queueing the morning push."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from itertools import groupby

from storage.database import Database, Row, StorageUnavailable
from storage.models import CurrentConditions, Forecast, WeatherAlert, WeatherSettings
from storage.outbox import Outbox

BROADCAST_KIND = "weather"
ALERT_BROADCAST_KIND = "weather_alert"

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


# An alert's recipients: the province's reachable readers with alerts on (chats_weather_alerts index).
# Positional, because Outbox.enqueue puts the broadcast id first. Parameter: plate.
_ALERT_RECIPIENTS = "SELECT chat_id FROM chats WHERE province = ? AND weather_alerts = 1 AND reachable = 1"
# Quiet hours as bot/readers/schedule.py is_quiet judges them: [start, end) in minutes after Istanbul
# midnight, spanning midnight when start > end, none when either is NULL or they are equal.
_QUIET = (
    "quiet_start IS NOT NULL AND quiet_end IS NOT NULL AND ("
    " (quiet_start < quiet_end AND :minute >= quiet_start AND :minute < quiet_end)"
    " OR (quiet_start > quiet_end AND (:minute >= quiet_start OR :minute < quiet_end)))"
)
_SILENCE_QUIET = (
    "UPDATE deliveries SET silent = 1 WHERE broadcast_id = :broadcast AND chat_id IN ("
    " SELECT chat_id FROM chats WHERE province = :plate AND weather_alerts = 1 AND reachable = 1"
    f" AND {_QUIET})"
)


@dataclass(frozen=True)
class QueuedAlert:
    """One alert broadcast queued: a province, a day, the kinds new in this refresh, how many readers."""

    plate: int
    day: date
    kinds: tuple[str, ...]
    ref: str
    readers: int
    silent: int


@dataclass(frozen=True)
class CurrentFreshness:
    """How many provinces have current conditions, the oldest conditions' time and the oldest fetch."""

    count: int
    oldest_observed: datetime | None
    oldest_fetched: datetime | None


class WeatherStore:
    """All weather SQL: the forecast table and the weather columns of chats."""

    def __init__(self, db: Database, outbox: Outbox) -> None:
        self._db = db
        self._outbox = outbox

    async def save_forecasts(
        self,
        forecasts: Sequence[Forecast],
        keep_from: date,
        current: Sequence[CurrentConditions] = (),
    ) -> None:
        """Replace the stored days (and conditions now) with a fresh answer, forget days before keep_from."""
        async with self._db.transaction() as tx:
            await tx.executemany(
                "INSERT INTO weather_forecasts (plate, day, temp_max, temp_min, weather_code, "
                " precipitation_probability, fetched_at, precipitation_sum, wind_gusts_max) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (plate, day) DO UPDATE SET temp_max = excluded.temp_max, "
                " temp_min = excluded.temp_min, weather_code = excluded.weather_code, "
                " precipitation_probability = excluded.precipitation_probability, "
                " fetched_at = excluded.fetched_at, precipitation_sum = excluded.precipitation_sum, "
                " wind_gusts_max = excluded.wind_gusts_max",
                [
                    (
                        f.plate,
                        f.day.isoformat(),
                        f.temp_max,
                        f.temp_min,
                        f.weather_code,
                        f.precipitation_probability,
                        f.fetched_at.isoformat(),
                        f.precipitation_sum,
                        f.wind_gusts_max,
                    )
                    for f in forecasts
                ],
            )
            await tx.executemany(
                "INSERT INTO weather_current (plate, observed_at, temperature, weather_code, fetched_at) "
                "VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (plate) DO UPDATE SET observed_at = excluded.observed_at, "
                " temperature = excluded.temperature, weather_code = excluded.weather_code, "
                " fetched_at = excluded.fetched_at",
                [
                    (
                        c.plate,
                        c.observed_at.isoformat(),
                        c.temperature,
                        c.weather_code,
                        c.fetched_at.isoformat(),
                    )
                    for c in current
                ],
            )
            await tx.execute("DELETE FROM weather_forecasts WHERE day < ?", (keep_from.isoformat(),))
            # Alerts only ever concern today and tomorrow: older findings cannot come back.
            await tx.execute("DELETE FROM weather_alerts WHERE day < ?", (keep_from.isoformat(),))

    async def forecast(self, plate: int, day: date) -> Forecast | None:
        """One province's forecast for one day, however old."""
        row = await self._db.fetchone(
            "SELECT * FROM weather_forecasts WHERE plate = ? AND day = ?", (plate, day.isoformat())
        )
        return None if row is None else _forecast(row)

    async def forecasts(self, plate: int, first: date, last: date) -> list[Forecast]:
        """One province's stored days from `first` to `last` (inclusive) in order; missing days are absent."""
        rows = await self._db.fetchall(
            "SELECT * FROM weather_forecasts WHERE plate = ? AND day BETWEEN ? AND ? ORDER BY day",
            (plate, first.isoformat(), last.isoformat()),
        )
        return [_forecast(row) for row in rows]

    async def forecasts_on(self, days: Sequence[date]) -> list[Forecast]:
        """Every province's forecast for these days (alerts look at today and tomorrow)."""
        marks = ", ".join("?" for _ in days)
        rows = await self._db.fetchall(
            f"SELECT * FROM weather_forecasts WHERE day IN ({marks}) ORDER BY plate, day",
            tuple(day.isoformat() for day in days),
        )
        return [_forecast(row) for row in rows]

    async def current(self, plate: int) -> CurrentConditions | None:
        """One province's conditions now, as last fetched (however old)."""
        row = await self._db.fetchone("SELECT * FROM weather_current WHERE plate = ?", (plate,))
        if row is None:
            return None
        return CurrentConditions(
            plate=row["plate"],
            observed_at=datetime.fromisoformat(row["observed_at"]),
            temperature=row["temperature"],
            weather_code=row["weather_code"],
            fetched_at=datetime.fromisoformat(row["fetched_at"]),
        )

    async def current_freshness(self) -> CurrentFreshness:
        """How complete and how old the stored current conditions are (a refresh is due when they age)."""
        row = await self._db.fetchone(
            "SELECT count(*), min(observed_at), min(fetched_at) FROM weather_current"
        )
        assert row is not None
        return CurrentFreshness(
            count=row[0],
            oldest_observed=None if row[1] is None else datetime.fromisoformat(row[1]),
            oldest_fetched=None if row[2] is None else datetime.fromisoformat(row[2]),
        )

    async def alerts(self, plate: int, day: date, kinds: Sequence[str]) -> list[WeatherAlert]:
        """The recorded findings of these kinds for one province and day (what an alert message shows)."""
        marks = ", ".join("?" for _ in kinds)
        rows = await self._db.fetchall(
            f"SELECT plate, day, kind, value FROM weather_alerts WHERE plate = ? AND day = ? "
            f"AND kind IN ({marks})",
            (plate, day.isoformat(), *kinds),
        )
        return [
            WeatherAlert(plate=row[0], day=date.fromisoformat(row[1]), kind=row[2], value=row[3])
            for row in rows
        ]

    async def oldest_fetch_for(self, day: date) -> tuple[int, datetime | None]:
        """How many provinces have a forecast for `day`, and the oldest fetch among them (staleness)."""
        row = await self._db.fetchone(
            "SELECT count(*), min(fetched_at) FROM weather_forecasts WHERE day = ?", (day.isoformat(),)
        )
        assert row is not None
        return row[0], None if row[1] is None else datetime.fromisoformat(row[1])

    async def settings(self, chat_id: int) -> WeatherSettings:
        """The chat's home province and push time (defaults for a chat the bot has not seen)."""
        row = await self._db.fetchone(f"SELECT {_SETTINGS} FROM chats WHERE chat_id = ?", (chat_id,))
        if row is None:
            return WeatherSettings(province=None, weather_time=None)
        return _settings(row)

    async def set_province(self, chat_id: int, plate: int) -> WeatherSettings:
        """Set the home province; a reader whose push time has passed today gets today's at the next run."""
        row = await self._db.write_fetchone(
            f"UPDATE chats SET province = ? WHERE chat_id = ? RETURNING {_SETTINGS}", (plate, chat_id)
        )
        if row is None:  # the prelude records every chat, unless that write failed (full disk)
            raise StorageUnavailable(f"chat {chat_id} is not recorded yet")
        return _settings(row)

    async def set_weather_time(self, chat_id: int, weather_time: str | None) -> WeatherSettings:
        """Set ("HH:MM") or clear (None) the push time; a reader has at most one push a day regardless."""
        row = await self._db.write_fetchone(
            f"UPDATE chats SET weather_time = ? WHERE chat_id = ? RETURNING {_SETTINGS}",
            (weather_time, chat_id),
        )
        if row is None:  # the prelude records every chat, unless that write failed (full disk)
            raise StorageUnavailable(f"chat {chat_id} is not recorded yet")
        return _settings(row)

    async def set_alerts(self, chat_id: int, on: bool) -> WeatherSettings:
        """Switch severe-weather alerts on or off for the chat."""
        row = await self._db.write_fetchone(
            f"UPDATE chats SET weather_alerts = ? WHERE chat_id = ? RETURNING {_SETTINGS}",
            (int(on), chat_id),
        )
        if row is None:  # the prelude records every chat, unless that write failed (full disk)
            raise StorageUnavailable(f"chat {chat_id} is not recorded yet")
        return _settings(row)

    async def raise_alerts(self, findings: Sequence[WeatherAlert], minute: int) -> list[QueuedAlert]:
        """Record findings not alerted before and queue one alert per province and day for its readers.

        ONE transaction records the findings and queues their broadcasts, so a crash does both or neither:
        no finding is lost, none goes out twice (the (plate, day, kind) key, and the broadcast's unique
        (kind, ref)). Readers in their quiet hours at `minute` (after Istanbul midnight) get it silently.
        """
        queued: list[QueuedAlert] = []
        if not findings:
            return queued
        ordered = sorted(findings, key=lambda f: (f.plate, f.day))
        async with self._db.transaction() as tx:
            for (plate, day), grouped in groupby(ordered, key=lambda f: (f.plate, f.day)):
                group = list(grouped)
                new: set[str] = set()
                for finding in group:
                    row = await tx.fetchone(
                        "INSERT INTO weather_alerts (plate, day, kind, value) VALUES (?, ?, ?, ?) "
                        "ON CONFLICT (plate, day, kind) DO NOTHING RETURNING kind",
                        (plate, day.isoformat(), finding.kind, finding.value),
                    )
                    if row is not None:
                        new.add(row[0])
                if not new:
                    continue
                kinds = tuple(f.kind for f in group if f.kind in new)  # in the order they were found
                ref = f"{plate}:{day.isoformat()}:{'+'.join(kinds)}"
                if not await tx.fetchone(f"SELECT 1 FROM ({_ALERT_RECIPIENTS}) AS r LIMIT 1", (plate,)):
                    queued.append(QueuedAlert(plate, day, kinds, ref, 0, 0))  # recorded; nobody to tell
                    continue
                broadcast = await self._outbox.enqueue(
                    tx, ALERT_BROADCAST_KIND, ref, _ALERT_RECIPIENTS, (plate,)
                )
                readers = await tx.fetchone("SELECT total FROM broadcasts WHERE id = ?", (broadcast,))
                silent = await tx.execute(
                    _SILENCE_QUIET, {"broadcast": broadcast, "plate": plate, "minute": minute}
                )
                total = 0 if readers is None or readers[0] is None else readers[0]
                queued.append(QueuedAlert(plate, day, kinds, ref, total, silent))
        await self._outbox.after_queueing(sum(alert.readers for alert in queued))
        return queued

    async def enqueue_due(self, now: datetime) -> dict[int, int]:
        """Queue today's push for due readers (`now`: Istanbul), one broadcast per province; {plate: n}."""
        # ONE transaction queues and stamps weather_sent_on, so a crash does both or neither: no reader is
        # lost or served twice. Provinces without a forecast for today wait (their readers stay due). One
        # transaction costs a quarter of one per province (2.6-2.9 s against 9.5-9.9 s for 100,000 readers,
        # bench/weather_push.py), and readers do not wait on it: they read on their own connections.
        params = _now(now)
        queued: dict[int, int] = {}
        if not await self._db.fetchval(_ANYONE_DUE, params):
            return queued
        async with self._db.transaction() as tx:
            rows = await tx.fetchall(
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
                await self._outbox.enqueue(tx, BROADCAST_KIND, ref, _DUE_RECIPIENTS, due)
                queued[plate] = await tx.execute(
                    f"UPDATE chats SET weather_sent_on = ? WHERE {_DUE}", (params["today"], *due)
                )
        await self._outbox.after_queueing(sum(queued.values()))
        return queued


def _now(now: datetime) -> dict[str, str]:
    return {"hhmm": now.strftime("%H:%M"), "today": now.date().isoformat()}


_SETTINGS = "province, weather_time, weather_alerts"


def _settings(row: Row) -> WeatherSettings:
    return WeatherSettings(
        province=row["province"], weather_time=row["weather_time"], alerts=bool(row["weather_alerts"])
    )


def _forecast(row: Row) -> Forecast:
    return Forecast(
        plate=row["plate"],
        day=date.fromisoformat(row["day"]),
        temp_max=row["temp_max"],
        temp_min=row["temp_min"],
        weather_code=row["weather_code"],
        precipitation_probability=row["precipitation_probability"],
        fetched_at=datetime.fromisoformat(row["fetched_at"]),
        precipitation_sum=row["precipitation_sum"],
        wind_gusts_max=row["wind_gusts_max"],
    )
