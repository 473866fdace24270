-- PostgreSQL form of storage/migrations/0007_claims.sql.
-- Exactly once: a delivery is claimed ('sending', by one engine instance) before it is sent, and its outcome
-- is recorded only by that claim. Claims left by a process that died are re-queued when an engine starts.
ALTER TABLE deliveries ADD COLUMN claimed_by text;
ALTER TABLE deliveries ADD COLUMN claimed_at double precision;
CREATE INDEX deliveries_sending ON deliveries (claimed_by) WHERE status = 'sending';

-- Large audiences are queued in chunks after the broadcast row is committed: while `audience` names the
-- audience still being queued (and `filled_to` the last chat id queued), the engine does not send it.
-- `total` is the number of deliveries once queued, so progress reads one row instead of counting them.
ALTER TABLE broadcasts ADD COLUMN audience text;
ALTER TABLE broadcasts ADD COLUMN filled_to bigint;
ALTER TABLE broadcasts ADD COLUMN total bigint;
CREATE INDEX broadcasts_filling ON broadcasts (id) WHERE audience IS NOT NULL;
UPDATE broadcasts SET total = (SELECT count(*) FROM deliveries d WHERE d.broadcast_id = broadcasts.id);
