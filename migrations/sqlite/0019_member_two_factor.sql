-- Two-factor sign-in to the dashboard: a member's authenticator-app secret (sealed, bound
-- to the member), the last time step accepted for it, and the one-time recovery codes
-- shown once at enrolment (only their SHA-256 is kept). An owner can require it for the
-- whole tenant.
CREATE TABLE member_factor (
    member_id    INTEGER PRIMARY KEY REFERENCES member (member_id) ON DELETE CASCADE,
    sealed       BLOB    NOT NULL,
    status       TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'active')),
    last_step    INTEGER,
    created_at   INTEGER NOT NULL,
    activated_at INTEGER
);
CREATE TABLE member_recovery (
    member_id INTEGER NOT NULL REFERENCES member (member_id) ON DELETE CASCADE,
    code_hash BLOB    NOT NULL,
    used_at   INTEGER,
    PRIMARY KEY (member_id, code_hash)
);
ALTER TABLE tenant ADD COLUMN require_two_factor INTEGER NOT NULL DEFAULT 0;
