//! Authenticator-app (TOTP) factors: a secret enrolled for one of an app's users.

use super::StoreError;
use async_trait::async_trait;

/// A factor as stored. `sealed` is its secret, sealed for `(app_id, public_id)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactorRecord {
    pub factor_id: i64,
    pub app_id: i64,
    pub public_id: String,
    pub user_id: String,
    pub label: String,
    pub sealed: Vec<u8>,
    pub algorithm: String,
    pub digits: u32,
    pub period: u32,
    /// `pending` until its first code is accepted, then `active`.
    pub status: String,
    /// The last time step a code was accepted for.
    pub last_step: Option<i64>,
    pub created_at: i64,
    pub activated_at: Option<i64>,
}

/// A factor to enrol.
#[derive(Debug, Clone)]
pub struct NewFactor {
    pub app_id: i64,
    pub public_id: String,
    pub user_id: String,
    pub label: String,
    pub sealed: Vec<u8>,
    pub algorithm: String,
    pub digits: u32,
    pub period: u32,
    pub now: i64,
}

#[async_trait]
pub trait FactorStore: Send + Sync {
    /// Stores a pending factor; `Conflict` when the app has one by that id.
    async fn insert_factor(&self, factor: &NewFactor) -> Result<FactorRecord, StoreError>;

    async fn find_factor(
        &self,
        app_id: i64,
        public_id: &str,
    ) -> Result<Option<FactorRecord>, StoreError>;

    /// The app's factors, of one user when `user_id` is given, oldest first, at most
    /// `limit`.
    async fn list_factors(
        &self,
        app_id: i64,
        user_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<FactorRecord>, StoreError>;

    /// Whether a factor by that id was there to delete.
    async fn delete_factor(&self, app_id: i64, public_id: &str) -> Result<bool, StoreError>;

    /// Records `step` as the factor's last accepted step, in one conditional statement:
    /// `false` when a step as late or later was accepted already (a replay, or a
    /// parallel check of the same code that got there first), or the factor is gone.
    async fn accept_step(&self, factor_id: i64, step: i64) -> Result<bool, StoreError>;

    /// Makes a pending factor active; `false` when it was not pending.
    async fn activate_factor(&self, factor_id: i64, now: i64) -> Result<bool, StoreError>;
}

/// A dashboard member's own factor (two-factor sign-in). `sealed` is its secret, sealed
/// for the member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberFactor {
    pub member_id: i64,
    pub sealed: Vec<u8>,
    /// `pending` until its first code is accepted, then `active`.
    pub status: String,
    pub last_step: Option<i64>,
}

#[async_trait]
pub trait MemberFactorStore: Send + Sync {
    async fn member_factor(&self, member_id: i64) -> Result<Option<MemberFactor>, StoreError>;

    /// Starts an enrolment: a pending factor with this secret, replacing a pending one;
    /// `false` (nothing written) when the member has an active factor.
    async fn put_member_factor(
        &self,
        member_id: i64,
        sealed: &[u8],
        now: i64,
    ) -> Result<bool, StoreError>;

    /// Records `step` as accepted, in one conditional statement (see
    /// [`FactorStore::accept_step`]); with `activate`, a pending factor becomes active and
    /// `recovery` (the codes' hashes) replaces its recovery codes, in the same transaction.
    async fn accept_member_step(
        &self,
        member_id: i64,
        step: i64,
        activate: Option<(&[Vec<u8>], i64)>,
    ) -> Result<bool, StoreError>;

    /// Spends an unused recovery code: `false` when there is none by that hash.
    async fn use_recovery_code(
        &self,
        member_id: i64,
        code_hash: &[u8],
        now: i64,
    ) -> Result<bool, StoreError>;

    /// Unused recovery codes left.
    async fn recovery_codes_left(&self, member_id: i64) -> Result<u32, StoreError>;

    /// Removes the member's factor and recovery codes.
    async fn delete_member_factor(&self, member_id: i64) -> Result<(), StoreError>;

    /// A member by id (the second step of a sign-in names one).
    async fn member_by_id(&self, member_id: i64)
        -> Result<Option<super::MemberRecord>, StoreError>;

    async fn requires_two_factor(&self, tenant_id: i64) -> Result<bool, StoreError>;

    async fn set_requires_two_factor(&self, tenant_id: i64, on: bool) -> Result<(), StoreError>;
}
