//! Apps: the integrators' namespaces, names, settings and secret hashes.

use super::StoreError;
use crate::gateway::settings::AppSettings;
use async_trait::async_trait;

/// An app as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppRecord {
    pub app_id: i64,
    pub namespace: String,
    pub name: String,
    /// Whether the otpgateway API may return the code (compatibility echo).
    pub echo_code: bool,
    /// Exact URLs a verification of this app may redirect to.
    pub redirect_urls: Vec<String>,
    /// The tenant that sees it in the dashboard; `None` for apps of the command line and
    /// config apps that name no tenant.
    pub tenant_id: Option<i64>,
    /// Its defaults, limits and hosted pages' look.
    pub settings: AppSettings,
    /// Declared in the config file: the dashboard shows it and changes nothing.
    pub declared: bool,
}

/// An API secret as the dashboard lists it: never its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRecord {
    pub secret_id: i64,
    pub label: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    /// When a rotated-out secret stops working; `None` until revoked.
    pub expires_at: Option<i64>,
}

/// A secret that can authenticate now: its id (to note its use) and argon2id hash, and
/// when it stops working.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveSecret {
    pub secret_id: i64,
    pub hash: String,
    pub expires_at: Option<i64>,
}

/// The apps an engine authenticates and shows.
#[async_trait]
pub trait AppStore: Send + Sync {
    async fn find_app(&self, namespace: &str) -> Result<Option<AppRecord>, StoreError>;
    /// [`find_app`](Store::find_app) for what pages show, from memory when held (re-read
    /// after a few seconds, and at once after an app changes here).
    async fn find_app_viewed(&self, namespace: &str) -> Result<Option<AppRecord>, StoreError>;
    /// The app's secrets that work at `now`, newest first.
    async fn active_secrets(&self, app_id: i64, now: i64) -> Result<Vec<ActiveSecret>, StoreError>;
    /// All of an app's secrets, newest first, without their hashes.
    async fn app_secrets(&self, app_id: i64) -> Result<Vec<SecretRecord>, StoreError>;
    /// Adds a secret; its id.
    async fn add_app_secret(
        &self,
        app_id: i64,
        label: &str,
        secret_hash: &str,
        now: i64,
    ) -> Result<i64, StoreError>;
    /// Deletes one of the app's secrets; false when it has no such secret.
    async fn revoke_app_secret(&self, app_id: i64, secret_id: i64) -> Result<bool, StoreError>;
    /// Makes one of the app's secrets stop working at `at` (rotation); false when it has no
    /// such secret.
    async fn expire_app_secret(
        &self,
        app_id: i64,
        secret_id: i64,
        at: i64,
    ) -> Result<bool, StoreError>;
    /// Notes that a secret authenticated a request.
    async fn secret_used(&self, secret_id: i64, now: i64) -> Result<(), StoreError>;
    /// Creates an app with one secret, managed by `tenant_id` when given; `Conflict` when
    /// the namespace is taken.
    async fn create_app(
        &self,
        namespace: &str,
        name: &str,
        tenant_id: Option<i64>,
        secret_hash: &str,
        now: i64,
    ) -> Result<AppRecord, StoreError>;
    /// Renames an app.
    async fn rename_app(&self, app_id: i64, name: &str, now: i64) -> Result<(), StoreError>;
    /// Deletes an app with its secrets, verifications, their messages and events.
    async fn delete_app(&self, app_id: i64) -> Result<(), StoreError>;
    /// The apps a tenant manages, by namespace.
    async fn tenant_apps(&self, tenant_id: i64) -> Result<Vec<AppRecord>, StoreError>;
    /// Stores `app`'s display name, code echo, redirect allow-list, settings, tenant and
    /// whether the config file declares it; `Dangling` when no such tenant exists.
    async fn update_app(&self, app: &AppRecord, now: i64) -> Result<(), StoreError>;
    /// Replaces all of an app's secrets with one.
    async fn replace_app_secret(
        &self,
        app_id: i64,
        secret_hash: &str,
        now: i64,
    ) -> Result<(), StoreError>;
}
