//! Integrator event webhooks: an app's endpoints and the messages queued for them (one per
//! event and endpoint, by a trigger on `event`), leased and retried like deliveries.

use super::StoreError;
use async_trait::async_trait;

/// An endpoint as stored. `sealed` is its signing secret: never shown after creation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRecord {
    pub webhook_id: i64,
    pub app_id: i64,
    pub url: String,
    /// The events it asked for (`verified`, `sent`, ...).
    pub events: Vec<String>,
    pub sealed: Vec<u8>,
    pub created_at: i64,
}

/// An endpoint to add: its events, and the event kinds (`event.kind`) that feed them.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub app_id: i64,
    pub url: String,
    pub events: Vec<String>,
    pub kinds: Vec<String>,
    pub sealed: Vec<u8>,
}

/// A queued message as the delivery log shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookMessage {
    pub message_id: i64,
    pub webhook_id: i64,
    pub url: String,
    /// `pending`, `delivered`, `dead` or `skipped`.
    pub status: String,
    pub attempts: u32,
    /// Set at the first attempt (`verification.sent`, ...).
    pub event_type: Option<String>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub next_attempt_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What a leased message is sent from: its endpoint, and its event (gone when the event
/// was purged before the first attempt).
#[derive(Debug, Clone)]
pub struct ClaimedWebhook {
    pub message_id: i64,
    pub webhook_id: i64,
    pub app_id: i64,
    pub url: String,
    pub events: Vec<String>,
    pub sealed: Vec<u8>,
    /// Attempts so far, this one included.
    pub attempts: u32,
    /// The body and type fixed by an earlier attempt.
    pub payload: Option<String>,
    pub event_type: Option<String>,
    pub event: Option<WebhookEvent>,
}

/// The event behind a message, with what its payload names.
#[derive(Debug, Clone)]
pub struct WebhookEvent {
    pub event_id: i64,
    pub kind: String,
    pub detail: String,
    pub created_at: i64,
    pub namespace: String,
    pub public_id: String,
    pub channel: String,
    pub address: String,
}

/// How one attempt ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// The endpoint answered 2xx.
    Delivered { status: u16 },
    /// Try again at `next_attempt_at`.
    Retry {
        status: Option<u16>,
        error: String,
        next_attempt_at: i64,
    },
    /// No more tries.
    Dead { status: Option<u16>, error: String },
    /// Not an event this endpoint asked for (a receipt that is neither delivered nor
    /// failed, an event without its verification).
    Skipped,
}

#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// An app's endpoints, oldest first.
    async fn app_webhooks(&self, app_id: i64) -> Result<Vec<WebhookRecord>, StoreError>;
    /// Adds an endpoint; its id.
    async fn add_webhook(&self, webhook: &NewWebhook, now: i64) -> Result<i64, StoreError>;
    /// Removes one of the app's endpoints with its messages; false when it has no such one.
    async fn delete_webhook(&self, app_id: i64, webhook_id: i64) -> Result<bool, StoreError>;
    /// The newest `limit` messages to the app's endpoints.
    async fn webhook_messages(
        &self,
        app_id: i64,
        limit: i64,
    ) -> Result<Vec<WebhookMessage>, StoreError>;
    /// The messages sent for one verification's events, oldest first.
    async fn webhook_messages_of(
        &self,
        verification_id: i64,
    ) -> Result<Vec<WebhookMessage>, StoreError>;
    /// Leases up to `limit` due messages until `lease_until`, counting an attempt on each.
    async fn claim_webhook_messages(
        &self,
        owner: &str,
        now: i64,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<ClaimedWebhook>, StoreError>;
    /// Records an attempt's outcome (and the body it sent) while `owner` holds the lease;
    /// false when the lease was lost.
    async fn settle_webhook_message(
        &self,
        message_id: i64,
        owner: &str,
        event_type: Option<&str>,
        payload: Option<&str>,
        outcome: &WebhookOutcome,
        now: i64,
    ) -> Result<bool, StoreError>;
    /// Sends one of the app's messages again now (the same body and id); false when the
    /// app has no such message or it is being sent.
    async fn replay_webhook_message(
        &self,
        app_id: i64,
        message_id: i64,
        now: i64,
    ) -> Result<bool, StoreError>;
}
