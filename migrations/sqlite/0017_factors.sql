-- Authenticator-app (TOTP) factors: one secret per factor, enrolled for one of an app's
-- users. The secret is sealed with the data folder's keys, bound to its row; `last_step`
-- is the last time step a code was accepted for, and no step is accepted twice.
CREATE TABLE factor (
    factor_id    INTEGER PRIMARY KEY,
    app_id       INTEGER NOT NULL REFERENCES app (app_id) ON DELETE CASCADE,
    public_id    TEXT    NOT NULL,
    user_id      TEXT    NOT NULL,
    label        TEXT    NOT NULL,
    sealed       BLOB    NOT NULL,
    algorithm    TEXT    NOT NULL,
    digits       INTEGER NOT NULL,
    period       INTEGER NOT NULL,
    status       TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'active')),
    last_step    INTEGER,
    created_at   INTEGER NOT NULL,
    activated_at INTEGER
);
CREATE UNIQUE INDEX factor_public ON factor (app_id, public_id);
CREATE INDEX factor_user ON factor (app_id, user_id, factor_id);
