-- The webhook queue: one small row per pending delivery, holding what a
-- claim searches (endpoint, due time, lease); see the Postgres migration.
CREATE TABLE webhook_queue (
    delivery_id  TEXT PRIMARY KEY,
    endpoint_id  TEXT NOT NULL,
    due_at       TIMESTAMP, -- NULL: paused with its disabled endpoint
    locked_until TIMESTAMP  -- the lease of an attempt in flight
);
--bun:split
CREATE INDEX webhook_queue_due ON webhook_queue (endpoint_id, due_at) WHERE due_at IS NOT NULL;
--bun:split
CREATE INDEX webhook_queue_leased ON webhook_queue (endpoint_id, locked_until) WHERE locked_until IS NOT NULL;
--bun:split
CREATE INDEX webhook_queue_next ON webhook_queue (due_at) WHERE due_at IS NOT NULL;
--bun:split
INSERT INTO webhook_queue (delivery_id, endpoint_id, due_at, locked_until)
SELECT id, endpoint_id, next_attempt_at, locked_until FROM webhook_deliveries WHERE status = 'pending';
--bun:split
DROP INDEX webhook_deliveries_due;
--bun:split
-- Every pending delivery inserted (by the sequencer's fan-out or a replay)
-- is queued in the same statement.
CREATE TRIGGER webhook_deliveries_queue AFTER INSERT ON webhook_deliveries
FOR EACH ROW WHEN NEW.status = 'pending'
BEGIN
    INSERT INTO webhook_queue (delivery_id, endpoint_id, due_at) VALUES (NEW.id, NEW.endpoint_id, NEW.next_attempt_at);
END;
