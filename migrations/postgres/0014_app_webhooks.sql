-- Integrator event webhooks: endpoints an app's tenant adds (a URL, the events it wants,
-- its Standard Webhooks secret sealed like provider secrets), and one message per event
-- and endpoint, queued by a trigger in the transaction that recorded the event, so no
-- event is lost or queued twice. Messages are leased and retried like `delivery` rows.
CREATE TABLE app_webhook (
    webhook_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    app_id     BIGINT NOT NULL REFERENCES app (app_id) ON DELETE CASCADE,
    url        TEXT   NOT NULL,
    -- The events asked for, ',verified,sent,'; and the event kinds that feed them.
    events     TEXT   NOT NULL,
    kinds      TEXT   NOT NULL,
    sealed     BYTEA  NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX app_webhook_app ON app_webhook (app_id);

CREATE TABLE webhook_message (
    message_id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id      BIGINT NOT NULL REFERENCES app_webhook (webhook_id) ON DELETE CASCADE,
    event_id        BIGINT NOT NULL,
    -- pending, delivered, dead, or skipped (an event of a kind the endpoint did not ask for)
    status          TEXT   NOT NULL DEFAULT 'pending',
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_owner     TEXT,
    lease_until     BIGINT,
    -- Fixed at the first attempt: retries and replays send the same body.
    event_type      TEXT,
    payload         TEXT,
    last_status     BIGINT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX webhook_message_due ON webhook_message (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_message_log ON webhook_message (webhook_id, message_id);

CREATE FUNCTION otpgate_event_to_webhooks() RETURNS trigger AS $$
BEGIN
    INSERT INTO webhook_message (webhook_id, event_id, next_attempt_at, created_at, updated_at)
    SELECT w.webhook_id, NEW.event_id, NEW.created_at, NEW.created_at, NEW.created_at
    FROM verification v JOIN app_webhook w ON w.app_id = v.app_id
    WHERE v.verification_id = NEW.verification_id
      AND position(',' || NEW.kind || ',' in w.kinds) > 0;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER event_to_webhooks AFTER INSERT ON event
    FOR EACH ROW EXECUTE FUNCTION otpgate_event_to_webhooks();
