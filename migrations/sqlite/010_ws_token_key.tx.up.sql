-- A ws_token remembers the API key that minted it, so that revoking the key
-- makes its unused tokens unusable and closes the connections opened with it.
-- Tokens minted before cannot say which key they came from: they live five
-- minutes and are single use, so they are dropped (a browser asks for a new one).
DELETE FROM ws_tokens;
--bun:split
ALTER TABLE ws_tokens ADD COLUMN key_prefix TEXT NOT NULL DEFAULT '';
