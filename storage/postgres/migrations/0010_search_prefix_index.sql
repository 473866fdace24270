-- PostgreSQL form of storage/migrations/0010_search_prefix_index.sql: nothing to do here, on purpose.
-- On SQLite, 0010 rebuilds the FTS5 table with prefix indexes (2 and 3 characters), because FTS5 answered
-- every prefix word by merging the doclists of all indexed words sharing it. PostgreSQL's GIN index on
-- articles_fts.document (0003) answers a prefix lexeme ('word':*) by a partial match over its sorted keys,
-- so there is no separate prefix index to build; one-letter words stay whole in queries on both
-- (storage/fulltext.py MIN_PREFIX_CHARS, storage/postgres/fulltext.py). So this migration only records its
-- number.
SELECT 1;
