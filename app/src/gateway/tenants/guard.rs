//! An app's fraud guard as its tenant sees it: spend against the budgets, the detector's
//! holds (an owner lifts them) and the sends refused.

use crate::gateway::store::Role;
use crate::gateway::{
    error::EngineError, guard::GuardView, handle::Gateway, store::AppRecord, tenants::Session,
};

impl Gateway {
    /// One of the tenant's apps and its fraud-guard page (every member).
    pub async fn app_guard(
        &self,
        session: &Session,
        namespace: &str,
    ) -> Result<(AppRecord, GuardView), EngineError> {
        let app = self.tenant_app(session, namespace).await?;
        let view = self.guard_view(&app).await?;
        Ok((app, view))
    }

    /// The app's active holds, newest first, for the banner on its pages.
    pub async fn app_active_holds(
        &self,
        app: &AppRecord,
    ) -> Result<Vec<crate::gateway::store::HoldRecord>, EngineError> {
        let mut holds = self.store().app_holds(app.app_id, 50).await?;
        holds.retain(|h| h.lifted_at.is_none());
        Ok(holds)
    }

    /// Lifts one of the app's holds (owners only, also of an app the config file
    /// declares: a hold is the server's doing, not the file's). Sends to its country or
    /// numbers go out again at once; the detector judges them afresh from now.
    pub async fn lift_app_hold(
        &self,
        session: &Session,
        namespace: &str,
        hold_id: i64,
        ip: &str,
    ) -> Result<(), EngineError> {
        let app = self.tenant_app(session, namespace).await?;
        if session.member.role != Role::Owner {
            return Err(EngineError::Forbidden);
        }
        if !self.lift_hold(&app, hold_id, &session.member.email).await? {
            return Err(EngineError::invalid("hold", "is not active"));
        }
        let detail = serde_json::json!({"app": app.namespace, "hold": hold_id});
        self.audit_by(session, "hold_lifted", detail, ip).await
    }
}
