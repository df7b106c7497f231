ALTER TABLE invoices DROP COLUMN fulfilled_at;
--bun:split
ALTER TABLE invoices DROP COLUMN fulfilment;
--bun:split
ALTER TABLE invoices DROP COLUMN tip_amount;
--bun:split
ALTER TABLE invoices DROP COLUMN tip_cap_percent;
--bun:split
ALTER TABLE invoices DROP COLUMN allow_tip;
--bun:split
ALTER TABLE invoices DROP COLUMN failed_payments;
--bun:split
ALTER TABLE invoices DROP COLUMN scanned_at;
