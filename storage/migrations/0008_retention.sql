-- Retention (bot/maintenance.py): finished deliveries older than NEWSBOT_RETENTION_DAYS are counted here,
-- one row per UTC day, kind and outcome, in the same transaction that deletes them, so the history of
-- what was sent outlives the rows themselves.
CREATE TABLE delivery_days (
    day TEXT NOT NULL,             -- UTC date the deliveries finished, YYYY-MM-DD
    kind TEXT NOT NULL,            -- article | weather (broadcasts.kind)
    status TEXT NOT NULL,          -- sent | failed
    count INTEGER NOT NULL,
    PRIMARY KEY (day, kind, status)
) WITHOUT ROWID;
