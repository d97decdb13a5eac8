-- The delivery outbox: one row per message to send, written in the same transaction as
-- the verification (or resend) it belongs to. A worker claims due rows with a lease,
-- sends, and records the outcome; a crashed worker's lease runs out and another claims
-- the row. The message itself is rendered at send time: the row never holds a code.
CREATE TABLE delivery (
    delivery_id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    verification_id     BIGINT  NOT NULL REFERENCES verification (verification_id) ON DELETE CASCADE,
    -- Provider ids to try, in order (JSON array); route_index is the one in use.
    route               TEXT    NOT NULL,
    route_index         BIGINT  NOT NULL DEFAULT 0,
    address             TEXT    NOT NULL,
    -- queued: waiting (first try or retry); sending: leased to a worker; sent: accepted
    -- by a provider; dead: given up (expired, rejected everywhere); suppressed: over the
    -- per-address cap; dropped: the verification closed before it went out.
    status              TEXT    NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'sending', 'sent', 'dead', 'suppressed', 'dropped')),
    attempts            BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at     BIGINT  NOT NULL,
    lease_owner         TEXT,
    lease_until         BIGINT,
    provider            TEXT    NOT NULL DEFAULT '',
    provider_message_id TEXT,
    -- The last delivery receipt's status (delivered, undelivered, ...).
    receipt_status      TEXT,
    last_error          TEXT    NOT NULL DEFAULT '',
    created_at          BIGINT  NOT NULL,
    updated_at          BIGINT  NOT NULL
);
CREATE INDEX delivery_due ON delivery (next_attempt_at) WHERE status IN ('queued', 'sending');
CREATE INDEX delivery_verification ON delivery (verification_id);
CREATE INDEX delivery_receipt ON delivery (provider, provider_message_id)
    WHERE provider_message_id IS NOT NULL;
