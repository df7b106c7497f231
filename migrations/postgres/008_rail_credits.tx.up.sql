-- Every credit a rail reported, by its identity (the ledger-integrity rule):
-- the identity is scoped to the merchant and mode, and holds the rail
-- account for a bank's own ids (two banks may issue the same reference),
-- or is the transfer's UETR, the same across message types and across the
-- merchant's instant rails. The unique key is what makes a repeat a
-- duplicate, of this merchant's credit only; each credit lands as one
-- payment or one unmatched credit, which point back to it (credit_id).
CREATE TABLE rail_credits (
    id          TEXT PRIMARY KEY,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    mode        TEXT NOT NULL CHECK (mode IN ('test', 'live')),
    account_id  TEXT NOT NULL,
    rail        TEXT NOT NULL,
    identity    TEXT NOT NULL,
    tx_id       TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    UNIQUE (merchant_id, mode, identity)
);
--bun:split
-- Payments are unique per network transaction, log index and rail credit:
-- a chain transfer is one worldwide (credit_id ''), a rail's ids are not.
ALTER TABLE payments ADD COLUMN credit_id TEXT NOT NULL DEFAULT '';
--bun:split
UPDATE payments SET credit_id = 'rcr_' || substr(id, 5) WHERE network IN ('fednow', 'rtp', 'ach', 'push_to_card', 'qris');
--bun:split
ALTER TABLE payments DROP CONSTRAINT payments_network_tx_id_log_index_key;
--bun:split
ALTER TABLE payments ADD CONSTRAINT payments_network_tx_id_log_index_credit_id_key UNIQUE (network, tx_id, log_index, credit_id);
--bun:split
CREATE INDEX payments_credit ON payments (credit_id) WHERE credit_id <> '';
--bun:split
-- Unmatched rail credits lose their global (rail, tx_id) key the same way.
ALTER TABLE rail_unmatched ADD COLUMN credit_id TEXT;
--bun:split
UPDATE rail_unmatched SET credit_id = 'rcr_' || substr(id, 5);
--bun:split
ALTER TABLE rail_unmatched ALTER COLUMN credit_id SET NOT NULL;
--bun:split
ALTER TABLE rail_unmatched ADD CONSTRAINT rail_unmatched_credit_id_key UNIQUE (credit_id);
--bun:split
ALTER TABLE rail_unmatched DROP CONSTRAINT rail_unmatched_rail_tx_id_key;
--bun:split
-- Credits recorded before identities were scoped keep their old key, so
-- that a bank's retry of one of them is still a duplicate.
INSERT INTO rail_credits (id, merchant_id, mode, account_id, rail, identity, tx_id, created_at)
SELECT credit_id, merchant_id, mode, '', network, 'legacy:' || network || ':' || tx_id, tx_id, created_at
FROM payments WHERE credit_id <> '';
--bun:split
INSERT INTO rail_credits (id, merchant_id, mode, account_id, rail, identity, tx_id, created_at)
SELECT credit_id, merchant_id, mode, account_id, rail, 'legacy:' || rail || ':' || tx_id, tx_id, created_at
FROM rail_unmatched
ON CONFLICT DO NOTHING;
