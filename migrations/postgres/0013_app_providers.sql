-- Providers a tenant adds to one app in the dashboard. `fields` holds the settings that
-- are not secret (JSON); `sealed` the secret ones (passwords, tokens, keys) encrypted with
-- ChaCha20-Poly1305 under a key derived from the data folder's keys, bound to the row's
-- app and id. `app.providers_rev` changes with every write here, so each instance knows
-- when its built providers are stale.
CREATE TABLE app_provider (
    app_id      BIGINT  NOT NULL REFERENCES app (app_id) ON DELETE CASCADE,
    provider_id TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    fields      TEXT    NOT NULL,
    sealed      BYTEA   NOT NULL,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    PRIMARY KEY (app_id, provider_id)
);

ALTER TABLE app ADD COLUMN providers_rev BIGINT NOT NULL DEFAULT 0;
