//! An app's event webhooks as its tenant manages them: endpoints (a URL the network policy
//! lets the server reach, the events wanted, a Standard Webhooks secret shown once and kept
//! sealed), the delivery log, and replaying a message.

use crate::gateway::{
    delivery::DeliveryError,
    error::EngineError,
    handle::Gateway,
    outbox::webhooks::{seal_binding, SEAL_PURPOSE, WEBHOOK_EVENTS},
    secret::random_bytes,
    store::{AppRecord, NewWebhook, WebhookMessage, WebhookRecord},
    tenants::Session,
};
use base64::Engine;

/// Endpoints one app may have.
pub const MAX_WEBHOOKS: usize = 10;
/// Messages the delivery log shows.
pub const LOG_SIZE: i64 = 100;

/// An app's endpoints and its newest messages.
#[derive(Debug, Clone)]
pub struct Webhooks {
    pub app: AppRecord,
    pub endpoints: Vec<WebhookRecord>,
    pub log: Vec<WebhookMessage>,
}

impl Gateway {
    /// One of the tenant's apps, its endpoints and delivery log (every member).
    pub async fn app_webhooks(
        &self,
        session: &Session,
        namespace: &str,
    ) -> Result<Webhooks, EngineError> {
        let app = self.tenant_app(session, namespace).await?;
        let endpoints = self.store().app_webhooks(app.app_id).await?;
        let log = self.store().webhook_messages(app.app_id, LOG_SIZE).await?;
        Ok(Webhooks {
            app,
            endpoints,
            log,
        })
    }

    /// Adds an endpoint for `events` (owners and developers); its signing secret
    /// (`whsec_…`), shown this once.
    pub async fn add_app_webhook(
        &self,
        session: &Session,
        namespace: &str,
        url: &str,
        events: &[String],
        ip: &str,
    ) -> Result<String, EngineError> {
        let app = self.managed_app(session, namespace).await?;
        let url = url.trim();
        if url.len() > 2000 {
            return Err(EngineError::invalid(
                "URL",
                "is longer than 2000 characters",
            ));
        }
        if let Err(DeliveryError::Rejected(r) | DeliveryError::Unavailable(r)) =
            self.providers().kit().net.check_url(url)
        {
            return Err(EngineError::invalid(
                "URL",
                r.replace("the provider URL ", ""),
            ));
        }
        if events.is_empty() {
            return Err(EngineError::invalid("events", "must name at least one"));
        }
        let mut kinds = Vec::new();
        for event in events {
            let (_, feeding) = WEBHOOK_EVENTS
                .iter()
                .find(|(name, _)| name == event)
                .ok_or_else(|| {
                    EngineError::invalid("events", format!("{event:?} is not one of them"))
                })?;
            kinds.extend(feeding.iter().map(|k| k.to_string()));
        }
        kinds.sort();
        kinds.dedup();
        let existing = self.store().app_webhooks(app.app_id).await?;
        if existing.len() >= MAX_WEBHOOKS {
            return Err(EngineError::invalid(
                "URL",
                format!("cannot be added: an app has at most {MAX_WEBHOOKS} endpoints"),
            ));
        }
        // The key signs; its text form `whsec_<base64>` is what the endpoint is given.
        let key = random_bytes::<32>();
        let secret = format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(key)
        );
        let sealed = self
            .hasher()
            .seal_for(SEAL_PURPOSE, &seal_binding(app.app_id, url), &key);
        let webhook = NewWebhook {
            app_id: app.app_id,
            url: url.to_owned(),
            events: events.to_vec(),
            kinds,
            sealed,
        };
        self.store().add_webhook(&webhook, self.now_ms()).await?;
        let detail = serde_json::json!({
            "namespace": app.namespace, "url": url, "events": events,
        });
        self.audit_by(session, "webhook_added", detail, ip).await?;
        Ok(secret)
    }

    /// Removes an endpoint with its messages (owners and developers).
    pub async fn delete_app_webhook(
        &self,
        session: &Session,
        namespace: &str,
        webhook_id: i64,
        ip: &str,
    ) -> Result<(), EngineError> {
        let app = self.managed_app(session, namespace).await?;
        let endpoints = self.store().app_webhooks(app.app_id).await?;
        let url = endpoints
            .iter()
            .find(|w| w.webhook_id == webhook_id)
            .map(|w| w.url.clone())
            .ok_or(EngineError::NotFound)?;
        if !self.store().delete_webhook(app.app_id, webhook_id).await? {
            return Err(EngineError::NotFound);
        }
        let detail = serde_json::json!({ "namespace": app.namespace, "url": url });
        self.audit_by(session, "webhook_removed", detail, ip).await
    }

    /// Sends a delivered or dead message again now, with its id and body (owners and
    /// developers).
    pub async fn replay_webhook(
        &self,
        session: &Session,
        namespace: &str,
        message_id: i64,
        ip: &str,
    ) -> Result<(), EngineError> {
        let app = self.managed_app(session, namespace).await?;
        let now = self.now_ms();
        if !self
            .store()
            .replay_webhook_message(app.app_id, message_id, now)
            .await?
        {
            return Err(EngineError::NotFound);
        }
        let detail = serde_json::json!({ "namespace": app.namespace, "message": message_id });
        self.audit_by(session, "webhook_replayed", detail, ip).await
    }
}
