-- The SMS fraud guard. `guard_spend`: estimated spend per app and period (`d2026-12-05`,
-- `m2026-12`); the row with country '' is the period's total, which budgets are checked
-- against in one conditional statement. Amounts are millionths of a currency unit.
CREATE TABLE guard_spend (
    app_id  INTEGER NOT NULL REFERENCES app (app_id) ON DELETE CASCADE,
    period  TEXT    NOT NULL,
    country TEXT    NOT NULL,
    spent   INTEGER NOT NULL DEFAULT 0,
    sends   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (app_id, period, country)
);

-- Pumping detection's counts: messages sent and verified per app, subject (a country, or
-- a block of 100 numbers) and minute, written by every instance.
CREATE TABLE guard_tally (
    app_id   INTEGER NOT NULL REFERENCES app (app_id) ON DELETE CASCADE,
    scope    TEXT    NOT NULL CHECK (scope IN ('country', 'block')),
    subject  TEXT    NOT NULL,
    minute   INTEGER NOT NULL,
    sent     INTEGER NOT NULL DEFAULT 0,
    verified INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (app_id, scope, subject, minute)
);
CREATE INDEX guard_tally_minute ON guard_tally (minute);

-- Holds: sends to a country or block refused until an owner lifts them. At most one
-- active hold per subject.
CREATE TABLE guard_hold (
    hold_id    INTEGER PRIMARY KEY,
    app_id     INTEGER NOT NULL REFERENCES app (app_id) ON DELETE CASCADE,
    scope      TEXT    NOT NULL CHECK (scope IN ('country', 'block')),
    subject    TEXT    NOT NULL,
    reason     TEXT    NOT NULL,
    detail     TEXT    NOT NULL DEFAULT '{}',
    started_at INTEGER NOT NULL,
    lifted_at  INTEGER,
    lifted_by  TEXT
);
CREATE UNIQUE INDEX guard_hold_active ON guard_hold (app_id, scope, subject)
    WHERE lifted_at IS NULL;
CREATE INDEX guard_hold_app ON guard_hold (app_id, hold_id);

-- Refused sends per app, minute, reason (`country_not_allowed`, `suspected_fraud`,
-- `budget_exceeded`) and country.
CREATE TABLE guard_refusal (
    app_id  INTEGER NOT NULL REFERENCES app (app_id) ON DELETE CASCADE,
    minute  INTEGER NOT NULL,
    reason  TEXT    NOT NULL,
    country TEXT    NOT NULL,
    n       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (app_id, minute, reason, country)
);
CREATE INDEX guard_refusal_minute ON guard_refusal (minute);
