-- A merchant's receiving account on a fiat rail (fednow, rtp, ach,
-- push_to_card, qris) in one mode, with the secret that authenticates the
-- rail's notifications for it. The secret is kept as given (HMAC needs it)
-- and by SHA-256 to find the account of a bearer or callback key.
CREATE TABLE rail_accounts (
    id              TEXT PRIMARY KEY,
    merchant_id     TEXT NOT NULL REFERENCES merchants (id),
    mode            TEXT NOT NULL CHECK (mode IN ('test', 'live')),
    rail            TEXT NOT NULL,
    bank_name       TEXT NOT NULL,
    account_name    TEXT NOT NULL,
    account_number  TEXT NOT NULL,
    routing_number  TEXT NOT NULL,
    qris_payload    TEXT NOT NULL,
    processor_id    TEXT NOT NULL,
    callback_secret TEXT NOT NULL,
    secret_hash     TEXT NOT NULL UNIQUE,
    created_at      TIMESTAMPTZ NOT NULL,
    deleted_at      TIMESTAMPTZ
);
--bun:split
CREATE UNIQUE INDEX rail_accounts_active ON rail_accounts (merchant_id, mode, rail) WHERE deleted_at IS NULL;
--bun:split
-- The short reference a payor types into a bank transfer (ST-7K3Q9M), one
-- per invoice, unique across all invoices.
CREATE TABLE invoice_references (
    reference   TEXT PRIMARY KEY,
    invoice_id  TEXT NOT NULL UNIQUE REFERENCES invoices (id) DEFERRABLE INITIALLY DEFERRED,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    mode        TEXT NOT NULL CHECK (mode IN ('test', 'live')),
    created_at  TIMESTAMPTZ NOT NULL
);
--bun:split
-- QRIS unique codes: the total (amount + code, whole rupiah) a payor pays
-- names one invoice of the rail account until held_until (the invoice's
-- expiry plus a hold for late payments); a row is taken over afterwards.
CREATE TABLE qris_codes (
    account_id   TEXT NOT NULL REFERENCES rail_accounts (id),
    total_amount BIGINT NOT NULL,
    amount       BIGINT NOT NULL,
    unique_code  BIGINT NOT NULL,
    invoice_id   TEXT NOT NULL REFERENCES invoices (id) DEFERRABLE INITIALLY DEFERRED,
    held_until   TIMESTAMPTZ NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (account_id, total_amount)
);
--bun:split
CREATE INDEX qris_codes_invoice ON qris_codes (invoice_id);
--bun:split
-- Rail credits that match no invoice (no reference, an amount no open
-- invoice has, another currency): kept for the merchant, never dropped.
CREATE TABLE rail_unmatched (
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
    observed_at TIMESTAMPTZ NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    UNIQUE (rail, tx_id)
);
--bun:split
CREATE INDEX rail_unmatched_merchant ON rail_unmatched (merchant_id, mode, id);
