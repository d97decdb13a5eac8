//! Apps: Basic-auth sign-in of an integrator, creating apps, and making the stored apps
//! match the ones the config file declares.

pub(crate) mod auth;

use crate::gateway::{
    error::EngineError,
    handle::Gateway,
    secret::ApiSecret,
    settings::DeclaredApp,
    store::{AppRecord, StoreError},
};
use crate::model::Namespace;

impl Gateway {
    /// Checks a Basic-auth pair. Unknown namespaces and wrong secrets look the same.
    #[tracing::instrument(skip(self, secret))]
    pub async fn authenticate(
        &self,
        namespace: &str,
        secret: &str,
    ) -> Result<AppRecord, EngineError> {
        self.inner
            .auth
            .authenticate(namespace, secret, self.inner.clock.now_ms())
            .await
    }

    /// Creates an app with `secret` (or a generated one, returned once).
    pub async fn create_app(
        &self,
        namespace: &Namespace,
        name: &str,
        secret: Option<ApiSecret>,
    ) -> Result<(AppRecord, ApiSecret), EngineError> {
        let secret = secret.unwrap_or_else(ApiSecret::generate);
        let hash = hash_off_executor(&secret).await;
        let app = self
            .inner
            .store
            .create_app(
                namespace.as_str(),
                name,
                None,
                &hash,
                self.inner.clock.now_ms(),
            )
            .await?;
        Ok((app, secret))
    }

    /// Makes sure an app declared in the config file exists with exactly this secret.
    pub async fn declare_app(&self, declared: &DeclaredApp) -> Result<AppRecord, EngineError> {
        let (namespace, secret) = (&declared.namespace, &declared.secret);
        let store = &self.inner.store;
        let name = declared
            .name
            .clone()
            .unwrap_or_else(|| namespace.to_string());
        let app = match store.find_app(namespace.as_str()).await? {
            // A tenant made this namespace in the dashboard: the file may not take it over.
            Some(app) if app.tenant_id.is_some() && !app.declared => {
                return Err(EngineError::invalid(
                    "namespace",
                    format!("{namespace} belongs to an app a tenant made in the dashboard"),
                ))
            }
            Some(app) => app,
            None => {
                self.create_app(namespace, &name, Some(secret.clone()))
                    .await?
                    .0
            }
        };
        let named = declared.settings.named_providers();
        for (field, provider) in named {
            if self.providers().get(provider).is_none() {
                return Err(EngineError::invalid(
                    field,
                    format!("provider {provider:?} is not configured"),
                ));
            }
        }
        let app = AppRecord {
            name,
            echo_code: declared.echo_code,
            redirect_urls: declared.redirect_urls.clone(),
            settings: declared.settings.clone(),
            tenant_id: declared.tenant,
            declared: true,
            ..app
        };
        store
            .update_app(&app, self.inner.clock.now_ms())
            .await
            .map_err(|e| match e {
                StoreError::Dangling => EngineError::invalid(
                    "tenant",
                    format!("no tenant has id {}", declared.tenant.unwrap_or_default()),
                ),
                e => e.into(),
            })?;
        self.inner.auth.forget(namespace.as_str());
        let secrets = store.app_secrets(app.app_id).await?;
        let active = store
            .active_secrets(app.app_id, self.inner.clock.now_ms())
            .await?;
        let probe = secret.clone();
        let current = tokio::task::spawn_blocking(move || {
            secrets.len() == 1 && active.len() == 1 && probe.verify(&active[0].hash)
        })
        .await
        .unwrap_or(false);
        if !current {
            let hash = hash_off_executor(secret).await;
            store
                .replace_app_secret(app.app_id, &hash, self.inner.clock.now_ms())
                .await?;
            self.inner.auth.forget(namespace.as_str());
        }
        Ok(app)
    }

    /// The origins that may frame this app's hosted pages; empty for none (and for an
    /// unknown app). Read from memory when held, as pages read their app.
    pub async fn embed_origins(&self, namespace: &str) -> Vec<String> {
        match self.inner.store.find_app_viewed(namespace).await {
            Ok(Some(app)) => app.settings.pages.embed_origins,
            Ok(None) => Vec::new(),
            Err(e) => {
                tracing::warn!(error = ?e, "reading an app's embed origins failed");
                Vec::new()
            }
        }
    }
}

pub(crate) async fn hash_off_executor(secret: &ApiSecret) -> String {
    let secret = secret.clone();
    tokio::task::spawn_blocking(move || secret.hash())
        .await
        .expect("argon2 hashing does not panic")
}
