DROP TABLE terminal_sessions;
--bun:split
DROP INDEX invoices_terminal;
--bun:split
ALTER TABLE invoices DROP COLUMN terminal_id;
--bun:split
DROP TABLE terminal_nonces;
--bun:split
DROP TABLE terminals;
