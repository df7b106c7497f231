-- pgbench-create-invoice.sql: the statements POST /api/v1/invoices sends to
-- Postgres for one invoice, in the same order, to compare `settle bench
-- create` with the database's own ceiling for the same work on the same
-- machine (run.sh, comparison A).
--
-- Provenance: mirrors the API after the commit that remembers a merchant's
-- missing rail accounts (chains/fiat absentRails). Captured by serving a
-- fresh migrated database with `ALTER DATABASE … SET log_statement = 'all'`
-- and sending the request `settle bench create` sends (no Idempotency-Key,
-- {"amount":"25.00","currency":"USD","merchant_order_id":"bench-N"}, a test
-- key), then reading the server log. Per create, once the API key is cached
-- and the merchant's lack of rail accounts is known (both after the first
-- request, while the key watcher runs), one statement, its own implicit
-- transaction:
--
--   WITH "invoice" AS (INSERT INTO "invoices" (…36 columns…) VALUES (…)
--   RETURNING …) INSERT INTO "events" (…8 columns…) VALUES (…)
--
-- (A merchant with rail accounts on the invoice's rails also has them read,
-- and a reference written, in a transaction with the insert.)
--
-- The event sequencer's transaction that follows (numbering, webhook
-- fan-out, pg_notify) runs in the background in batches and
-- is not mirrored here: it is part of settle's cost, not of the request's.
--
-- Each statement is sent as text in pgbench's default simple-query mode, as
-- settle sends it (pgx simple protocol, values inlined by bun). The rows have
-- the shape of the API's: ids of the same length (a millisecond time prefix
-- and 56 random bits), payment_methods ["sandbox"] (what a USD test invoice
-- gets with no chain configured), a ~900-byte invoice.created event. Where
-- the API sends literal times and ids, this file computes them from now() and
-- pgbench's random integers (pgbench variables are integers), a little more
-- work per row for the reference than for settle.
--
-- Run against a database migrated by `settle migrate`, naming a merchant that
-- exists (invoices, events and rail_accounts reference it), e.g.:
--
--   pgbench -n -c 16 -j 2 -T 15 -D "merchant='mer_…'" -f pgbench-create-invoice.sql DB
--
-- When the API's statements change, capture them again and update this file.
\set inv random(0, 72057594037927935)
\set evt random(0, 72057594037927935)
\set tok1 random(0, 1152921504606846975)
\set tok2 random(0, 1152921504606846975)
\set order random(1, 1000000000)
WITH "invoice" AS (INSERT INTO "invoices" ("id", "merchant_id", "mode", "status", "exception", "currency", "decimals", "amount", "amount_paid", "payment_methods", "merchant_order_id", "description", "metadata", "redirect_url", "session_token", "instructions", "expires_at", "created_at", "updated_at", "paid_at", "mark_note", "marked_by", "marked_at", "checkout_opened_at", "checkout_locked_at", "checkout_lock", "scanned_at", "failed_payments", "allow_tip", "tip_cap_percent", "tip_amount", "fulfilment", "fulfilled_at", "location_id", "qr_session_id", "terminal_id") VALUES ('inv_' || lpad(to_hex((extract(epoch FROM now()) * 1000)::bigint), 12, '0') || lpad(to_hex(:inv), 14, '0'), :merchant, 'test', 'open', 'none', 'USD', 2, '2500', '0', '["sandbox"]', 'bench-' || :order, '', '{}', '', lpad(to_hex(:tok1), 16, '0') || lpad(to_hex(:tok2), 16, '0'), 'null', now() + interval '900 seconds', now(), now(), DEFAULT, '', '', DEFAULT, DEFAULT, DEFAULT, '', DEFAULT, 0, FALSE, 0, '0', 'not_required', DEFAULT, DEFAULT, DEFAULT, DEFAULT) RETURNING "paid_at", "marked_at", "checkout_opened_at", "checkout_locked_at", "scanned_at", "fulfilled_at", "location_id", "qr_session_id", "terminal_id") INSERT INTO "events" ("id", "sequence", "merchant_id", "mode", "type", "invoice_id", "created_at", "data") VALUES ('evt_' || lpad(to_hex((extract(epoch FROM now()) * 1000)::bigint), 12, '0') || lpad(to_hex(:evt), 14, '0'), DEFAULT, :merchant, 'test', 'invoice.created', 'inv_' || lpad(to_hex((extract(epoch FROM now()) * 1000)::bigint), 12, '0') || lpad(to_hex(:inv), 14, '0'), now(),
    '{"object":{"id":"' || 'inv_' || lpad(to_hex((extract(epoch FROM now()) * 1000)::bigint), 12, '0') || lpad(to_hex(:inv), 14, '0') || '","object":"invoice","mode":"test","status":"open","exception":"none","amount":"25.00","currency":"USD",'
    || '"amount_paid":"0.00","amount_due":"25.00","tip_amount":"0.00","allow_tip":false,"tip_cap_percent":0,"payment_methods":["sandbox"],"merchant_order_id":"bench-' || :order
    || '","description":"","metadata":{},"redirect_url":"","expires_at":"' || to_char((now() + interval '900 seconds') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
    || '","created_at":"' || to_char((now()) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || '","updated_at":"' || to_char((now()) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
    || '","paid_at":null,"payment_url":"http://127.0.0.1:18400/pay/' || lpad(to_hex(:tok1), 16, '0') || lpad(to_hex(:tok2), 16, '0') || '?sig=' || lpad(to_hex(:tok2), 16, '0') || lpad(to_hex(:inv), 16, '0') || lpad(to_hex(:tok1), 16, '0') || lpad(to_hex(:evt), 16, '0')
    || '","payment_session_headers":{"x-session-token":"' || lpad(to_hex(:tok1), 16, '0') || lpad(to_hex(:tok2), 16, '0') || '","x-signature":"' || lpad(to_hex(:tok2), 16, '0') || lpad(to_hex(:inv), 16, '0') || lpad(to_hex(:tok1), 16, '0') || lpad(to_hex(:evt), 16, '0')
    || '"},"payment_instructions":[],"mark":null,"checkout":{"opened_at":null,"locked":false,"lock_scope":"none","locked_at":null},"scanned_at":null,"session_status":"created","fulfilment":{"status":"not_required","fulfilled_at":null},"terminal_id":""}}');
