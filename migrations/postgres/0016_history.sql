-- The dashboard's history: verifications newest first per app (keyset pages on
-- (created_at, verification_id)), and found by a keyed hash of their address, so a search
-- by address needs no plaintext index. Rows stored before this have no hash.
ALTER TABLE verification ADD COLUMN address_key BYTEA;
CREATE INDEX verification_history ON verification (app_id, created_at, verification_id);
CREATE INDEX verification_address_key ON verification (app_id, address_key)
    WHERE address_key IS NOT NULL;

-- Retention: verifications older than the configured days are purged with their events
-- and messages; the rollups stay. The newest cutoff is kept so a stats rebuild never
-- recomputes hours whose events are gone.
CREATE TABLE purge_mark (
    name TEXT PRIMARY KEY,
    at   BIGINT NOT NULL
);
CREATE INDEX verification_created ON verification (created_at);
CREATE INDEX webhook_message_event ON webhook_message (event_id);

-- Daily rollups: the hourly ones of whole past days summed, so a 30-day stats page reads
-- 30 rows per counter instead of 720. The upkeep rolls each day once it is over and
-- records how far it got in purge_mark ('days_rolled'); later hours are read hourly.
CREATE TABLE stat_day (
    app_id   BIGINT NOT NULL,
    day      BIGINT NOT NULL,
    channel  TEXT   NOT NULL,
    provider TEXT   NOT NULL,
    country  TEXT   NOT NULL,
    metric   TEXT   NOT NULL,
    n        BIGINT NOT NULL,
    PRIMARY KEY (app_id, day, channel, provider, country, metric)
);
