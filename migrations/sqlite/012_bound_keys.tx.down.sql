DELETE FROM api_keys WHERE scope NOT IN ('merchant', 'read');
--bun:split
CREATE TABLE api_keys_old (
    prefix      TEXT PRIMARY KEY,
    hash        TEXT NOT NULL UNIQUE,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    mode        TEXT NOT NULL CHECK (mode IN ('test', 'live')),
    scope       TEXT NOT NULL CHECK (scope IN ('merchant', 'read')),
    created_at  TIMESTAMP NOT NULL,
    revoked_at  TIMESTAMP
);
--bun:split
INSERT INTO api_keys_old SELECT prefix, hash, merchant_id, mode, scope, created_at, revoked_at FROM api_keys;
--bun:split
DROP TABLE api_keys;
--bun:split
ALTER TABLE api_keys_old RENAME TO api_keys;
