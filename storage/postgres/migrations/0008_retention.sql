-- PostgreSQL form of storage/migrations/0008_retention.sql.
-- Retention (bot/maintenance.py): finished deliveries older than NEWSBOT_RETENTION_DAYS are counted here,
-- one row per UTC day, kind and outcome, in the same transaction that deletes them, so the history of
-- what was sent outlives the rows themselves.
CREATE TABLE delivery_days (
    day text NOT NULL,             -- UTC date the deliveries finished, YYYY-MM-DD
    kind text NOT NULL,            -- article | weather (broadcasts.kind)
    status text NOT NULL,          -- sent | failed
    count bigint NOT NULL,
    PRIMARY KEY (day, kind, status)
);
