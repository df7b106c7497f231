DELETE FROM api_keys WHERE scope NOT IN ('merchant', 'read');
--bun:split
ALTER TABLE api_keys DROP CONSTRAINT api_keys_bound_check;
--bun:split
ALTER TABLE api_keys DROP CONSTRAINT api_keys_scope_check;
--bun:split
ALTER TABLE api_keys DROP COLUMN bound_to;
--bun:split
ALTER TABLE api_keys ADD CONSTRAINT api_keys_scope_check CHECK (scope IN ('merchant', 'read'));
