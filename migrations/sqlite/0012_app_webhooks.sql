-- Integrator event webhooks: endpoints an app's tenant adds (a URL, the events it wants,
-- its Standard Webhooks secret sealed like provider secrets), and one message per event
-- and endpoint, queued by a trigger in the transaction that recorded the event, so no
-- event is lost or queued twice. Messages are leased and retried like `delivery` rows.
CREATE TABLE app_webhook (
    webhook_id INTEGER PRIMARY KEY,
    app_id     INTEGER NOT NULL REFERENCES app (app_id) ON DELETE CASCADE,
    url        TEXT    NOT NULL,
    -- The events asked for, ',verified,sent,'; and the event kinds that feed them.
    events     TEXT    NOT NULL,
    kinds      TEXT    NOT NULL,
    sealed     BLOB    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX app_webhook_app ON app_webhook (app_id);

CREATE TABLE webhook_message (
    message_id      INTEGER PRIMARY KEY,
    webhook_id      INTEGER NOT NULL REFERENCES app_webhook (webhook_id) ON DELETE CASCADE,
    event_id        INTEGER NOT NULL,
    -- pending, delivered, dead, or skipped (an event of a kind the endpoint did not ask for)
    status          TEXT    NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_owner     TEXT,
    lease_until     INTEGER,
    -- Fixed at the first attempt: retries and replays send the same body.
    event_type      TEXT,
    payload         TEXT,
    last_status     INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX webhook_message_due ON webhook_message (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_message_log ON webhook_message (webhook_id, message_id);

CREATE TRIGGER event_to_webhooks AFTER INSERT ON event
BEGIN
    INSERT INTO webhook_message (webhook_id, event_id, next_attempt_at, created_at, updated_at)
    SELECT w.webhook_id, NEW.event_id, NEW.created_at, NEW.created_at, NEW.created_at
    FROM verification v JOIN app_webhook w ON w.app_id = v.app_id
    WHERE v.verification_id = NEW.verification_id
      AND instr(w.kinds, ',' || NEW.kind || ',') > 0;
END;
