-- PostgreSQL form of storage/migrations/0009_text_identity.sql: nothing to do here, on purpose.
-- On SQLite, 0009 changes no schema; it re-keys articles stored before issue 9 (content_hash becomes
-- newsbot_text_key(title, body), computed in Python by storage/identity.py, and per-feed "#sha256:" guids
-- are dropped). No PostgreSQL database holds such rows: a PostgreSQL database starts at the full schema,
-- empty, and articles reach it only through code that already keys them (or a copy of an SQLite database
-- that 0009 has already re-keyed). So this migration only records its number.
SELECT 1;
