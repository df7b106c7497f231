-- The webhook queue: one small row per pending delivery, holding what a
-- claim searches (endpoint, due time, lease). Deliveries keep their history
-- and what the API shows; no index on them depends on status or schedule,
-- so claiming and recording a delivery update its row in place (HOT), and
-- the queue, which only ever holds the backlog, stays small enough to
-- vacuum often and cheaply. A claim walks one endpoint at a time through
-- webhook_queue_due, so its cost depends on the endpoints with work, not on
-- the size of the backlog.
CREATE TABLE webhook_queue (
    delivery_id  TEXT PRIMARY KEY,
    endpoint_id  TEXT NOT NULL,
    due_at       TIMESTAMPTZ, -- NULL: paused with its disabled endpoint
    locked_until TIMESTAMPTZ  -- the lease of an attempt in flight
) WITH (fillfactor = 70);
--bun:split
CREATE INDEX webhook_queue_due ON webhook_queue (endpoint_id, due_at) INCLUDE (delivery_id) WHERE due_at IS NOT NULL;
--bun:split
CREATE INDEX webhook_queue_leased ON webhook_queue (endpoint_id, locked_until) WHERE locked_until IS NOT NULL;
--bun:split
INSERT INTO webhook_queue (delivery_id, endpoint_id, due_at, locked_until)
SELECT id, endpoint_id, next_attempt_at, locked_until FROM webhook_deliveries WHERE status = 'pending';
--bun:split
DROP INDEX webhook_deliveries_due;
--bun:split
ALTER TABLE webhook_deliveries SET (fillfactor = 80);
--bun:split
-- Every pending delivery inserted (by the sequencer's fan-out or a replay)
-- is queued in the same statement.
CREATE FUNCTION webhook_queue_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_queue (delivery_id, endpoint_id, due_at)
    SELECT id, endpoint_id, next_attempt_at FROM inserted WHERE status = 'pending';
    RETURN NULL;
END
$$;
--bun:split
CREATE TRIGGER webhook_deliveries_queue AFTER INSERT ON webhook_deliveries
REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION webhook_queue_inserted();
