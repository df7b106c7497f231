-- Point of sale: locations (sales channels), static QR codes printed for
-- them, the sessions a scan opens, and the requests that start an order
-- at the code's receiver (durable: a restart resumes them).
CREATE TABLE locations (
    id             TEXT PRIMARY KEY,
    merchant_id    TEXT NOT NULL REFERENCES merchants (id),
    mode           TEXT NOT NULL CHECK (mode IN ('test', 'live')),
    name           TEXT NOT NULL,
    created_at     TIMESTAMP NOT NULL,
    deactivated_at TIMESTAMP
);
--bun:split
CREATE INDEX locations_merchant ON locations (merchant_id, mode, id);
--bun:split
CREATE TABLE qr_codes (
    id                      TEXT PRIMARY KEY,
    merchant_id             TEXT NOT NULL REFERENCES merchants (id),
    mode                    TEXT NOT NULL CHECK (mode IN ('test', 'live')),
    location_id             TEXT NOT NULL REFERENCES locations (id),
    code                    TEXT NOT NULL,
    description             TEXT NOT NULL DEFAULT '',
    allow_tip               BOOLEAN NOT NULL DEFAULT FALSE,
    allow_dynamic_invoice   BOOLEAN NOT NULL DEFAULT FALSE,
    order_timeout_seconds   INTEGER NOT NULL,
    payment_timeout_seconds INTEGER NOT NULL,
    start_url               TEXT NOT NULL,
    secret                  TEXT NOT NULL,
    created_at              TIMESTAMP NOT NULL,
    deactivated_at          TIMESTAMP
);
--bun:split
-- The printed URL /q/{merchant}/{code} names no mode: a serial is unique
-- per merchant across both modes, and never reused.
CREATE UNIQUE INDEX qr_codes_code ON qr_codes (merchant_id, code);
--bun:split
CREATE INDEX qr_codes_merchant ON qr_codes (merchant_id, mode, id);
--bun:split
CREATE TABLE qr_sessions (
    id                      TEXT PRIMARY KEY,
    merchant_id             TEXT NOT NULL REFERENCES merchants (id),
    mode                    TEXT NOT NULL CHECK (mode IN ('test', 'live')),
    qr_code_id              TEXT NOT NULL REFERENCES qr_codes (id),
    location_id             TEXT NOT NULL REFERENCES locations (id),
    token                   TEXT NOT NULL UNIQUE,
    status                  TEXT NOT NULL CHECK (status IN ('waiting', 'down', 'failed', 'invoiced', 'canceled', 'timed_out')),
    dynamic                 TEXT NOT NULL DEFAULT '',
    allow_tip               BOOLEAN NOT NULL,
    order_timeout_seconds   INTEGER NOT NULL,
    payment_timeout_seconds INTEGER NOT NULL,
    down_text               TEXT NOT NULL DEFAULT '',
    invoice_id              TEXT UNIQUE,
    order_expires_at        TIMESTAMP NOT NULL,
    created_at              TIMESTAMP NOT NULL,
    updated_at              TIMESTAMP NOT NULL
);
--bun:split
CREATE INDEX qr_sessions_waiting ON qr_sessions (order_expires_at) WHERE status = 'waiting';
--bun:split
CREATE INDEX qr_sessions_merchant ON qr_sessions (merchant_id, mode, id);
--bun:split
CREATE TABLE qr_session_requests (
    id              TEXT PRIMARY KEY,
    session_id      TEXT NOT NULL REFERENCES qr_sessions (id),
    kind            TEXT NOT NULL CHECK (kind IN ('start_qr_session', 'canceled', 'timed_out')),
    idempotency_key TEXT NOT NULL,
    body            TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP,
    locked_until    TIMESTAMP,
    last_status     INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    outcome         TEXT NOT NULL DEFAULT '' CHECK (outcome IN ('', 'delivered', 'down', 'failed', 'dropped')),
    created_at      TIMESTAMP NOT NULL,
    done_at         TIMESTAMP
);
--bun:split
CREATE INDEX qr_session_requests_due ON qr_session_requests (next_attempt_at) WHERE next_attempt_at IS NOT NULL;
--bun:split
CREATE INDEX qr_session_requests_session ON qr_session_requests (session_id);
--bun:split
ALTER TABLE invoices ADD COLUMN location_id TEXT;
--bun:split
ALTER TABLE invoices ADD COLUMN qr_session_id TEXT;
--bun:split
CREATE UNIQUE INDEX invoices_qr_session ON invoices (qr_session_id) WHERE qr_session_id IS NOT NULL;
