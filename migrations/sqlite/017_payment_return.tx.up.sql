-- A payment its rail returned or rejected keeps the rail's reason: the
-- code (ISO 20022 AC04, NACHA R01, a card processor's word) and its text.
ALTER TABLE payments ADD COLUMN return_code TEXT NOT NULL DEFAULT '';
--bun:split
ALTER TABLE payments ADD COLUMN return_reason TEXT NOT NULL DEFAULT '';
