-- Rollups from the event stream. The trigger of 0015 counted each event into stat_hour in
-- the transaction that recorded it, so every create and check waited on the row locks of
-- the current hour's hot counters (a fifth of create's throughput with 64 shards). Now
-- each event carries the id of the transaction that wrote it (`txn`), and a folder, run
-- every second by each instance, adds the events of finished transactions to stat_hour:
-- purge_mark 'events_folded' holds the first transaction id not folded yet. The folder
-- takes the ids below the oldest transaction still running (pg_snapshot_xmin), adds their
-- events and moves the mark there, in one transaction: every transaction below the mark
-- had ended when it was set, so no event can appear below it later, and each event is
-- counted exactly once. Reads add the events not folded yet (stat_hour_live), so the
-- stats are current to the last commit whatever the fold is waiting for (a transaction
-- that stays open holds it back), and so do the daily sums; a rebuild recounts the
-- folded events only; retention counts the unfolded events it deletes. Events from before (txn NULL) were counted by
-- the trigger.
DROP TRIGGER event_to_stats ON event;
DROP FUNCTION otpgate_event_to_stats();

ALTER TABLE event ADD COLUMN txn BIGINT;
ALTER TABLE event ALTER COLUMN txn SET DEFAULT (pg_current_xact_id()::text::bigint);
CREATE INDEX event_txn ON event (txn) WHERE txn IS NOT NULL;
INSERT INTO purge_mark (name, at) VALUES ('events_folded', 0) ON CONFLICT (name) DO NOTHING;

-- The first transaction id not folded yet. A function rather than a subquery so the
-- planner sees its value (STABLE functions are evaluated when estimating): unfolded
-- events are a few, found through event_txn, never a parallel scan of the table.
CREATE FUNCTION otpgate_events_folded() RETURNS BIGINT LANGUAGE sql STABLE
    AS $$ SELECT at FROM purge_mark WHERE name = 'events_folded' $$;

-- Each event as the counters it feeds: its kind and each of its tags, in its hour.
CREATE VIEW event_metric AS
SELECT e.txn, e.verification_id, e.app_id, e.created_at - e.created_at % 3600000 AS hour, e.channel,
       e.provider, e.country, m.metric
FROM event e
CROSS JOIN LATERAL (
    SELECT e.kind AS metric
    UNION ALL
    SELECT t.value FROM jsonb_array_elements_text(COALESCE(e.tags, '[]')::jsonb) AS t(value)
) m
WHERE e.app_id IS NOT NULL;

-- The hourly rollups with the events not folded yet: what the stats pages read.
CREATE VIEW stat_hour_live AS
SELECT app_id, hour, channel, provider, country, metric, n FROM stat_hour
UNION ALL
SELECT app_id, hour, channel, provider, country, metric, 1 FROM event_metric
WHERE txn >= otpgate_events_folded();
