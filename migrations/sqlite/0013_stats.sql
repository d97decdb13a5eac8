-- Stats rollups. Each event carries what it is counted under: its app, the channel and
-- country prefix of its verification at the time, the provider (the one a delivery event
-- names, else the verification's) and `tags`, the extra counters it feeds (a JSON array
-- such as ["ttv:3","tries:1"], NULL for none). A trigger adds every new event to
-- `stat_hour` in the transaction that recorded it; `otpgate stats rebuild` recomputes
-- the same rows from the events. Rollups outlive the events retention purges.
ALTER TABLE verification ADD COLUMN country TEXT NOT NULL DEFAULT '';
ALTER TABLE event ADD COLUMN app_id INTEGER;
ALTER TABLE event ADD COLUMN channel TEXT NOT NULL DEFAULT '';
ALTER TABLE event ADD COLUMN provider TEXT NOT NULL DEFAULT '';
ALTER TABLE event ADD COLUMN country TEXT NOT NULL DEFAULT '';
ALTER TABLE event ADD COLUMN tags TEXT;
-- When a provider accepted the message, for the delivery latency its receipt shows.
ALTER TABLE delivery ADD COLUMN sent_at INTEGER;

UPDATE event SET (app_id, channel, provider) = (
    SELECT v.app_id, v.channel, COALESCE(json_extract(event.detail, '$.provider'), v.provider)
    FROM verification v WHERE v.verification_id = event.verification_id
);

-- One counter of one app in one hour, under one channel, provider and country prefix.
-- `shard` is always 0 here (SQLite has one writer at a time); PostgreSQL spreads a busy
-- counter over 64 shards.
CREATE TABLE stat_hour (
    app_id   INTEGER NOT NULL,
    hour     INTEGER NOT NULL,
    channel  TEXT    NOT NULL,
    provider TEXT    NOT NULL,
    country  TEXT    NOT NULL,
    metric   TEXT    NOT NULL,
    shard    INTEGER NOT NULL,
    n        INTEGER NOT NULL,
    PRIMARY KEY (app_id, hour, channel, provider, country, metric, shard)
) WITHOUT ROWID;

CREATE TRIGGER event_to_stats AFTER INSERT ON event
WHEN NEW.app_id IS NOT NULL
BEGIN
    INSERT INTO stat_hour (app_id, hour, channel, provider, country, metric, shard, n)
    SELECT NEW.app_id, NEW.created_at - NEW.created_at % 3600000, NEW.channel, NEW.provider,
           NEW.country, m.metric, 0, 1
    FROM (SELECT NEW.kind AS metric
          UNION ALL
          SELECT t.value FROM json_each(COALESCE(NEW.tags, '[]')) t) m
    WHERE true
    ON CONFLICT (app_id, hour, channel, provider, country, metric, shard)
        DO UPDATE SET n = n + 1;
END;

-- Existing events count too.
INSERT INTO stat_hour (app_id, hour, channel, provider, country, metric, shard, n)
SELECT app_id, created_at - created_at % 3600000, channel, provider, country, kind,
       0, count(*)
FROM event WHERE app_id IS NOT NULL
GROUP BY 1, 2, 3, 4, 5, 6, 7;
