ALTER TABLE ws_tokens DROP COLUMN key_prefix;
