//! An app's authenticator-app factors as its tenant sees them: who enrolled, when, and
//! whether they are active; never their secrets.

use crate::gateway::{
    error::EngineError,
    factors::MAX_LISTED,
    handle::Gateway,
    store::{AppRecord, FactorRecord},
    tenants::Session,
};

impl Gateway {
    /// One of the tenant's apps and its factors, oldest first (every member).
    pub async fn app_factors(
        &self,
        session: &Session,
        namespace: &str,
    ) -> Result<(AppRecord, Vec<FactorRecord>), EngineError> {
        let app = self.tenant_app(session, namespace).await?;
        let factors = self
            .store()
            .list_factors(app.app_id, None, MAX_LISTED)
            .await?;
        Ok((app, factors))
    }
}
