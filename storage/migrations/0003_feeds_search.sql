-- Feeds the poller fetches, with what conditional GET and backoff need between polls.
CREATE TABLE feeds (
    id INTEGER PRIMARY KEY,
    url TEXT NOT NULL,                        -- as the operator gave it
    url_key TEXT NOT NULL UNIQUE,             -- the URL normalised, so one feed is added once
    title TEXT,
    etag TEXT,
    last_modified TEXT,
    primed INTEGER NOT NULL DEFAULT 0,        -- 1 once a successful fetch stored the backlog silently
    failures INTEGER NOT NULL DEFAULT 0,      -- consecutive failed fetches, for backoff
    next_fetch_at REAL NOT NULL DEFAULT 0,    -- unix time before which the feed is not fetched
    last_fetch_at REAL,                       -- unix time of the last attempt
    last_error TEXT,                          -- why the last attempt failed; NULL after a success
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);

-- Which feed first brought an article (for `newsbot feed list`); kept when the feed is removed.
ALTER TABLE articles ADD COLUMN feed_id INTEGER REFERENCES feeds (id) ON DELETE SET NULL;
CREATE INDEX articles_feed ON articles (feed_id) WHERE feed_id IS NOT NULL;

-- Full-text search over Turkish-folded copies of headline and body (folded in Python, see
-- storage/articles.py); rowid = articles.id. Existing articles are indexed when the store opens.
CREATE VIRTUAL TABLE articles_fts USING fts5 (title, body, tokenize = 'unicode61 remove_diacritics 2');

CREATE TRIGGER articles_fts_delete AFTER DELETE ON articles BEGIN
    DELETE FROM articles_fts WHERE rowid = old.id;
END;
