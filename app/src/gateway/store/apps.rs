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
    /// Changes with every write to the app's own providers (see [`AppProvider`]), so a
    /// cache of built providers knows when it is stale.
    pub providers_rev: i64,
}

/// A provider a tenant added to one app, as stored: its settings that are not secret, and
/// the secret ones sealed (see [`CodeHasher::seal_for`](crate::gateway::code::CodeHasher::seal_for)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppProvider {
    pub app_id: i64,
    /// The id integrators pass as `provider`.
    pub provider_id: String,
    /// `smtp`, `twilio`, `http_sms`, `kaleyra`, `webhook` or `console`.
    pub kind: String,
    /// Field name to value, secrets left out.
    pub fields: std::collections::BTreeMap<String, String>,
    /// The secret fields as sealed JSON: never shown, never logged.
    pub sealed: Vec<u8>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An app's own wording of its messages on one channel, for one language (`""`: any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppTemplate {
    pub app_id: i64,
    pub channel: String,
    pub locale: String,
    pub subject: String,
    pub body: String,
    pub html: Option<String>,
    pub updated_at: i64,
}

/// The template an outgoing message uses among an app's own: its exact language, then the
/// language without region, then the one for every language.
pub fn pick_template<'a>(
    templates: &'a [AppTemplate],
    channel: &str,
    locale: &str,
) -> Option<&'a AppTemplate> {
    let language = locale.split(['-', '_']).next().unwrap_or_default();
    let wants = [locale, language, ""];
    let found = wants.iter().find_map(|want| {
        templates
            .iter()
            .find(|t| t.channel == channel && t.locale.eq_ignore_ascii_case(want))
    });
    found
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
    /// An app's templates, by channel and language.
    async fn app_templates(&self, app_id: i64) -> Result<Vec<AppTemplate>, StoreError>;
    /// Adds or replaces the app's template for its channel and language.
    async fn put_app_template(&self, template: &AppTemplate) -> Result<(), StoreError>;
    /// Removes one; false when there was none.
    async fn delete_app_template(
        &self,
        app_id: i64,
        channel: &str,
        locale: &str,
    ) -> Result<bool, StoreError>;
    /// An app's own providers, by id.
    async fn app_providers(&self, app_id: i64) -> Result<Vec<AppProvider>, StoreError>;
    /// Adds or replaces one of the app's providers (keeping its creation time) and moves
    /// the app's `providers_rev` on, in one transaction.
    async fn put_app_provider(&self, provider: &AppProvider) -> Result<(), StoreError>;
    /// Removes one and moves `providers_rev` on; false when there was none.
    async fn delete_app_provider(&self, app_id: i64, provider_id: &str)
        -> Result<bool, StoreError>;
    /// Replaces all of an app's secrets with one.
    async fn replace_app_secret(
        &self,
        app_id: i64,
        secret_hash: &str,
        now: i64,
    ) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(channel: &str, locale: &str) -> AppTemplate {
        AppTemplate {
            app_id: 1,
            channel: channel.into(),
            locale: locale.into(),
            subject: String::new(),
            body: format!("{channel}/{locale}"),
            html: None,
            updated_at: 0,
        }
    }

    #[test]
    fn the_closest_language_on_the_channel_wins() {
        let all = [
            template("sms", ""),
            template("sms", "de"),
            template("sms", "pt-br"),
            template("email", "fr"),
        ];
        let pick = |c, l| pick_template(&all, c, l).map(|t| t.body.as_str());
        assert_eq!(pick("sms", "pt-BR"), Some("sms/pt-br"));
        assert_eq!(pick("sms", "de-AT"), Some("sms/de"));
        assert_eq!(pick("sms", "fr"), Some("sms/"));
        assert_eq!(pick("sms", ""), Some("sms/"));
        assert_eq!(pick("email", "de"), None);
        assert_eq!(pick("email", "fr-CA"), Some("email/fr"));
    }
}
