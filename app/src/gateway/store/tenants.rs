//! Tenants: the organisations that manage apps in the dashboard, their members, the
//! members' sessions and the audit log.

use super::StoreError;
use async_trait::async_trait;

/// What a member may do: owners everything, developers manage apps (their keys,
/// providers and templates), viewers only read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Owner,
    Developer,
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Developer => "developer",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "owner" => Some(Role::Owner),
            "developer" => Some(Role::Developer),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }

    /// Whether the role may create and change apps.
    pub fn manages_apps(self) -> bool {
        matches!(self, Role::Owner | Role::Developer)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRecord {
    pub tenant_id: i64,
    pub name: String,
}

/// A member as stored; `password_hash` is an argon2id PHC string.
#[derive(Clone, PartialEq, Eq)]
pub struct MemberRecord {
    pub member_id: i64,
    pub tenant_id: i64,
    pub email: String,
    pub role: Role,
    pub password_hash: String,
}

crate::debug_showing!(MemberRecord {
    member_id,
    tenant_id,
    email,
    role
});

/// A signed-in browser's session, found by the SHA-256 of its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub member: MemberRecord,
    pub tenant: TenantRecord,
    pub created_at: i64,
    pub last_seen_at: i64,
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub audit_id: i64,
    /// Who did it, when someone was signed in.
    pub actor: Option<String>,
    pub action: String,
    /// JSON: what changed (never a secret).
    pub detail: String,
    pub ip: String,
    pub created_at: i64,
}

/// An open invitation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteRecord {
    pub tenant_id: i64,
    pub email: String,
    pub role: Role,
}

/// An audit entry to append.
#[derive(Debug, Clone)]
pub struct NewAudit<'a> {
    pub tenant_id: i64,
    pub member_id: Option<i64>,
    pub action: &'a str,
    pub detail: String,
    pub ip: &'a str,
    pub now: i64,
}

/// Which audit lines to read.
#[derive(Debug, Clone, Copy, Default)]
pub struct AuditFilter<'a> {
    /// An action, or empty for all.
    pub action: &'a str,
    /// A member's e-mail address, or empty for all.
    pub actor: &'a str,
    /// Only lines older than this one.
    pub before: Option<i64>,
}

#[async_trait]
pub trait TenantStore: Send + Sync {
    /// Creates a tenant and its first member, an owner; `Conflict` when the e-mail address
    /// already belongs to a member.
    async fn create_tenant(
        &self,
        name: &str,
        email: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<(TenantRecord, MemberRecord), StoreError>;
    /// Adds a member to a tenant; `Conflict` when the e-mail address is taken.
    async fn add_member(
        &self,
        tenant_id: i64,
        email: &str,
        role: Role,
        password_hash: &str,
        now: i64,
    ) -> Result<MemberRecord, StoreError>;
    async fn find_member(&self, email: &str) -> Result<Option<MemberRecord>, StoreError>;
    /// The tenant's members, by e-mail address.
    /// Gives a member of the tenant another role; false when there is no such member or
    /// it would leave the tenant without an owner.
    async fn set_member_role(
        &self,
        tenant_id: i64,
        member_id: i64,
        role: Role,
    ) -> Result<bool, StoreError>;
    /// Removes a member of the tenant with their sessions; false when there is no such
    /// member or they are its only owner.
    async fn remove_member(&self, tenant_id: i64, member_id: i64) -> Result<bool, StoreError>;
    async fn tenant_members(&self, tenant_id: i64) -> Result<Vec<MemberRecord>, StoreError>;
    /// Stores an invitation by the SHA-256 of its token.
    async fn insert_invite(
        &self,
        token_hash: &[u8],
        tenant_id: i64,
        email: &str,
        role: Role,
        expires_at: i64,
    ) -> Result<(), StoreError>;
    /// An invitation that is unused and unexpired at `now`.
    async fn find_invite(
        &self,
        token_hash: &[u8],
        now: i64,
    ) -> Result<Option<InviteRecord>, StoreError>;
    /// Uses an open invitation and makes its member, in one transaction; `None` when the
    /// invitation is unknown, used or expired; `Conflict` when the address became a member.
    async fn accept_invite(
        &self,
        token_hash: &[u8],
        password_hash: &str,
        now: i64,
    ) -> Result<Option<MemberRecord>, StoreError>;
    async fn insert_session(
        &self,
        token_hash: &[u8],
        member_id: i64,
        now: i64,
    ) -> Result<(), StoreError>;
    async fn find_session(&self, token_hash: &[u8]) -> Result<Option<SessionRecord>, StoreError>;
    async fn touch_session(&self, token_hash: &[u8], now: i64) -> Result<(), StoreError>;
    /// Ends a session; false when there was none.
    async fn delete_session(&self, token_hash: &[u8]) -> Result<bool, StoreError>;
    async fn append_audit(&self, entry: &NewAudit<'_>) -> Result<(), StoreError>;
    /// A tenant's audit log, newest first, from before line `before` when given; only
    /// `action`'s lines when it is not empty, only `actor`'s (an e-mail address) when that
    /// is not empty.
    async fn audit_log(
        &self,
        tenant_id: i64,
        filter: &AuditFilter<'_>,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError>;
}
