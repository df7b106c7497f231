-- pgbench-create-invoice.sql: what POST /api/v1/invoices writes for one
-- invoice, as plain SQL in one transaction, to compare `settle bench create`
-- with the database's own ceiling on the same machine.
--
-- The rows match a real one written by the API (amount "25.00" USD, the
-- seven test-mode payment methods, merchant_order_id bench-N, an ~870-byte
-- invoice.created event). Ids have the shape of settle's: a millisecond time
-- prefix and random bits (56 here, so no primary key collides in practice).
-- now() is fixed within a transaction, so both statements agree on the ids.
--
-- Run against a database migrated by `settle migrate`, in pgbench's default
-- simple-query mode, naming a merchant that exists (events and invoices
-- reference it), e.g.:
--
--   pgbench -n -c 16 -j 2 -T 20 -D "merchant='mer_…'" -f pgbench-create-invoice.sql DB
\set inv random(0, 72057594037927935)
\set evt random(0, 72057594037927935)
\set tok1 random(0, 1152921504606846975)
\set tok2 random(0, 1152921504606846975)
\set order random(1, 1000000000)
BEGIN;
INSERT INTO invoices (id, merchant_id, mode, status, exception, currency, decimals, amount, amount_paid,
    payment_methods, merchant_order_id, description, metadata, redirect_url, session_token,
    expires_at, created_at, updated_at, paid_at)
VALUES ('inv_' || lpad(to_hex((extract(epoch FROM now()) * 1000)::bigint), 12, '0') || lpad(to_hex(:inv), 14, '0'),
    :merchant, 'test', 'open', 'none', 'USD', 2, 2500, 0,
    '["sandbox","usdc_sepolia","usdc_base_sepolia","usdc_polygon_amoy","usdc_arbitrum_sepolia","usdc_devnet","usdc_solana_devnet"]',
    'bench-' || :order, '', 'null', '',
    lpad(to_hex(:tok1), 16, '0') || lpad(to_hex(:tok2), 16, '0'),
    now() + interval '900 seconds', now(), now(), NULL);
INSERT INTO events (id, merchant_id, mode, type, invoice_id, created_at, data)
VALUES ('evt_' || lpad(to_hex((extract(epoch FROM now()) * 1000)::bigint), 12, '0') || lpad(to_hex(:evt), 14, '0'),
    :merchant, 'test', 'invoice.created',
    'inv_' || lpad(to_hex((extract(epoch FROM now()) * 1000)::bigint), 12, '0') || lpad(to_hex(:inv), 14, '0'),
    now(),
    '{"object":{"id":"inv_' || lpad(to_hex((extract(epoch FROM now()) * 1000)::bigint), 12, '0') || lpad(to_hex(:inv), 14, '0')
    || '","object":"invoice","mode":"test","status":"open","exception":"none","amount":"25.00","currency":"USD",'
    || '"amount_paid":"0.00","amount_due":"25.00","payment_methods":["sandbox","usdc_sepolia","usdc_base_sepolia",'
    || '"usdc_polygon_amoy","usdc_arbitrum_sepolia","usdc_devnet","usdc_solana_devnet"],"merchant_order_id":"bench-' || :order
    || '","description":"","metadata":{},"redirect_url":"","expires_at":"' || to_char((now() + interval '900 seconds') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
    || '","created_at":"' || to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
    || '","updated_at":"' || to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
    || '","paid_at":null,"payment_url":"http://localhost:8080/pay/' || lpad(to_hex(:tok1), 16, '0') || lpad(to_hex(:tok2), 16, '0')
    || '?sig=' || lpad(to_hex(:tok2), 16, '0') || lpad(to_hex(:inv), 16, '0') || lpad(to_hex(:tok1), 16, '0') || lpad(to_hex(:evt), 16, '0')
    || '","payment_session_headers":{"x-session-token":"' || lpad(to_hex(:tok1), 16, '0') || lpad(to_hex(:tok2), 16, '0')
    || '","x-signature":"' || lpad(to_hex(:tok2), 16, '0') || lpad(to_hex(:inv), 16, '0') || lpad(to_hex(:tok1), 16, '0') || lpad(to_hex(:evt), 16, '0')
    || '"}}}');
END;
