DROP TRIGGER webhook_deliveries_queue;
--bun:split
UPDATE webhook_deliveries SET locked_until = (SELECT q.locked_until FROM webhook_queue q WHERE q.delivery_id = webhook_deliveries.id)
WHERE id IN (SELECT delivery_id FROM webhook_queue WHERE locked_until IS NOT NULL);
--bun:split
DROP TABLE webhook_queue;
--bun:split
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
