-- Alerts: one row per condition while it holds (state firing) and after
-- (resolved). merchant_id and mode are '' for the operator's alerts (a
-- network). The partial unique index makes a condition fire once across
-- instances. mail_due is the notice still to send by email ('firing' or
-- 'resolved'; '' when none), claimed by one sender at a time.
CREATE TABLE alerts (
    id                 TEXT PRIMARY KEY,
    merchant_id        TEXT NOT NULL,
    mode               TEXT NOT NULL,
    kind               TEXT NOT NULL,
    subject            TEXT NOT NULL,
    message            TEXT NOT NULL,
    state              TEXT NOT NULL CHECK (state IN ('firing', 'resolved')),
    fired_at           TIMESTAMPTZ NOT NULL,
    resolved_at        TIMESTAMPTZ,
    mail_due           TEXT NOT NULL DEFAULT '',
    mail_claimed_until TIMESTAMPTZ,
    mail_attempts      INTEGER NOT NULL DEFAULT 0,
    mail_error         TEXT NOT NULL DEFAULT '',
    updated_at         TIMESTAMPTZ NOT NULL
);
--bun:split
CREATE UNIQUE INDEX alerts_firing ON alerts (merchant_id, mode, kind, subject) WHERE state = 'firing';
--bun:split
CREATE INDEX alerts_mail_due ON alerts (mail_due) WHERE mail_due <> '';
--bun:split
CREATE INDEX alerts_merchant ON alerts (merchant_id, mode, id);
