//! An app's API secrets as its tenant manages them: several at once, each with a label and
//! its last use; a new one is shown once; revoking stops it at once; rotating makes a new
//! one and lets the old one work for an overlap period. Only hashes are stored.

use super::Session;
use crate::gateway::{
    apps::hash_off_executor,
    error::EngineError,
    handle::Gateway,
    secret::ApiSecret,
    store::{AppRecord, SecretRecord},
};

/// The longest overlap a rotation may give the old secret.
pub const MAX_OVERLAP_SECS: i64 = 30 * 24 * 60 * 60;

fn label(raw: &str) -> Result<String, EngineError> {
    let label = raw.trim();
    if label.chars().count() > 64 || label.chars().any(char::is_control) {
        return Err(EngineError::invalid(
            "label",
            "must be at most 64 printable characters",
        ));
    }
    Ok(label.to_owned())
}

impl Gateway {
    /// One of the tenant's apps and its secrets (never their hashes), newest first.
    pub async fn tenant_app_secrets(
        &self,
        session: &Session,
        namespace: &str,
    ) -> Result<(AppRecord, Vec<SecretRecord>), EngineError> {
        let app = self.tenant_app(session, namespace).await?;
        let secrets = self.store().app_secrets(app.app_id).await?;
        Ok((app, secrets))
    }

    /// Adds a secret to one of the tenant's apps; returned once.
    pub async fn add_app_secret(
        &self,
        session: &Session,
        namespace: &str,
        label_text: &str,
        ip: &str,
    ) -> Result<ApiSecret, EngineError> {
        let app = self.managed_app(session, namespace).await?;
        let label = label(label_text)?;
        let secret = ApiSecret::generate();
        let hash = hash_off_executor(&secret).await;
        let secret_id = self
            .store()
            .add_app_secret(app.app_id, &label, &hash, self.now_ms())
            .await?;
        let detail =
            serde_json::json!({"namespace": app.namespace, "secret": secret_id, "label": label});
        self.audit_by(session, "secret_created", detail, ip).await?;
        Ok(secret)
    }

    /// Revokes a secret: the next request with it is refused.
    pub async fn revoke_app_secret(
        &self,
        session: &Session,
        namespace: &str,
        secret_id: i64,
        ip: &str,
    ) -> Result<(), EngineError> {
        let app = self.managed_app(session, namespace).await?;
        if !self
            .store()
            .revoke_app_secret(app.app_id, secret_id)
            .await?
        {
            return Err(EngineError::NotFound);
        }
        self.inner.auth.forget(&app.namespace);
        let detail = serde_json::json!({"namespace": app.namespace, "secret": secret_id});
        self.audit_by(session, "secret_revoked", detail, ip).await
    }

    /// Rotates a secret: a new one with the same label (returned once), and the old one
    /// working for `overlap_secs` more.
    pub async fn rotate_app_secret(
        &self,
        session: &Session,
        namespace: &str,
        secret_id: i64,
        overlap_secs: i64,
        ip: &str,
    ) -> Result<ApiSecret, EngineError> {
        let app = self.managed_app(session, namespace).await?;
        if !(0..=MAX_OVERLAP_SECS).contains(&overlap_secs) {
            return Err(EngineError::invalid("overlap", "must be at most 30 days"));
        }
        let old = self
            .store()
            .app_secrets(app.app_id)
            .await?
            .into_iter()
            .find(|s| s.secret_id == secret_id)
            .ok_or(EngineError::NotFound)?;
        let secret = ApiSecret::generate();
        let hash = hash_off_executor(&secret).await;
        let now = self.now_ms();
        let store = self.store();
        let new_id = store
            .add_app_secret(app.app_id, &old.label, &hash, now)
            .await?;
        store
            .expire_app_secret(app.app_id, secret_id, now + overlap_secs * 1000)
            .await?;
        self.inner.auth.forget(&app.namespace);
        let detail = serde_json::json!({
            "namespace": app.namespace, "secret": secret_id, "new_secret": new_id,
            "overlap_secs": overlap_secs,
        });
        self.audit_by(session, "secret_rotated", detail, ip).await?;
        Ok(secret)
    }
}
