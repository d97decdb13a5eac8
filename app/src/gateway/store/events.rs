//! The event timeline of each verification, read by the live pump.

use super::StoreError;
use async_trait::async_trait;

/// One row of the event timeline, for live subscribers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    pub event_id: i64,
    pub verification_id: i64,
    pub kind: String,
    /// JSON without secrets.
    pub detail: String,
}

/// One event of a verification's timeline, with its time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineEvent {
    pub event_id: i64,
    pub kind: String,
    /// JSON without secrets.
    pub detail: String,
    pub created_at: i64,
}

/// Events: recorded with each change, read in order.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Appends an event to a verification's timeline. `detail` is JSON without secrets.
    async fn record_event(
        &self,
        verification_id: i64,
        kind: &str,
        detail: &str,
        now: i64,
    ) -> Result<(), StoreError>;
    /// Events with an id above `after`, oldest first, at most `limit`.
    async fn events_after(&self, after: i64, limit: u32) -> Result<Vec<EventRow>, StoreError>;
    /// The newest event id (0 when there is none).
    async fn last_event_id(&self) -> Result<i64, StoreError>;
    /// A signal raised whenever any instance commits new events, where the backend can
    /// tell (PostgreSQL's `LISTEN`); `None` where readers must poll (SQLite).
    async fn event_signal(&self)
        -> Result<Option<std::sync::Arc<tokio::sync::Notify>>, StoreError>;
    /// The kinds of a verification's events, oldest first.
    async fn event_kinds(&self, verification_id: i64) -> Result<Vec<String>, StoreError>;
    /// A verification's events with their details and times, oldest first.
    async fn timeline(&self, verification_id: i64) -> Result<Vec<TimelineEvent>, StoreError>;
}
