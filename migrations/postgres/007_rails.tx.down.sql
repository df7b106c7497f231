DROP TABLE rail_unmatched;
--bun:split
DROP TABLE qris_codes;
--bun:split
DROP TABLE invoice_references;
--bun:split
DROP TABLE rail_accounts;
