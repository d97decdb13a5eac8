-- Two-factor sign-in to the dashboard: a member's authenticator-app secret (sealed, bound
-- to the member), the last time step accepted for it, and the one-time recovery codes
-- shown once at enrolment (only their SHA-256 is kept). An owner can require it for the
-- whole tenant.
CREATE TABLE member_factor (
    member_id    BIGINT PRIMARY KEY REFERENCES member (member_id) ON DELETE CASCADE,
    sealed       BYTEA  NOT NULL,
    status       TEXT   NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'active')),
    last_step    BIGINT,
    created_at   BIGINT NOT NULL,
    activated_at BIGINT
);
CREATE TABLE member_recovery (
    member_id BIGINT NOT NULL REFERENCES member (member_id) ON DELETE CASCADE,
    code_hash BYTEA  NOT NULL,
    used_at   BIGINT,
    PRIMARY KEY (member_id, code_hash)
);
ALTER TABLE tenant ADD COLUMN require_two_factor BOOLEAN NOT NULL DEFAULT false;
