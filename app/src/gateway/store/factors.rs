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
