-- Chats that talk to the bot: private readers, groups and channels.
CREATE TABLE chats (
    chat_id INTEGER PRIMARY KEY,
    chat_type TEXT NOT NULL DEFAULT 'private',
    title TEXT,
    language_code TEXT,            -- what Telegram reports for the user
    language TEXT,                 -- the reader's own choice via /language, overrides language_code
    subscribed INTEGER NOT NULL DEFAULT 0,   -- the reader's intent
    reachable INTEGER NOT NULL DEFAULT 1,    -- 0 once Telegram says blocked, deactivated or not found
    subscribed_at TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE INDEX chats_active ON chats (chat_id) WHERE subscribed = 1 AND reachable = 1;

-- Articles ("statements") from imports, feeds and admins.
CREATE TABLE articles (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    url TEXT,
    url_key TEXT UNIQUE,           -- the link normalised, for deduplication
    guid TEXT UNIQUE,              -- a feed item's guid, when it has one
    content_hash TEXT UNIQUE,      -- headline and date, the last resort for deduplication
    published_at TEXT NOT NULL,    -- ISO 8601; the import time when the source gives none
    source TEXT NOT NULL,          -- import | feed | telegram
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE INDEX articles_newest ON articles (published_at DESC, id DESC);
