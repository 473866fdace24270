-- Issue 10: every search word was a prefix query without a prefix index, so FTS5 merged the doclists of
-- every indexed word sharing the prefix on each query (`a b c d e f g h i j k l` held a reader for seconds).
-- The table is rebuilt with prefix indexes for 2- and 3-character prefixes (storage/fulltext.py expands
-- only words of 2 characters or more) and refilled from the old one, which already holds the folded text.
-- The delete trigger is dropped and created again around the swap, unchanged, so it never names a table
-- that is missing; new articles are indexed by storage/articles.py as before.
DROP TRIGGER articles_fts_delete;

ALTER TABLE articles_fts RENAME TO articles_fts_old;

CREATE VIRTUAL TABLE articles_fts USING fts5 (
    title, body, tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3'
);

INSERT INTO articles_fts (rowid, title, body) SELECT rowid, title, body FROM articles_fts_old;

DROP TABLE articles_fts_old;

-- One b-tree per level instead of the segments the bulk insert left behind: fewer pages per lookup.
INSERT INTO articles_fts (articles_fts) VALUES ('optimize');

CREATE TRIGGER articles_fts_delete AFTER DELETE ON articles BEGIN
    DELETE FROM articles_fts WHERE rowid = old.id;
END;
