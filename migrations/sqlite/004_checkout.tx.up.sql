-- The payor's side of an invoice: signature checks, what was shown.
CREATE TABLE checkout_sessions (
    invoice_id    TEXT PRIMARY KEY REFERENCES invoices (id),
    failed_checks INTEGER NOT NULL,
    locked_at     TIMESTAMP,
    opened_at     TIMESTAMP,
    method        TEXT NOT NULL,
    updated_at    TIMESTAMP NOT NULL
);
--bun:split
-- Keys that sign payment terms (JWS). A retired key no longer signs but is
-- published until the sessions it signed have expired.
CREATE TABLE signing_keys (
    kid         TEXT PRIMARY KEY,
    algorithm   TEXT NOT NULL,
    private_key TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    retired_at  TIMESTAMP,
    publish_until TIMESTAMP
);
