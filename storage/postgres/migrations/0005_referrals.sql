-- PostgreSQL form of storage/migrations/0005_referrals.sql.
-- Invitations: every reader's opaque invite code, and which friend came through whose link.
CREATE TABLE invite_codes (
    user_id bigint PRIMARY KEY,
    code text NOT NULL UNIQUE,     -- 8 characters of A-Z a-z 0-9, so links never expose a user id
    created_at text NOT NULL DEFAULT newsbot_utc_text()
);

-- One row per friend: the first referrer wins, and only readers the bot had never seen are recorded.
CREATE TABLE referrals (
    friend_id bigint PRIMARY KEY,    -- the friend's user id (= their private chat id)
    referrer_id bigint NOT NULL,
    article_id bigint,               -- the shared article the friend opened, if any
    created_at text NOT NULL DEFAULT newsbot_utc_text(),
    CHECK (friend_id != referrer_id)
);
CREATE INDEX referrals_by_referrer ON referrals (referrer_id);
