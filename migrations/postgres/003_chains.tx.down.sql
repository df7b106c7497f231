DROP TABLE chain_leases;
--bun:split
DROP TABLE chain_checkpoints;
--bun:split
DROP TABLE unmatched_payments;
--bun:split
DROP TABLE deposits;
--bun:split
DROP TABLE receiving_accounts;
--bun:split
DROP INDEX payments_pending;
--bun:split
ALTER TABLE payments DROP COLUMN block_hash;
--bun:split
ALTER TABLE payments DROP COLUMN block_number;
--bun:split
ALTER TABLE invoices DROP COLUMN instructions;
