//! An app's dev inbox as its tenant reads it: the messages its test mode and test
//! addresses kept instead of sending.

use crate::gateway::{
    error::EngineError,
    handle::Gateway,
    store::{AppRecord, DevMessage},
    tenants::Session,
};

impl Gateway {
    /// One of the tenant's apps and its dev inbox, newest first (every member).
    pub async fn dev_inbox(
        &self,
        session: &Session,
        namespace: &str,
    ) -> Result<(AppRecord, Vec<DevMessage>), EngineError> {
        let app = self.tenant_app(session, namespace).await?;
        let messages = self.store().dev_messages(app.app_id).await?;
        Ok((app, messages))
    }
}
