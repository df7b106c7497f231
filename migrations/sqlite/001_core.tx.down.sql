DROP TABLE idempotency_keys;
--bun:split
DROP TABLE events;
--bun:split
DROP TABLE payments;
--bun:split
DROP TABLE invoices;
--bun:split
DROP TABLE api_keys;
--bun:split
DROP TABLE merchants;
--bun:split
DROP TABLE settings;
