-- An app's own message wording, per channel and language ('' for every language), used
-- instead of its providers' templates. Checked when saved.
CREATE TABLE app_template (
    app_id     BIGINT  NOT NULL REFERENCES app (app_id) ON DELETE CASCADE,
    channel    TEXT    NOT NULL,
    locale     TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    body       TEXT    NOT NULL,
    html       TEXT,
    updated_at BIGINT  NOT NULL,
    PRIMARY KEY (app_id, channel, locale)
);
