DROP TRIGGER webhook_deliveries_queue ON webhook_deliveries;
--bun:split
DROP FUNCTION webhook_queue_inserted();
--bun:split
UPDATE webhook_deliveries d SET locked_until = q.locked_until
FROM webhook_queue q WHERE q.delivery_id = d.id AND q.locked_until IS NOT NULL;
--bun:split
DROP TABLE webhook_queue;
--bun:split
ALTER TABLE webhook_deliveries RESET (fillfactor);
--bun:split
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
