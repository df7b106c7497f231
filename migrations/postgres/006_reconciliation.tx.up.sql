-- Manual resolution of an invoice (POST /invoices/{id}/mark) and the
-- payment listings of finance teams.
ALTER TABLE invoices ADD COLUMN mark_note TEXT NOT NULL DEFAULT '';
--bun:split
ALTER TABLE invoices ADD COLUMN marked_by TEXT NOT NULL DEFAULT '';
--bun:split
ALTER TABLE invoices ADD COLUMN marked_at TIMESTAMPTZ;
--bun:split
CREATE INDEX payments_merchant ON payments (merchant_id, mode, id);
--bun:split
CREATE INDEX payments_merchant_created ON payments (merchant_id, mode, created_at);
