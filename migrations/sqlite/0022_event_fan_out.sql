-- The rollups and the webhook queue are fed by the writer: each write batch adds its
-- events to stat_hour and webhook_message, in one statement of each kind, just before it
-- commits (app/src/gateway/store/fan_out.rs), in place of these per-event triggers of
-- 0012 and 0013. An event is still committed with its counts and its webhook messages.
DROP TRIGGER event_to_stats;
DROP TRIGGER event_to_webhooks;
