CREATE TABLE rail_unmatched_old (
    id          TEXT PRIMARY KEY,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    mode        TEXT NOT NULL CHECK (mode IN ('test', 'live')),
    account_id  TEXT NOT NULL REFERENCES rail_accounts (id),
    rail        TEXT NOT NULL,
    tx_id       TEXT NOT NULL,
    currency    TEXT NOT NULL,
    amount      TEXT NOT NULL,
    sender      TEXT NOT NULL,
    reference   TEXT NOT NULL,
    detail      TEXT NOT NULL,
    observed_at TIMESTAMP NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    UNIQUE (rail, tx_id)
);
--bun:split
-- Credits that only their scoped identities told apart keep their rows,
-- with the credit id added to the later one's tx_id.
INSERT INTO rail_unmatched_old SELECT id, merchant_id, mode, account_id, rail,
    CASE WHEN EXISTS (SELECT 1 FROM rail_unmatched o WHERE o.rail = u.rail AND o.tx_id = u.tx_id AND o.id < u.id)
        THEN tx_id || '#' || credit_id ELSE tx_id END,
    currency, amount, sender, reference, detail, observed_at, created_at FROM rail_unmatched u;
--bun:split
DROP TABLE rail_unmatched;
--bun:split
ALTER TABLE rail_unmatched_old RENAME TO rail_unmatched;
--bun:split
CREATE INDEX rail_unmatched_merchant ON rail_unmatched (merchant_id, mode, id);
--bun:split
CREATE TABLE payments_old (
    id           TEXT PRIMARY KEY,
    invoice_id   TEXT NOT NULL REFERENCES invoices (id),
    merchant_id  TEXT NOT NULL REFERENCES merchants (id),
    mode         TEXT NOT NULL CHECK (mode IN ('test', 'live')),
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
    observed_at  TIMESTAMP NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL,
    block_number INTEGER NOT NULL DEFAULT 0,
    block_hash   TEXT NOT NULL DEFAULT '',
    UNIQUE (network, tx_id, log_index)
);
--bun:split
INSERT INTO payments_old SELECT id, invoice_id, merchant_id, mode, method, network,
    CASE WHEN EXISTS (SELECT 1 FROM payments o WHERE o.network = p.network AND o.tx_id = p.tx_id AND o.log_index = p.log_index AND o.id < p.id)
        THEN tx_id || '#' || credit_id ELSE tx_id END,
    log_index, asset, decimals, amount, status, from_address, to_address, observed_at, created_at, updated_at, block_number, block_hash
FROM payments p;
--bun:split
DROP TABLE payments;
--bun:split
ALTER TABLE payments_old RENAME TO payments;
--bun:split
CREATE INDEX payments_invoice ON payments (invoice_id);
--bun:split
CREATE INDEX payments_pending ON payments (network) WHERE status = 'pending';
--bun:split
CREATE INDEX payments_merchant ON payments (merchant_id, mode, id);
--bun:split
CREATE INDEX payments_merchant_created ON payments (merchant_id, mode, created_at);
--bun:split
DROP TABLE rail_credits;
