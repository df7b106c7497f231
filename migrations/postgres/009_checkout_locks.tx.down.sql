DROP TABLE devnet_payments;
--bun:split
DROP TABLE checkout_clients;
--bun:split
ALTER TABLE checkout_sessions DROP COLUMN locked_by;
--bun:split
ALTER TABLE invoices DROP COLUMN checkout_lock;
--bun:split
ALTER TABLE invoices DROP COLUMN checkout_locked_at;
--bun:split
ALTER TABLE invoices DROP COLUMN checkout_opened_at;
