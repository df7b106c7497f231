-- The payor's side of an invoice: signature checks, what was shown.
CREATE TABLE checkout_sessions (
    invoice_id    TEXT PRIMARY KEY REFERENCES invoices (id),
    failed_checks INTEGER NOT NULL,
    locked_at     TIMESTAMPTZ,
    opened_at     TIMESTAMPTZ,
    method        TEXT NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);
--bun:split
-- Keys that sign payment terms (JWS). A retired key no longer signs but is
-- published until the sessions it signed have expired.
CREATE TABLE signing_keys (
    kid         TEXT PRIMARY KEY,
    algorithm   TEXT NOT NULL,
    private_key TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    retired_at  TIMESTAMPTZ,
    publish_until TIMESTAMPTZ
);
