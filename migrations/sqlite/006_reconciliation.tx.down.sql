DROP INDEX payments_merchant_created;
--bun:split
DROP INDEX payments_merchant;
--bun:split
ALTER TABLE invoices DROP COLUMN marked_at;
--bun:split
ALTER TABLE invoices DROP COLUMN marked_by;
--bun:split
ALTER TABLE invoices DROP COLUMN mark_note;
