-- Resend support, rate limits, single-use tokens and idempotent creates.

-- The code sealed with ChaCha20-Poly1305 under a server key (nonce ‖ ciphertext), so a
-- resend can repeat the same code; never plaintext. NULL for rows created before.
ALTER TABLE verification ADD COLUMN code_sealed BYTEA;
-- When a message was last handed to a provider, for the resend cooldown.
ALTER TABLE verification ADD COLUMN last_sent_at BIGINT;

-- Fixed-window counters, raised by one upsert each (so they hold across instances).
-- bucket_key names the limit and its subject, e.g. "check_fail:app:12:addr:<sha256>".
CREATE TABLE rate_bucket (
    bucket_key   TEXT    PRIMARY KEY,
    window_start BIGINT  NOT NULL,
    hits         BIGINT  NOT NULL
);

-- Verification tokens already exchanged at /v1/tokens/confirm (RFC 8725: one use).
CREATE TABLE token_use (
    jti        TEXT    PRIMARY KEY,
    app_id     BIGINT  NOT NULL REFERENCES app (app_id) ON DELETE CASCADE,
    used_at    BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL
);

-- Answers to POST /v1/verifications replayed for a repeated Idempotency-Key.
CREATE TABLE idempotency_key (
    app_id       BIGINT  NOT NULL REFERENCES app (app_id) ON DELETE CASCADE,
    key          TEXT    NOT NULL,
    request_hash BYTEA   NOT NULL,
    status       BIGINT  NOT NULL,
    response     TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    PRIMARY KEY (app_id, key)
);
