-- Point-of-sale terminals: a named device of a merchant and mode, with a
-- secret that signs its WebSocket commands and an API key of scope
-- terminal (api_keys.bound_to = id). location_id is free text until
-- locations exist (checked by the API that sets it).
CREATE TABLE terminals (
    id             TEXT PRIMARY KEY,
    merchant_id    TEXT NOT NULL REFERENCES merchants (id),
    mode           TEXT NOT NULL CHECK (mode IN ('test', 'live')),
    name           TEXT NOT NULL,
    location_id    TEXT,
    command_secret TEXT NOT NULL,
    key_prefix     TEXT NOT NULL,
    created_at     TIMESTAMP NOT NULL,
    deleted_at     TIMESTAMP
);
--bun:split
CREATE INDEX terminals_merchant ON terminals (merchant_id, mode, id);
--bun:split
-- Nonces of signed commands, kept for the timestamp tolerance: the primary
-- key refuses a replay.
CREATE TABLE terminal_nonces (
    terminal_id TEXT NOT NULL REFERENCES terminals (id),
    nonce       TEXT NOT NULL,
    expires_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (terminal_id, nonce)
);
--bun:split
CREATE INDEX terminal_nonces_expiry ON terminal_nonces (expires_at);
--bun:split
-- No REFERENCES here (unlike Postgres): SQLite cannot drop a column that a
-- foreign key names, and the down migration drops it. Only the server
-- sets it, from the terminal key's own terminal.
ALTER TABLE invoices ADD COLUMN terminal_id TEXT;
--bun:split
CREATE INDEX invoices_terminal ON invoices (terminal_id, id) WHERE terminal_id IS NOT NULL;
--bun:split
-- A create_session reference names one invoice per terminal: a command
-- sent again with it returns that invoice.
CREATE TABLE terminal_sessions (
    terminal_id TEXT NOT NULL REFERENCES terminals (id),
    reference   TEXT NOT NULL,
    invoice_id  TEXT NOT NULL REFERENCES invoices (id),
    PRIMARY KEY (terminal_id, reference)
);
