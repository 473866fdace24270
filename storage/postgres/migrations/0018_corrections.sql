-- PostgreSQL form of storage/migrations/0018_corrections.sql.
-- Issue 12: corrections and retractions reach every copy already delivered.
-- The message id Telegram gave each delivered message, so it can be edited or deleted later; `photo` says
-- the message was a photo with a caption (editMessageCaption), set by the send path that sends photos.
ALTER TABLE deliveries ADD COLUMN message_id bigint;
ALTER TABLE deliveries ADD COLUMN photo integer NOT NULL DEFAULT 0;
-- A follow-up delivery (an edit or a withdrawal) acts on one message sent earlier: its id, when it was sent
-- (Telegram lets bots delete only messages younger than 48 hours) and whether it was a photo.
ALTER TABLE deliveries ADD COLUMN target bigint;
ALTER TABLE deliveries ADD COLUMN target_at double precision;
ALTER TABLE deliveries ADD COLUMN target_photo integer NOT NULL DEFAULT 0;
-- A follow-up broadcast names the broadcast whose messages it acts on; copies of that broadcast sent after
-- the follow-up was queued (they were in flight) join it when their outcome is recorded.
ALTER TABLE broadcasts ADD COLUMN parent bigint;
-- The article version an article broadcast renders: bumped by each correction, so no cached render of the
-- old text is sent to the readers still queued.
ALTER TABLE broadcasts ADD COLUMN revision integer NOT NULL DEFAULT 1;
CREATE INDEX broadcasts_parent ON broadcasts (parent) WHERE parent IS NOT NULL;

-- An article's version (1 as first published), when it was last corrected, and its withdrawal.
ALTER TABLE articles ADD COLUMN version integer NOT NULL DEFAULT 1;
ALTER TABLE articles ADD COLUMN updated_at text;
ALTER TABLE articles ADD COLUMN withdrawn_at text;
ALTER TABLE articles ADD COLUMN withdrawn_reason text;
-- What the feed item looked like when it was last taken (its normalised headline and text, hashed), so a
-- poll sees that an item it already has was changed by its publisher.
ALTER TABLE articles ADD COLUMN item_key text;
