-- Keys of a bound scope (terminal, order) act for one object only: the
-- terminal or the QR session they were minted for. SQLite cannot change a
-- CHECK constraint, so the table is rebuilt (nothing references it).
CREATE TABLE api_keys_new (
    prefix      TEXT PRIMARY KEY,
    hash        TEXT NOT NULL UNIQUE,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    mode        TEXT NOT NULL CHECK (mode IN ('test', 'live')),
    scope       TEXT NOT NULL CHECK (scope IN ('merchant', 'read', 'terminal', 'order')),
    bound_to    TEXT NOT NULL DEFAULT '' CHECK ((bound_to = '') = (scope IN ('merchant', 'read'))),
    created_at  TIMESTAMP NOT NULL,
    revoked_at  TIMESTAMP
);
--bun:split
INSERT INTO api_keys_new (prefix, hash, merchant_id, mode, scope, created_at, revoked_at)
SELECT prefix, hash, merchant_id, mode, scope, created_at, revoked_at FROM api_keys;
--bun:split
DROP TABLE api_keys;
--bun:split
ALTER TABLE api_keys_new RENAME TO api_keys;
