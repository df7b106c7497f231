-- What the payor is told to send for each method of an invoice (JSON).
ALTER TABLE invoices ADD COLUMN instructions TEXT NOT NULL DEFAULT '[]';
--bun:split
ALTER TABLE payments ADD COLUMN block_number INTEGER NOT NULL DEFAULT 0;
--bun:split
ALTER TABLE payments ADD COLUMN block_hash TEXT NOT NULL DEFAULT '';
--bun:split
CREATE INDEX payments_pending ON payments (network) WHERE status = 'pending';
--bun:split
-- Where a merchant receives on a network: one address (invoices told apart
-- by a unique amount) or a watch-only xpub (one derived address an invoice).
CREATE TABLE receiving_accounts (
    id          TEXT PRIMARY KEY,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    mode        TEXT NOT NULL CHECK (mode IN ('test', 'live')),
    network     TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('address', 'xpub')),
    address     TEXT NOT NULL,
    xpub        TEXT NOT NULL,
    next_index  INTEGER NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    deleted_at  TIMESTAMP
);
--bun:split
CREATE UNIQUE INDEX receiving_accounts_active ON receiving_accounts (merchant_id, mode, network) WHERE deleted_at IS NULL;
--bun:split
CREATE INDEX receiving_accounts_address ON receiving_accounts (network, address);
--bun:split
-- An address or a key receives for one merchant only.
CREATE UNIQUE INDEX receiving_accounts_owner ON receiving_accounts (network, address, xpub) WHERE deleted_at IS NULL;
--bun:split
-- The key a transfer is matched by: (network, recipient, amount), where
-- amount is '' for a derived address (any amount). On a shared address the
-- amount is the invoice's plus code base units; a row is taken over by a new
-- invoice once held_until has passed.
CREATE TABLE deposits (
    network      TEXT NOT NULL,
    address      TEXT NOT NULL,
    amount_units TEXT NOT NULL,
    base_units   TEXT NOT NULL,
    code         INTEGER NOT NULL,
    invoice_id   TEXT NOT NULL REFERENCES invoices (id) DEFERRABLE INITIALLY DEFERRED,
    account_id   TEXT NOT NULL REFERENCES receiving_accounts (id),
    held_until   TIMESTAMP NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (network, address, amount_units)
);
--bun:split
CREATE INDEX deposits_invoice ON deposits (invoice_id);
--bun:split
CREATE INDEX deposits_code ON deposits (network, address, code, held_until);
--bun:split
-- Transfers to a merchant's receiving address that match no invoice: kept
-- for the merchant to see and refund, never dropped.
CREATE TABLE unmatched_payments (
    id           TEXT PRIMARY KEY,
    merchant_id  TEXT NOT NULL REFERENCES merchants (id),
    mode         TEXT NOT NULL CHECK (mode IN ('test', 'live')),
    account_id   TEXT NOT NULL REFERENCES receiving_accounts (id),
    method       TEXT NOT NULL,
    network      TEXT NOT NULL,
    tx_id        TEXT NOT NULL,
    log_index    INTEGER NOT NULL,
    asset        TEXT NOT NULL,
    decimals     INTEGER NOT NULL,
    amount       TEXT NOT NULL,
    status       TEXT NOT NULL,
    from_address TEXT NOT NULL,
    to_address   TEXT NOT NULL,
    block_number INTEGER NOT NULL,
    block_hash   TEXT NOT NULL,
    observed_at  TIMESTAMP NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL,
    UNIQUE (network, tx_id, log_index)
);
--bun:split
CREATE INDEX unmatched_payments_merchant ON unmatched_payments (merchant_id, mode, id);
--bun:split
CREATE INDEX unmatched_payments_pending ON unmatched_payments (network) WHERE status = 'pending';
--bun:split
-- Blocks a watcher has scanned up to, with their hashes: the newest is the
-- cursor; older ones find the fork point after a reorg, even after a restart.
CREATE TABLE chain_checkpoints (
    network      TEXT NOT NULL,
    block_number INTEGER NOT NULL,
    block_hash   TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (network, block_number)
);
--bun:split
-- One instance scans a network at a time.
CREATE TABLE chain_leases (
    network    TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
