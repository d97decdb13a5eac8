-- otpgate schema, SQLite flavour. The PostgreSQL flavour under migrations/postgres keeps
-- the same tables and columns. All timestamps are Unix milliseconds written by the
-- application's clock, so expiry is judged by one clock whatever the backend.

-- An app: the unit of integration, addressed by its public namespace.
CREATE TABLE app (
    app_id      INTEGER PRIMARY KEY,
    namespace   TEXT    NOT NULL UNIQUE,
    name        TEXT    NOT NULL,
    -- 1 when the otpgateway API may return the plaintext code (off unless asked for).
    echo_code   INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- API secrets, stored only as argon2id PHC strings. An app may hold several while it
-- rotates them.
CREATE TABLE app_secret (
    app_secret_id INTEGER PRIMARY KEY,
    app_id        INTEGER NOT NULL REFERENCES app (app_id) ON DELETE CASCADE,
    secret_hash   TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE INDEX app_secret_app ON app_secret (app_id);

-- One attempt to prove control of one address. The code is kept only as an HMAC bound
-- to (namespace, public_id); counters are raised by single conditional UPDATEs.
CREATE TABLE verification (
    verification_id     INTEGER PRIMARY KEY,
    app_id              INTEGER NOT NULL REFERENCES app (app_id) ON DELETE CASCADE,
    public_id           TEXT    NOT NULL,
    provider            TEXT    NOT NULL,
    channel             TEXT    NOT NULL,
    address             TEXT    NOT NULL DEFAULT '',
    channel_description TEXT    NOT NULL DEFAULT '',
    address_description TEXT    NOT NULL DEFAULT '',
    code_hmac           BLOB    NOT NULL,
    code_length         INTEGER NOT NULL,
    code_alphabet       TEXT    NOT NULL,
    attempts            INTEGER NOT NULL DEFAULT 0,
    max_attempts        INTEGER NOT NULL,
    sends               INTEGER NOT NULL DEFAULT 0,
    max_sends           INTEGER NOT NULL,
    status              TEXT    NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'verified', 'expired', 'locked', 'cancelled')),
    extra               TEXT    NOT NULL DEFAULT '{}',
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    expires_at          INTEGER NOT NULL,
    verified_at         INTEGER,
    -- Set when the otpgateway API "deletes" the record; the row stays for history.
    retired_at          INTEGER,
    -- Set when a new verification with the same public id replaced this one (an
    -- otpgateway integrator re-using "john-0001" after it closed). Kept for history.
    superseded_at       INTEGER
);
-- One current verification per (app, public id); superseded ones keep their rows.
CREATE UNIQUE INDEX verification_current ON verification (app_id, public_id)
    WHERE superseded_at IS NULL;
CREATE INDEX verification_expiry ON verification (status, expires_at);

-- The timeline of a verification: created, sent, failed, attempt, verified, locked, ...
-- `detail` is JSON and never holds a code or a secret.
CREATE TABLE event (
    event_id        INTEGER PRIMARY KEY,
    verification_id INTEGER NOT NULL REFERENCES verification (verification_id) ON DELETE CASCADE,
    kind            TEXT    NOT NULL,
    detail          TEXT    NOT NULL DEFAULT '{}',
    created_at      INTEGER NOT NULL
);
CREATE INDEX event_verification ON event (verification_id, event_id);
