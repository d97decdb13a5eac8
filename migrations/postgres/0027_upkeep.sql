-- The hourly upkeep deletes used-token records an hour after their token expired, and
-- idempotent answers a day after they were stored, a batch at a time; these indexes let
-- it find them without reading either table whole. Both tables are written rarely (a
-- token's exchange, a create with an Idempotency-Key). Rate buckets are found in key
-- order instead: an index there would be written by every create.
CREATE INDEX token_use_expiry ON token_use (expires_at);
CREATE INDEX idempotency_key_age ON idempotency_key (created_at);
