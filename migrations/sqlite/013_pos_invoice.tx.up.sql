-- Point of sale, invoice side: the payor's first open of the checkout
-- (checkout.scanned), payments a rail returned or rejected (session_status
-- failed), tips chosen by the payor up to a cap, and fulfilment by hand.
ALTER TABLE invoices ADD COLUMN scanned_at TIMESTAMP;
--bun:split
ALTER TABLE invoices ADD COLUMN failed_payments INTEGER NOT NULL DEFAULT 0;
--bun:split
ALTER TABLE invoices ADD COLUMN allow_tip BOOLEAN NOT NULL DEFAULT FALSE;
--bun:split
ALTER TABLE invoices ADD COLUMN tip_cap_percent INTEGER NOT NULL DEFAULT 0;
--bun:split
ALTER TABLE invoices ADD COLUMN tip_amount TEXT NOT NULL DEFAULT '0';
--bun:split
ALTER TABLE invoices ADD COLUMN fulfilment TEXT NOT NULL DEFAULT 'not_required';
--bun:split
ALTER TABLE invoices ADD COLUMN fulfilled_at TIMESTAMP;
