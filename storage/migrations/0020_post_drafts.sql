-- Issue 12: operators see before they publish. `/post` and `/edit N` first store the operator's message as a
-- draft and show it as readers will get it, with Publish and Cancel buttons; only Publish publishes. Drafts
-- live here, not in memory, so a restart between the preview and the press loses nothing. A press claims the
-- row (state 'pending' -> 'published' or 'cancelled') in the same transaction that publishes, so a double
-- press or two presses at once publish once. `text` is the message as the operator sent it (parsed again, by
-- the same parser, on Publish); times are unix seconds. The maintenance job deletes rows past expires_at.
CREATE TABLE post_drafts (
    id INTEGER PRIMARY KEY,
    token TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('post', 'edit')),
    chat_id INTEGER NOT NULL,
    article_id INTEGER,
    text TEXT NOT NULL,
    photo_file_id TEXT,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'published', 'cancelled')),
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL
);

CREATE INDEX post_drafts_expiry ON post_drafts (expires_at);
