DROP TABLE signing_keys;
--bun:split
DROP TABLE checkout_sessions;
