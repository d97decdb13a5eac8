-- The dev inbox: messages of apps in test mode, and to their test addresses, kept here
-- instead of being sent (the newest 200 of each app).
CREATE TABLE dev_message (
    dev_message_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    app_id         BIGINT NOT NULL REFERENCES app (app_id) ON DELETE CASCADE,
    public_id      TEXT   NOT NULL,
    provider       TEXT   NOT NULL,
    channel        TEXT   NOT NULL,
    address        TEXT   NOT NULL,
    subject        TEXT   NOT NULL,
    body           TEXT   NOT NULL,
    created_at     BIGINT NOT NULL
);
CREATE INDEX dev_message_app ON dev_message (app_id, dev_message_id);
