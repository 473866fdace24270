-- PostgreSQL form of storage/migrations/0016_weather_outlook.sql.
-- Now and the next days, and severe-weather alerts (issue 13).

-- The weather now in each province, from the same request as the daily forecasts.
CREATE TABLE weather_current (
    plate integer PRIMARY KEY,         -- licence-plate code 1..81
    observed_at text NOT NULL,         -- UTC ISO 8601: the conditions' own time (Open-Meteo's current.time)
    temperature double precision,      -- °C
    weather_code integer,              -- WMO code
    fetched_at text NOT NULL           -- UTC ISO 8601, when Open-Meteo answered
);

-- Three days of daily values now, with the day's precipitation and strongest gust.
ALTER TABLE weather_forecasts ADD COLUMN precipitation_sum double precision;   -- mm over the day
ALTER TABLE weather_forecasts ADD COLUMN wind_gusts_max double precision;      -- km/h

-- Every severe-weather finding ever alerted, so each (province, day, kind) goes out once, across restarts.
CREATE TABLE weather_alerts (
    plate integer NOT NULL,
    day text NOT NULL,                 -- Istanbul date, YYYY-MM-DD
    kind text NOT NULL,                -- thunderstorm | heavy_rain | heavy_snow | freezing_rain | gusts | heat | cold
    value double precision,            -- what raised it: the WMO code, km/h, °C or mm, as first seen
    created_at text NOT NULL DEFAULT newsbot_utc_text(),
    PRIMARY KEY (plate, day, kind)
);

-- Readers with a home province get alerts unless they switch them off (/weatheralerts off).
ALTER TABLE chats ADD COLUMN weather_alerts integer NOT NULL DEFAULT 1;
-- An alert's recipients: one province's reachable readers with alerts on, in chat order, and whether they
-- are in their quiet hours, all read from this index alone (an index-only scan where the visibility map
-- allows; the same columns as on SQLite).
CREATE INDEX chats_weather_alerts ON chats (province, weather_alerts, reachable, chat_id, quiet_start, quiet_end)
    WHERE province IS NOT NULL AND weather_alerts = 1;
