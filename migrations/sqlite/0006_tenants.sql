-- Tenants: the organisations that manage apps in the dashboard, their members, the
-- members' sessions and the audit log of what they did.

CREATE TABLE tenant (
    tenant_id   INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);

-- A person who signs in to the dashboard; one tenant each. `role` is owner, developer or
-- viewer. The password is kept only as an argon2id PHC string.
CREATE TABLE member (
    member_id     INTEGER PRIMARY KEY,
    tenant_id     INTEGER NOT NULL REFERENCES tenant (tenant_id) ON DELETE CASCADE,
    email         TEXT    NOT NULL UNIQUE,
    role          TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE INDEX member_tenant ON member (tenant_id);

-- A signed-in browser. Only the SHA-256 of the cookie's token is kept.
CREATE TABLE member_session (
    token_hash   BLOB    PRIMARY KEY,
    member_id    INTEGER NOT NULL REFERENCES member (member_id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL
);
CREATE INDEX member_session_member ON member_session (member_id);

-- Append-only: every tenant action, with who, when, from where and what changed (never a
-- secret). `member_id` is NULL when nobody was signed in (a failed sign-in names the
-- account in `detail`).
CREATE TABLE audit (
    audit_id    INTEGER PRIMARY KEY,
    tenant_id   INTEGER NOT NULL REFERENCES tenant (tenant_id) ON DELETE CASCADE,
    member_id   INTEGER REFERENCES member (member_id) ON DELETE SET NULL,
    action      TEXT    NOT NULL,
    detail      TEXT    NOT NULL,
    ip          TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX audit_tenant ON audit (tenant_id, audit_id);

-- The tenant an app belongs to; NULL for apps declared in the config file or made with
-- `otpgate app create`, which no tenant manages.
ALTER TABLE app ADD COLUMN tenant_id INTEGER REFERENCES tenant (tenant_id) ON DELETE CASCADE;
CREATE INDEX app_tenant ON app (tenant_id);

-- Several secrets per app: a label, when each was last used, and when a rotated-out one
-- stops working (NULL: until revoked).
ALTER TABLE app_secret ADD COLUMN label TEXT NOT NULL DEFAULT '';
ALTER TABLE app_secret ADD COLUMN last_used_at INTEGER;
ALTER TABLE app_secret ADD COLUMN expires_at INTEGER;

-- An invitation to join a tenant, by the SHA-256 of the link's token; used once, within
-- its time.
CREATE TABLE invite (
    token_hash  BLOB    PRIMARY KEY,
    tenant_id   INTEGER NOT NULL REFERENCES tenant (tenant_id) ON DELETE CASCADE,
    email       TEXT    NOT NULL,
    role        TEXT    NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);
