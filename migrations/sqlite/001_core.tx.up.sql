CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
--bun:split
CREATE TABLE merchants (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    live_enabled BOOLEAN NOT NULL DEFAULT FALSE,
    created_at   TIMESTAMP NOT NULL
);
--bun:split
CREATE TABLE api_keys (
    prefix      TEXT PRIMARY KEY,
    hash        TEXT NOT NULL UNIQUE,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    mode        TEXT NOT NULL CHECK (mode IN ('test', 'live')),
    scope       TEXT NOT NULL CHECK (scope IN ('merchant', 'read')),
    created_at  TIMESTAMP NOT NULL,
    revoked_at  TIMESTAMP
);
--bun:split
CREATE TABLE invoices (
    id                TEXT PRIMARY KEY,
    merchant_id       TEXT NOT NULL REFERENCES merchants (id),
    mode              TEXT NOT NULL CHECK (mode IN ('test', 'live')),
    status            TEXT NOT NULL,
    exception         TEXT NOT NULL,
    currency          TEXT NOT NULL,
    decimals          INTEGER NOT NULL,
    amount            TEXT NOT NULL,
    amount_paid       TEXT NOT NULL,
    payment_methods   TEXT NOT NULL,
    merchant_order_id TEXT NOT NULL,
    description       TEXT NOT NULL,
    metadata          TEXT NOT NULL,
    redirect_url      TEXT NOT NULL,
    session_token     TEXT NOT NULL UNIQUE,
    expires_at        TIMESTAMP NOT NULL,
    created_at        TIMESTAMP NOT NULL,
    updated_at        TIMESTAMP NOT NULL,
    paid_at           TIMESTAMP
);
--bun:split
CREATE INDEX invoices_merchant_id ON invoices (merchant_id, mode, id);
--bun:split
CREATE INDEX invoices_merchant_order ON invoices (merchant_id, mode, merchant_order_id);
--bun:split
CREATE INDEX invoices_due ON invoices (expires_at) WHERE status IN ('open', 'processing');
--bun:split
CREATE TABLE payments (
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
    UNIQUE (network, tx_id, log_index)
);
--bun:split
CREATE INDEX payments_invoice ON payments (invoice_id);
--bun:split
CREATE TABLE events (
    id          TEXT PRIMARY KEY,
    -- Assigned by the sequencer (events package) in commit order, so that a
    -- reader resuming after sequence N never misses a row committed late.
    sequence    INTEGER UNIQUE,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    mode        TEXT NOT NULL CHECK (mode IN ('test', 'live')),
    type        TEXT NOT NULL,
    invoice_id  TEXT,
    created_at  TIMESTAMP NOT NULL,
    data        TEXT NOT NULL
);
--bun:split
CREATE INDEX events_unsequenced ON events (id) WHERE sequence IS NULL;
--bun:split
CREATE INDEX events_merchant ON events (merchant_id, mode, sequence);
--bun:split
CREATE TABLE idempotency_keys (
    merchant_id   TEXT NOT NULL REFERENCES merchants (id),
    mode          TEXT NOT NULL,
    key           TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    status_code   INTEGER NOT NULL DEFAULT 0,
    content_type  TEXT NOT NULL DEFAULT '',
    response_body TEXT NOT NULL DEFAULT '',
    created_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (merchant_id, mode, key)
);
--bun:split
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
