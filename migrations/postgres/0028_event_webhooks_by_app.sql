-- The webhook trigger of 0020 found each new event's app through its verification. PL/pgSQL
-- plans that statement once per connection and keeps the plan until the table is next
-- analyzed: a connection that first ran it while `verification` was small, or had no
-- statistics yet, kept a hash join over a sequential scan of the whole table for every
-- statement that inserted events. Every event is written with its verification's app
-- (`app_id`, 0015), which never changes, so the trigger reads it from the event itself.
CREATE OR REPLACE FUNCTION otpgate_events_to_webhooks() RETURNS trigger AS $$
BEGIN
    INSERT INTO webhook_message (webhook_id, event_id, next_attempt_at, created_at, updated_at)
    SELECT w.webhook_id, n.event_id, n.created_at, n.created_at, n.created_at
    FROM new_events n
    JOIN app_webhook w ON w.app_id = n.app_id
    WHERE position(',' || n.kind || ',' in w.kinds) > 0
    ORDER BY n.event_id, w.webhook_id;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
