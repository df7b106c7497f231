ALTER TABLE payments DROP COLUMN return_reason;
--bun:split
ALTER TABLE payments DROP COLUMN return_code;
