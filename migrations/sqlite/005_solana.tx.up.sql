-- Solana Pay reference keys: one per invoice and Solana network. A
-- transaction that carries the key among its accounts pays that invoice,
-- whatever its amount, when it pays the wallet the key was issued for.
CREATE TABLE solana_references (
    reference  TEXT PRIMARY KEY,
    network    TEXT NOT NULL,
    address    TEXT NOT NULL,
    invoice_id TEXT NOT NULL REFERENCES invoices (id) DEFERRABLE INITIALLY DEFERRED,
    created_at TIMESTAMP NOT NULL
);
--bun:split
CREATE INDEX solana_references_invoice ON solana_references (invoice_id);
--bun:split
-- Where the watcher stands in each followed account's signatures (newest
-- first on the cluster): the newest signature read, and its slot.
CREATE TABLE solana_cursors (
    network    TEXT NOT NULL,
    account    TEXT NOT NULL,
    signature  TEXT NOT NULL,
    slot       INTEGER NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (network, account)
);
