-- PostgreSQL form of storage/migrations/0019_article_photos.sql.
-- Issue 12: lead photos. The image an article leads with (from its feed item or its page), Telegram's
-- file_id once it was uploaded (every later send reuses it, also after a restart), and why it could not be
-- used (fetch failed, not an image, too big, Telegram refused it): then the article goes out as text.
ALTER TABLE articles ADD COLUMN image_url text;
ALTER TABLE articles ADD COLUMN photo_file_id text;
ALTER TABLE articles ADD COLUMN photo_error text;
