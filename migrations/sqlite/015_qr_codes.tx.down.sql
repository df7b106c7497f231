DROP INDEX invoices_qr_session;
--bun:split
ALTER TABLE invoices DROP COLUMN qr_session_id;
--bun:split
ALTER TABLE invoices DROP COLUMN location_id;
--bun:split
DROP TABLE qr_session_requests;
--bun:split
DROP TABLE qr_sessions;
--bun:split
DROP TABLE qr_codes;
--bun:split
DROP TABLE locations;
