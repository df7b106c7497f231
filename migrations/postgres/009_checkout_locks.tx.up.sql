-- The checkout's state as the merchant sees it on the invoice (and in its
-- events): when the payor was first shown instructions, and whether a lock
-- is in force ('client': some clients are refused; 'session': everyone).
ALTER TABLE invoices ADD COLUMN checkout_opened_at TIMESTAMPTZ;
--bun:split
ALTER TABLE invoices ADD COLUMN checkout_locked_at TIMESTAMPTZ;
--bun:split
ALTER TABLE invoices ADD COLUMN checkout_lock TEXT NOT NULL DEFAULT '';
--bun:split
UPDATE invoices SET
    checkout_opened_at = (SELECT c.opened_at FROM checkout_sessions c WHERE c.invoice_id = invoices.id),
    checkout_locked_at = (SELECT c.locked_at FROM checkout_sessions c WHERE c.invoice_id = invoices.id),
    checkout_lock = CASE WHEN EXISTS (SELECT 1 FROM checkout_sessions c WHERE c.invoice_id = invoices.id AND c.locked_at IS NOT NULL)
        THEN 'session' ELSE '' END
WHERE id IN (SELECT invoice_id FROM checkout_sessions);
--bun:split
-- The client whose wrong signature locked the whole session.
ALTER TABLE checkout_sessions ADD COLUMN locked_by TEXT NOT NULL DEFAULT '';
--bun:split
-- Wrong signatures per session and client (an IPv4 address or an IPv6 /64):
-- a client that sends too many is refused without locking out the others.
CREATE TABLE checkout_clients (
    invoice_id    TEXT NOT NULL REFERENCES invoices (id),
    client        TEXT NOT NULL,
    failed_checks INTEGER NOT NULL,
    locked_at     TIMESTAMPTZ,
    updated_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (invoice_id, client)
);
--bun:split
-- The one devnet-wallet transfer of an invoice (settle devnet's "Pay with
-- devnet wallet"): later presses answer this transaction.
CREATE TABLE devnet_payments (
    invoice_id TEXT PRIMARY KEY REFERENCES invoices (id),
    method     TEXT NOT NULL,
    tx_id      TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
