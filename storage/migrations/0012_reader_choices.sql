-- Readers choose what they get and when (issue "Readers choose").
-- Articles carry a language, a section and a breaking flag; feeds give them to their items; readers choose
-- article languages, muted sections, followed words, digest times and quiet hours. Everything a broadcast
-- needs to route an article is a column or an indexed table here, so routing runs in SQL, never in a
-- Python loop over subscribers.

-- Sections: an outlet's grouping of its feeds ("Ekonomi/Economy"). Section 1 is "General": articles from a
-- feed without a section, /post without one, imports. `key` is the folded label, so a section is created once.
CREATE TABLE sections (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    label_tr TEXT NOT NULL,
    label_en TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
INSERT INTO sections (id, key, label_tr, label_en) VALUES (1, 'general', 'Genel', 'General');

-- The operator's choices per feed: NULL language = detect (feed, then page, then NEWSBOT_DEFAULT_LANGUAGE).
ALTER TABLE feeds ADD COLUMN language TEXT;
ALTER TABLE feeds ADD COLUMN section_id INTEGER NOT NULL DEFAULT 1;
ALTER TABLE feeds ADD COLUMN breaking INTEGER NOT NULL DEFAULT 0;

-- language: ISO 639-1 code ("tr", "en"); NULL (articles stored before this migration) = the default language.
ALTER TABLE articles ADD COLUMN language TEXT;
ALTER TABLE articles ADD COLUMN section_id INTEGER NOT NULL DEFAULT 1;
ALTER TABLE articles ADD COLUMN breaking INTEGER NOT NULL DEFAULT 0;

-- Reader choices, on the chat row so routing reads one row per subscriber.
--   languages       article languages, sorted and comma-separated ("en,tr"); NULL = the interface language
--   muted_sections  section ids switched off, wrapped in commas (",3,7,"), so instr(muted, ',3,') tests one;
--                   NULL = all sections on (and every new section is on)
--   digest_times    "HH:MM[,HH:MM...]" Istanbul time, up to 3; NULL = every article as it is published
--   digest_next     unix time of the next digest slot to serve; the per-minute check reads only due rows
--   digest_after    the highest article id a previous digest covered; a digest lists articles after it
--   quiet_start/end minutes after Istanbul midnight; NULL = no quiet hours (start > end spans midnight)
--   quiet_next_end  unix time the current or next quiet period ends: held articles are released then
ALTER TABLE chats ADD COLUMN languages TEXT;
ALTER TABLE chats ADD COLUMN muted_sections TEXT;
ALTER TABLE chats ADD COLUMN digest_times TEXT;
ALTER TABLE chats ADD COLUMN digest_next REAL;
ALTER TABLE chats ADD COLUMN digest_after INTEGER;
ALTER TABLE chats ADD COLUMN quiet_start INTEGER;
ALTER TABLE chats ADD COLUMN quiet_end INTEGER;
ALTER TABLE chats ADD COLUMN quiet_next_end REAL;
CREATE INDEX chats_digest_due ON chats (digest_next) WHERE digest_next IS NOT NULL;
CREATE INDEX chats_quiet_due ON chats (quiet_next_end) WHERE quiet_next_end IS NOT NULL;

-- Followed words and phrases, at most 20 per chat: `phrase` as the reader typed it, `folded` as /search
-- folds it (storage/folding.py), words joined by single spaces.
CREATE TABLE follows (
    chat_id INTEGER NOT NULL,
    folded TEXT NOT NULL,
    phrase TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    PRIMARY KEY (chat_id, folded)
) WITHOUT ROWID;
CREATE INDEX follows_folded ON follows (folded);

-- Which followed phrases an article contains, computed once when it is published (over the distinct
-- followed phrases, not over readers), so routing and digests join on it.
CREATE TABLE article_matches (
    article_id INTEGER NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    folded TEXT NOT NULL,
    PRIMARY KEY (article_id, folded)
) WITHOUT ROWID;

-- Per delivery: silent = sent with disable_notification (breaking news during quiet hours);
-- matched = the reader's followed phrase that brought the article, shown in the message.
ALTER TABLE deliveries ADD COLUMN silent INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN matched TEXT;

-- Digests: one broadcast per distinct content (kind 'digest'); its article ids in order, and how many more
-- articles there were than it lists.
CREATE TABLE digests (
    broadcast_id INTEGER PRIMARY KEY REFERENCES broadcasts (id) ON DELETE CASCADE,
    article_ids TEXT NOT NULL,      -- comma-separated, in the order shown
    more INTEGER NOT NULL DEFAULT 0
);
