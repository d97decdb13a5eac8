-- Stats rollups. Each event carries what it is counted under: its app, the channel and
-- country prefix of its verification at the time, the provider (the one a delivery event
-- names, else the verification's) and `tags`, the extra counters it feeds (a JSON array
-- such as ["ttv:3","tries:1"], NULL for none). A trigger adds every new event to
-- `stat_hour` in the transaction that recorded it; `otpgate stats rebuild` recomputes
-- the same rows from the events. Rollups outlive the events retention purges.
ALTER TABLE verification ADD COLUMN country TEXT NOT NULL DEFAULT '';
ALTER TABLE event ADD COLUMN app_id BIGINT;
ALTER TABLE event ADD COLUMN channel TEXT NOT NULL DEFAULT '';
ALTER TABLE event ADD COLUMN provider TEXT NOT NULL DEFAULT '';
ALTER TABLE event ADD COLUMN country TEXT NOT NULL DEFAULT '';
ALTER TABLE event ADD COLUMN tags TEXT;
-- When a provider accepted the message, for the delivery latency its receipt shows.
ALTER TABLE delivery ADD COLUMN sent_at BIGINT;

UPDATE event SET app_id = v.app_id, channel = v.channel,
    provider = COALESCE(event.detail::jsonb ->> 'provider', v.provider)
FROM verification v WHERE v.verification_id = event.verification_id;

-- One counter of one app in one hour, under one channel, provider and country prefix;
-- `shard` (event id modulo 64) spreads one busy counter of the current hour over 64
-- rows; the stats maintenance folds older hours back into shard 0.
CREATE TABLE stat_hour (
    app_id   BIGINT NOT NULL,
    hour     BIGINT NOT NULL,
    channel  TEXT   NOT NULL,
    provider TEXT   NOT NULL,
    country  TEXT   NOT NULL,
    metric   TEXT   NOT NULL,
    shard    SMALLINT NOT NULL,
    n        BIGINT NOT NULL,
    PRIMARY KEY (app_id, hour, channel, provider, country, metric, shard)
);

CREATE FUNCTION otpgate_event_to_stats() RETURNS trigger AS $$
BEGIN
    INSERT INTO stat_hour (app_id, hour, channel, provider, country, metric, shard, n)
    SELECT NEW.app_id, NEW.created_at - NEW.created_at % 3600000, NEW.channel, NEW.provider,
           NEW.country, m.metric, NEW.event_id % 64, 1
    FROM (SELECT NEW.kind AS metric
          UNION ALL
          SELECT t.value FROM jsonb_array_elements_text(COALESCE(NEW.tags, '[]')::jsonb) AS t(value)) m
    ON CONFLICT (app_id, hour, channel, provider, country, metric, shard)
        DO UPDATE SET n = stat_hour.n + 1;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER event_to_stats AFTER INSERT ON event
    FOR EACH ROW WHEN (NEW.app_id IS NOT NULL) EXECUTE FUNCTION otpgate_event_to_stats();

-- Existing events count too.
INSERT INTO stat_hour (app_id, hour, channel, provider, country, metric, shard, n)
SELECT app_id, created_at - created_at % 3600000, channel, provider, country, kind,
       0, count(*)
FROM event WHERE app_id IS NOT NULL
GROUP BY 1, 2, 3, 4, 5, 6, 7;
