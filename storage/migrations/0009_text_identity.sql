-- Issue 9: the headline-and-day hash merged distinct statements sharing a headline on the same day.
-- An article with a guid or link is now recognised by those alone, so its content_hash is dropped.
-- content_hash becomes the hash of headline AND body (newsbot_text_key, storage/identity.py), kept only
-- for articles with neither guid nor link: /post statements, pages imported without a URL, and feed items
-- without guid or link. The latter carried a per-feed hash of their text as guid ("<feed>#sha256:<32 hex>");
-- it is replaced by the text key. Rows that repeat an earlier row's text (the same /post on two days)
-- keep no key: the earlier row has it, and recognises the text for both.
UPDATE articles SET content_hash = NULL;
UPDATE OR IGNORE articles
SET content_hash = newsbot_text_key(title, body), guid = NULL
WHERE url_key IS NULL
  AND (
    guid IS NULL
    OR (substr(guid, -40, 8) = '#sha256:' AND NOT substr(guid, -32) GLOB '*[^0-9a-f]*')
  );
