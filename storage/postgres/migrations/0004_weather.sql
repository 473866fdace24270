-- PostgreSQL form of storage/migrations/0004_weather.sql.
-- Home province and morning forecast per chat; the daily forecasts of all 81 provinces.
ALTER TABLE chats ADD COLUMN province integer;          -- licence-plate code 1..81, NULL until chosen
ALTER TABLE chats ADD COLUMN weather_time text DEFAULT '08:00';   -- "HH:MM" Istanbul time, NULL = no push
ALTER TABLE chats ADD COLUMN weather_sent_on text;      -- Istanbul date (YYYY-MM-DD) of the last queued push
CREATE INDEX chats_weather_due ON chats (province, weather_time)
    WHERE province IS NOT NULL AND weather_time IS NOT NULL;
-- The every-minute check reads only readers not yet served today.
CREATE INDEX chats_weather_pending ON chats (weather_sent_on, weather_time)
    WHERE province IS NOT NULL AND weather_time IS NOT NULL;

CREATE TABLE weather_forecasts (
    plate integer NOT NULL,
    day text NOT NULL,                 -- Istanbul date, YYYY-MM-DD
    temp_max double precision,
    temp_min double precision,
    weather_code integer,              -- WMO code
    precipitation_probability integer, -- percent, the day's maximum
    fetched_at text NOT NULL,          -- UTC ISO 8601, when Open-Meteo answered
    PRIMARY KEY (plate, day)
);
