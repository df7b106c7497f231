-- Credits that only their scoped identities told apart keep their rows,
-- with the credit id added to the later one's tx_id.
UPDATE rail_unmatched u SET tx_id = tx_id || '#' || credit_id
WHERE EXISTS (SELECT 1 FROM rail_unmatched o WHERE o.rail = u.rail AND o.tx_id = u.tx_id AND o.id < u.id);
--bun:split
ALTER TABLE rail_unmatched ADD CONSTRAINT rail_unmatched_rail_tx_id_key UNIQUE (rail, tx_id);
--bun:split
ALTER TABLE rail_unmatched DROP COLUMN credit_id;
--bun:split
UPDATE payments p SET tx_id = tx_id || '#' || credit_id
WHERE EXISTS (SELECT 1 FROM payments o WHERE o.network = p.network AND o.tx_id = p.tx_id AND o.log_index = p.log_index AND o.id < p.id);
--bun:split
DROP INDEX payments_credit;
--bun:split
ALTER TABLE payments DROP CONSTRAINT payments_network_tx_id_log_index_credit_id_key;
--bun:split
ALTER TABLE payments ADD CONSTRAINT payments_network_tx_id_log_index_key UNIQUE (network, tx_id, log_index);
--bun:split
ALTER TABLE payments DROP COLUMN credit_id;
--bun:split
DROP TABLE rail_credits;
