-- Authenticator-app (TOTP) factors: one secret per factor, enrolled for one of an app's
-- users. The secret is sealed with the data folder's keys, bound to its row; `last_step`
-- is the last time step a code was accepted for, and no step is accepted twice.
CREATE TABLE factor (
    factor_id    BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    app_id       BIGINT NOT NULL REFERENCES app (app_id) ON DELETE CASCADE,
    public_id    TEXT   NOT NULL,
    user_id      TEXT   NOT NULL,
    label        TEXT   NOT NULL,
    sealed       BYTEA  NOT NULL,
    algorithm    TEXT   NOT NULL,
    digits       BIGINT NOT NULL,
    period       BIGINT NOT NULL,
    status       TEXT   NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'active')),
    last_step    BIGINT,
    created_at   BIGINT NOT NULL,
    activated_at BIGINT
);
CREATE UNIQUE INDEX factor_public ON factor (app_id, public_id);
CREATE INDEX factor_user ON factor (app_id, user_id, factor_id);
