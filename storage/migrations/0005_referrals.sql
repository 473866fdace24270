-- Invitations: every reader's opaque invite code, and which friend came through whose link.
CREATE TABLE invite_codes (
    user_id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,     -- 8 characters of A-Z a-z 0-9, so links never expose a user id
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);

-- One row per friend: the first referrer wins, and only readers the bot had never seen are recorded.
CREATE TABLE referrals (
    friend_id INTEGER PRIMARY KEY,   -- the friend's user id (= their private chat id)
    referrer_id INTEGER NOT NULL,
    article_id INTEGER,              -- the shared article the friend opened, if any
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    CHECK (friend_id != referrer_id)
);
CREATE INDEX referrals_by_referrer ON referrals (referrer_id);
