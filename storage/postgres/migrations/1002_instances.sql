-- PostgreSQL only: the instances that share one bot token, and how much of Telegram's global budget each
-- may use for replies (bot/instances/cluster.py). Every instance renews its row (`seen_at`, the database
-- server's clock) every 2 s; a row not renewed for its term is a dead instance. The sender (the holder of
-- the "sender" lease) grants the others their `allowance` and keeps the rest of the budget for itself.
CREATE TABLE instances (
    id text PRIMARY KEY,                      -- host, pid and a random part (storage/postgres/lease.py)
    started_at double precision NOT NULL,     -- unix time of its first heartbeat: grants go oldest first
    seen_at double precision NOT NULL,        -- unix time of its last heartbeat
    allowance integer NOT NULL DEFAULT 0,     -- global sends per second the sender granted it
    granted_at double precision               -- unix time the sender wrote that grant
);
