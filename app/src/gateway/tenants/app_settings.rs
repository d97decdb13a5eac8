//! An app's settings as its tenant changes them in the dashboard: checked against the
//! engine's bounds and the configured providers, stored with the app, and audited with
//! the keys that changed.

use crate::gateway::{
    error::EngineError,
    handle::Gateway,
    settings::{check_redirect_urls, AppSettings, SettingError},
    store::AppRecord,
    tenants::Session,
};

impl Gateway {
    /// Replaces the settings and redirect allow-list of one of the tenant's apps (owners
    /// and developers). Nothing changes when any value is refused.
    pub async fn set_app_settings(
        &self,
        session: &Session,
        namespace: &str,
        settings: AppSettings,
        redirect_urls: Vec<String>,
        ip: &str,
    ) -> Result<AppRecord, EngineError> {
        let app = self.managed_app(session, namespace).await?;
        let refused = |e: SettingError| EngineError::invalid(e.key, e.reason);
        settings.check().map_err(refused)?;
        check_redirect_urls(&redirect_urls).map_err(refused)?;
        let known = self.provider_ids(&app).await?;
        if let Some((key, unknown)) = settings
            .named_providers()
            .find(|(_, p)| !known.iter().any(|k| k == p))
        {
            return Err(EngineError::invalid(
                key,
                format!("{unknown:?} is not one of this app's providers"),
            ));
        }
        let changed = changed_keys(&app, &settings, &redirect_urls);
        let app = AppRecord {
            settings,
            redirect_urls,
            ..app
        };
        self.store().update_app(&app, self.now_ms()).await?;
        self.inner.auth.forget(&app.namespace);
        let detail = serde_json::json!({"namespace": app.namespace, "changed": changed});
        self.audit_by(session, "app_settings_changed", detail, ip)
            .await?;
        Ok(app)
    }
}

/// The settings' keys whose values differ, in the order they are stored.
fn changed_keys(app: &AppRecord, settings: &AppSettings, redirect_urls: &[String]) -> Vec<String> {
    let flat = |s: &AppSettings| {
        let mut map = match serde_json::to_value(s) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        };
        if let Some(serde_json::Value::Object(pages)) = map.remove("pages") {
            map.extend(pages);
        }
        map
    };
    let (before, after) = (flat(&app.settings), flat(settings));
    let mut changed: Vec<String> = after
        .iter()
        .filter(|(key, value)| before.get(*key) != Some(*value))
        .map(|(key, _)| key.clone())
        .collect();
    if app.redirect_urls != redirect_urls {
        changed.push("redirect_urls".into());
    }
    changed
}
