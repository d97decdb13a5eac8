-- Inbound (reverse) verification: the person texts the code to the app's number.

-- HMAC of the code alone (not bound to the id), so an incoming SMS finds its open
-- verification; unique among open ones. NULL for verifications sent the usual way.
ALTER TABLE verification ADD COLUMN inbound_key BYTEA;
CREATE UNIQUE INDEX verification_inbound ON verification (inbound_key)
    WHERE inbound_key IS NOT NULL AND status = 'pending';

-- Inbound messages already handled, by the provider's message id (deduplication).
CREATE TABLE inbound_message (
    provider    TEXT    NOT NULL,
    message_id  TEXT    NOT NULL,
    received_at BIGINT  NOT NULL,
    PRIMARY KEY (provider, message_id)
);
