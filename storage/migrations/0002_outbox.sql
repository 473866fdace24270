-- The persistent outbox: what to send (a broadcast) and to whom (one delivery per chat).
CREATE TABLE broadcasts (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,            -- article | weather
    ref TEXT NOT NULL,             -- what to render: an article id, or "plate:YYYY-MM-DD" for weather
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    UNIQUE (kind, ref)
);

CREATE TABLE deliveries (
    broadcast_id INTEGER NOT NULL REFERENCES broadcasts (id) ON DELETE CASCADE,
    chat_id INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',   -- pending | sent | failed
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before REAL NOT NULL DEFAULT 0,       -- unix time before which no attempt is made (backoff)
    error TEXT,                               -- the last error, for operators
    finished_at REAL,                         -- unix time the delivery was sent or given up
    PRIMARY KEY (broadcast_id, chat_id)
) WITHOUT ROWID;
CREATE INDEX deliveries_pending ON deliveries (broadcast_id, chat_id) WHERE status = 'pending';
