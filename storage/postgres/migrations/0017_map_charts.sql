-- PostgreSQL form of storage/migrations/0017_map_charts.sql.
-- Issue 13: the weather map, and the history operators' charts need.

-- Telegram's file_id of every map picture uploaded once: one per drawn picture, so a restart sends the same
-- picture by file_id instead of uploading it again.
CREATE TABLE weather_map_files (
    version text NOT NULL,         -- hash of the day, the temperatures drawn and the map style (bot/weather/maps.py)
    plate integer NOT NULL,        -- the province outlined, 0 for none
    day text NOT NULL,             -- Istanbul date the map shows, YYYY-MM-DD; older days are deleted
    file_id text NOT NULL,
    created_at text NOT NULL DEFAULT newsbot_utc_text(),
    PRIMARY KEY (version, plate)
);

-- The reader's choice: the morning forecast with the map under it (1), or text only (0, the default).
-- weather_map_sent_on: the Istanbul date of the last morning map, so a reader gets it once a day.
ALTER TABLE chats ADD COLUMN weather_map integer NOT NULL DEFAULT 0;
ALTER TABLE chats ADD COLUMN weather_map_sent_on text;
CREATE INDEX chats_weather_map ON chats (chat_id) WHERE weather_map = 1;

-- How many chats became active subscribers (subscribed and reachable) or stopped being one, per hour, for
-- the subscribers chart of /stats. Triggers count, so every path that changes a chat counts (subscribe,
-- unsubscribe, a block seen by a send or by my_chat_member, a channel or group removing the bot), and the
-- chart reads at most 720 rows per kind for 30 days, whatever the audience.
--   joined   became active: subscribed, or came back (unblocked) while subscribed
--   left     stopped being subscribed (unsubscribed, removed from a group or channel)
--   blocked  still subscribed but unreachable (blocked the bot, deleted the account)
CREATE TABLE chat_event_hours (
    hour bigint NOT NULL,          -- unix time of the hour's start (UTC)
    kind text NOT NULL,            -- joined | left | blocked
    count bigint NOT NULL,
    PRIMARY KEY (hour, kind)
);

-- One function for both triggers; the hour is that of the transaction's start (now()), SQLite's of the
-- statement: the same hour but for a transaction that spans its end.
CREATE FUNCTION newsbot_count_chat_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO chat_event_hours (hour, kind, count) VALUES (
        floor(extract(epoch FROM now()) / 3600)::bigint * 3600,
        CASE WHEN NEW.subscribed = 1 AND NEW.reachable = 1 THEN 'joined'
             WHEN NEW.subscribed = 0 THEN 'left'
             ELSE 'blocked' END,
        1
    )
    ON CONFLICT (hour, kind) DO UPDATE SET count = chat_event_hours.count + 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER chat_events_on_update AFTER UPDATE OF subscribed, reachable ON chats
FOR EACH ROW
WHEN ((OLD.subscribed = 1 AND OLD.reachable = 1) <> (NEW.subscribed = 1 AND NEW.reachable = 1))
EXECUTE FUNCTION newsbot_count_chat_event();

CREATE TRIGGER chat_events_on_insert AFTER INSERT ON chats
FOR EACH ROW
WHEN (NEW.subscribed = 1 AND NEW.reachable = 1)
EXECUTE FUNCTION newsbot_count_chat_event();

-- Messages the rate limiter let out (replies and broadcasts) and 429 answers, per hour, sampled from the
-- limiter's counters every minute (bot/stats/), for the sends chart of /stats.
CREATE TABLE send_hours (
    hour bigint PRIMARY KEY,       -- unix time of the hour's start (UTC)
    sent bigint NOT NULL DEFAULT 0,
    flood bigint NOT NULL DEFAULT 0
);

-- Readers who opened an article through a deep link (t.me/<bot>?start=a12...), for /stats N. One row per
-- article and reader; via_share = 1 once the reader came through someone else's shared link (a12-rCODE).
CREATE TABLE article_opens (
    article_id bigint NOT NULL,
    chat_id bigint NOT NULL,
    via_share integer NOT NULL DEFAULT 0,
    opened_at double precision NOT NULL,   -- unix time of the first open
    PRIMARY KEY (article_id, chat_id)
);
