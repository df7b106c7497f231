-- Keys of a bound scope (terminal, order) act for one object only: the
-- terminal or the QR session they were minted for.
ALTER TABLE api_keys DROP CONSTRAINT api_keys_scope_check;
--bun:split
ALTER TABLE api_keys ADD COLUMN bound_to TEXT NOT NULL DEFAULT '';
--bun:split
ALTER TABLE api_keys ADD CONSTRAINT api_keys_scope_check CHECK (scope IN ('merchant', 'read', 'terminal', 'order'));
--bun:split
ALTER TABLE api_keys ADD CONSTRAINT api_keys_bound_check CHECK ((bound_to = '') = (scope IN ('merchant', 'read')));
