-- PostgreSQL form of storage/migrations/0006_delivery.sql.
-- Delivery engine: find a chat's pending deliveries (block, kick, migration) and recent outcomes (/stats)
-- without scanning the outbox. Both indexes are partial, so enqueueing a broadcast stays one cheap insert.
CREATE INDEX deliveries_chat_pending ON deliveries (chat_id) WHERE status = 'pending';
CREATE INDEX deliveries_finished ON deliveries (finished_at, status) WHERE finished_at IS NOT NULL;
