//! Which provider an id names for one app: the app's own providers (added in the
//! dashboard, stored with their secrets sealed) before the server's (the config file).
//!
//! Built providers are cached per app and rebuilt when the app's `providers_rev` moves
//! on, which every write to its providers does in the same transaction; each request and
//! each outbox claim carries the revision it read, so every instance sees a change on its
//! next use, with no extra query while nothing changes.

use crate::gateway::{
    code::CodeHasher,
    delivery::{
        catalogue::{self, FieldError, ProviderKit},
        Provider, Providers,
    },
    revisions::ByRevision,
    store::{AppProvider, Store, StoreError},
};
use std::{collections::BTreeMap, sync::Arc};

/// What a stored provider's secrets are sealed for (see [`CodeHasher::seal_for`]).
const SEAL_PURPOSE: &str = "app_provider";

/// One app's own providers, by id.
pub type OwnProviders = Arc<BTreeMap<String, Arc<dyn Provider>>>;

/// The providers every app can use, and each app's own.
pub struct ProviderBook {
    server: Providers,
    kit: ProviderKit,
    store: Arc<dyn Store>,
    hasher: CodeHasher,
    /// Each app's own providers, by revision.
    built: ByRevision<BTreeMap<String, Arc<dyn Provider>>>,
}

impl ProviderBook {
    pub fn new(server: Providers, store: Arc<dyn Store>, hasher: CodeHasher) -> Self {
        Self {
            kit: server.kit().clone(),
            server,
            store,
            hasher,
            built: ByRevision::default(),
        }
    }

    /// The server's providers.
    pub fn server(&self) -> &Providers {
        &self.server
    }

    /// The app's own providers as of revision `rev`, built once per revision.
    pub async fn own(&self, app_id: i64, rev: i64) -> Result<OwnProviders, StoreError> {
        self.built
            .get_or_build(app_id, rev, || async {
                let mut own = BTreeMap::new();
                for row in self.store.app_providers(app_id).await? {
                    match self.build(&row) {
                        Ok(p) => {
                            own.insert(row.provider_id.clone(), p);
                        }
                        // Saved providers were built once before; one that no longer builds
                        // (its key removed, the network policy narrowed) is left out, loudly.
                        Err(e) => tracing::error!(
                            app = app_id,
                            provider = %row.provider_id,
                            field = e.field,
                            reason = %e.reason,
                            "a stored provider cannot be built; it is skipped"
                        ),
                    }
                }
                Ok(own)
            })
            .await
    }

    /// The provider `id` for the app: its own first, then the server's.
    pub async fn find(
        &self,
        app_id: i64,
        rev: i64,
        id: &str,
    ) -> Result<Option<Arc<dyn Provider>>, StoreError> {
        let own = self.own(app_id, rev).await?;
        Ok(own.get(id).or_else(|| self.server.get(id)).cloned())
    }

    /// Builds a stored provider.
    pub fn build(&self, row: &AppProvider) -> Result<Arc<dyn Provider>, FieldError> {
        let secrets = self.open(row).ok_or_else(|| FieldError {
            field: "password",
            reason: "its secrets cannot be opened with this server's keys".into(),
        })?;
        let receipts = Some(self.receipts_url(row.app_id, &row.provider_id));
        catalogue::build(
            &row.provider_id,
            &row.kind,
            &row.fields,
            &secrets,
            &self.kit,
            receipts.filter(|_| !self.kit.root_url.is_empty()),
        )
    }

    /// Where one app's own provider posts its delivery receipts.
    pub fn receipts_url(&self, app_id: i64, provider_id: &str) -> String {
        format!(
            "{}/v1/apps/{app_id}/providers/{provider_id}/status",
            self.kit.root_url
        )
    }

    /// Builds a provider from values not stored yet (to check them before saving).
    pub fn build_draft(
        &self,
        id: &str,
        kind: &str,
        fields: &BTreeMap<String, String>,
        secrets: &BTreeMap<String, String>,
    ) -> Result<Arc<dyn Provider>, FieldError> {
        catalogue::build(id, kind, fields, secrets, &self.kit, None)
    }

    /// The secret fields sealed for one app's provider: only that row opens them.
    pub fn seal(
        &self,
        app_id: i64,
        provider_id: &str,
        secrets: &BTreeMap<String, String>,
    ) -> Vec<u8> {
        let plain = serde_json::to_vec(secrets).expect("strings serialise");
        self.hasher
            .seal_for(SEAL_PURPOSE, &binding(app_id, provider_id), &plain)
    }

    /// A stored provider's secret fields; `None` when they do not open.
    pub fn open(&self, row: &AppProvider) -> Option<BTreeMap<String, String>> {
        let plain = self.hasher.open_for(
            SEAL_PURPOSE,
            &binding(row.app_id, &row.provider_id),
            &row.sealed,
        )?;
        serde_json::from_slice(&plain).ok()
    }
}

/// The associated data that ties sealed secrets to their row.
fn binding(app_id: i64, provider_id: &str) -> String {
    format!("{app_id}:{provider_id}")
}
