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
    created_at  TIMESTAMP NOT NULL,
    UNIQUE (merchant_id, mode, identity)
);
--bun:split
-- Payments are unique per network transaction, log index and rail credit:
-- a chain transfer is one worldwide (credit_id ''), a rail's ids are not.
-- SQLite cannot drop a table constraint, so the table is rebuilt.
CREATE TABLE payments_new (
    id           TEXT PRIMARY KEY,
    invoice_id   TEXT NOT NULL REFERENCES invoices (id),
    merchant_id  TEXT NOT NULL REFERENCES merchants (id),
    mode         TEXT NOT NULL CHECK (mode IN ('test', 'live')),
    method       TEXT NOT NULL,
    network      TEXT NOT NULL,
    tx_id        TEXT NOT NULL,
    log_index    INTEGER NOT NULL,
    credit_id    TEXT NOT NULL DEFAULT '',
    asset        TEXT NOT NULL,
    decimals     INTEGER NOT NULL,
    amount       TEXT NOT NULL,
    status       TEXT NOT NULL,
    from_address TEXT NOT NULL,
    to_address   TEXT NOT NULL,
    observed_at  TIMESTAMP NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL,
    block_number INTEGER NOT NULL DEFAULT 0,
    block_hash   TEXT NOT NULL DEFAULT '',
    UNIQUE (network, tx_id, log_index, credit_id)
);
--bun:split
INSERT INTO payments_new (id, invoice_id, merchant_id, mode, method, network, tx_id, log_index, credit_id, asset, decimals,
    amount, status, from_address, to_address, observed_at, created_at, updated_at, block_number, block_hash)
SELECT id, invoice_id, merchant_id, mode, method, network, tx_id, log_index,
    CASE WHEN network IN ('fednow', 'rtp', 'ach', 'push_to_card', 'qris') THEN 'rcr_' || substr(id, 5) ELSE '' END,
    asset, decimals, amount, status, from_address, to_address, observed_at, created_at, updated_at, block_number, block_hash
FROM payments;
--bun:split
DROP TABLE payments;
--bun:split
ALTER TABLE payments_new RENAME TO payments;
--bun:split
CREATE INDEX payments_invoice ON payments (invoice_id);
--bun:split
CREATE INDEX payments_pending ON payments (network) WHERE status = 'pending';
--bun:split
CREATE INDEX payments_merchant ON payments (merchant_id, mode, id);
--bun:split
CREATE INDEX payments_merchant_created ON payments (merchant_id, mode, created_at);
--bun:split
CREATE INDEX payments_credit ON payments (credit_id) WHERE credit_id <> '';
--bun:split
-- Unmatched rail credits lose their global (rail, tx_id) key the same way.
CREATE TABLE rail_unmatched_new (
    id          TEXT PRIMARY KEY,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    mode        TEXT NOT NULL CHECK (mode IN ('test', 'live')),
    account_id  TEXT NOT NULL REFERENCES rail_accounts (id),
    rail        TEXT NOT NULL,
    tx_id       TEXT NOT NULL,
    credit_id   TEXT NOT NULL UNIQUE,
    currency    TEXT NOT NULL,
    amount      TEXT NOT NULL,
    sender      TEXT NOT NULL,
    reference   TEXT NOT NULL,
    detail      TEXT NOT NULL,
    observed_at TIMESTAMP NOT NULL,
    created_at  TIMESTAMP NOT NULL
);
--bun:split
INSERT INTO rail_unmatched_new (id, merchant_id, mode, account_id, rail, tx_id, credit_id, currency, amount, sender,
    reference, detail, observed_at, created_at)
SELECT id, merchant_id, mode, account_id, rail, tx_id, 'rcr_' || substr(id, 5), currency, amount, sender,
    reference, detail, observed_at, created_at
FROM rail_unmatched;
--bun:split
DROP TABLE rail_unmatched;
--bun:split
ALTER TABLE rail_unmatched_new RENAME TO rail_unmatched;
--bun:split
CREATE INDEX rail_unmatched_merchant ON rail_unmatched (merchant_id, mode, id);
--bun:split
-- Credits recorded before identities were scoped keep their old key, so
-- that a bank's retry of one of them is still a duplicate.
INSERT INTO rail_credits (id, merchant_id, mode, account_id, rail, identity, tx_id, created_at)
SELECT credit_id, merchant_id, mode, '', network, 'legacy:' || network || ':' || tx_id, tx_id, created_at
FROM payments WHERE credit_id <> '';
--bun:split
INSERT INTO rail_credits (id, merchant_id, mode, account_id, rail, identity, tx_id, created_at)
SELECT credit_id, merchant_id, mode, account_id, rail, 'legacy:' || rail || ':' || tx_id, tx_id, created_at
FROM rail_unmatched WHERE true
ON CONFLICT DO NOTHING;
