-- Now and the next days, and severe-weather alerts (issue 13).

-- The weather now in each province, from the same request as the daily forecasts.
CREATE TABLE weather_current (
    plate INTEGER PRIMARY KEY,         -- licence-plate code 1..81
    observed_at TEXT NOT NULL,         -- UTC ISO 8601: the conditions' own time (Open-Meteo's current.time)
    temperature REAL,                  -- °C
    weather_code INTEGER,              -- WMO code
    fetched_at TEXT NOT NULL           -- UTC ISO 8601, when Open-Meteo answered
) WITHOUT ROWID;

-- Three days of daily values now, with the day's precipitation and strongest gust.
ALTER TABLE weather_forecasts ADD COLUMN precipitation_sum REAL;   -- mm over the day
ALTER TABLE weather_forecasts ADD COLUMN wind_gusts_max REAL;      -- km/h

-- Every severe-weather finding ever alerted, so each (province, day, kind) goes out once, across restarts.
CREATE TABLE weather_alerts (
    plate INTEGER NOT NULL,
    day TEXT NOT NULL,                 -- Istanbul date, YYYY-MM-DD
    kind TEXT NOT NULL,                -- thunderstorm | heavy_rain | heavy_snow | freezing_rain | gusts | heat | cold
    value REAL,                        -- what raised it: the WMO code, km/h, °C or mm, as first seen
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    PRIMARY KEY (plate, day, kind)
) WITHOUT ROWID;

-- Readers with a home province get alerts unless they switch them off (/weatheralerts off).
ALTER TABLE chats ADD COLUMN weather_alerts INTEGER NOT NULL DEFAULT 1;
-- An alert's recipients: one province's reachable readers with alerts on, in chat order, and whether they
-- are in their quiet hours, all read from this index alone (weather_alerts is a column too, or SQLite
-- reads every chat row: twice the time, bench/weather_alerts.py).
CREATE INDEX chats_weather_alerts ON chats (province, weather_alerts, reachable, chat_id, quiet_start, quiet_end)
    WHERE province IS NOT NULL AND weather_alerts = 1;
