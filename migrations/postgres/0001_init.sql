-- otpgate schema, PostgreSQL flavour: the same tables and columns as migrations/sqlite.
-- All timestamps are Unix milliseconds written by the application's clock, so expiry is
-- judged by one clock whatever the backend; counters are BIGINT so both backends decode
-- them the same way.

-- An app: the unit of integration, addressed by its public namespace.
CREATE TABLE app (
    app_id      BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    namespace   TEXT    NOT NULL UNIQUE,
    name        TEXT    NOT NULL,
    -- TRUE when the otpgateway API may return the plaintext code (off unless asked for).
    echo_code   BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL
);

-- API secrets, stored only as argon2id PHC strings. An app may hold several while it
-- rotates them.
CREATE TABLE app_secret (
    app_secret_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    app_id        BIGINT NOT NULL REFERENCES app (app_id) ON DELETE CASCADE,
    secret_hash   TEXT   NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX app_secret_app ON app_secret (app_id);

-- One attempt to prove control of one address. The code is kept only as an HMAC bound
-- to (namespace, public_id); counters are raised by single conditional UPDATEs.
CREATE TABLE verification (
    verification_id     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    app_id              BIGINT NOT NULL REFERENCES app (app_id) ON DELETE CASCADE,
    public_id           TEXT   NOT NULL,
    provider            TEXT   NOT NULL,
    channel             TEXT   NOT NULL,
    address             TEXT   NOT NULL DEFAULT '',
    channel_description TEXT   NOT NULL DEFAULT '',
    address_description TEXT   NOT NULL DEFAULT '',
    code_hmac           BYTEA  NOT NULL,
    code_length         BIGINT NOT NULL,
    code_alphabet       TEXT   NOT NULL,
    attempts            BIGINT NOT NULL DEFAULT 0,
    max_attempts        BIGINT NOT NULL,
    sends               BIGINT NOT NULL DEFAULT 0,
    max_sends           BIGINT NOT NULL,
    status              TEXT   NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'verified', 'expired', 'locked', 'cancelled')),
    extra               TEXT   NOT NULL DEFAULT '{}',
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    expires_at          BIGINT NOT NULL,
    verified_at         BIGINT,
    -- Set when the otpgateway API "deletes" the record; the row stays for history.
    retired_at          BIGINT,
    -- Set when a new verification with the same public id replaced this one.
    superseded_at       BIGINT
);
-- One current verification per (app, public id); superseded ones keep their rows.
CREATE UNIQUE INDEX verification_current ON verification (app_id, public_id)
    WHERE superseded_at IS NULL;
CREATE INDEX verification_expiry ON verification (status, expires_at);

-- The timeline of a verification. `detail` is JSON and never holds a code or a secret.
CREATE TABLE event (
    event_id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    verification_id BIGINT NOT NULL REFERENCES verification (verification_id) ON DELETE CASCADE,
    kind            TEXT   NOT NULL,
    detail          TEXT   NOT NULL DEFAULT '{}',
    created_at      BIGINT NOT NULL
);
CREATE INDEX event_verification ON event (verification_id, event_id);
