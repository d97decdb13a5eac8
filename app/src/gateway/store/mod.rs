//! Persistence of apps, verifications and their events.
//!
//! The engine talks to a [`Store`]: one trait per table group (`apps`, `verifications`,
//! `deliveries`, `events`, `counters`, `tenants`), each declared beside its records; each backend
//! implements them all with plain SQL (`sql/`). Every
//! guarantee that must hold across instances (attempt counting, single-use consumption,
//! send caps) is one conditional statement, so the database, not the process, enforces it.
//! Timestamps are Unix milliseconds supplied by the engine's clock.

mod apps;
mod checkpoints;
mod counters;
mod deliveries;
mod direct;
mod events;
mod factors;
mod fan_out;
mod group_commit;
mod guard;
mod pg_batch;
mod pg_reads;
mod postgres;
mod readers;
mod sql;
mod sqlite;
pub mod stats;
mod tenants;
mod verifications;
mod views;
mod webhooks;

pub use apps::{
    pick_template, ActiveSecret, AppProvider, AppRecord, AppStore, AppTemplate, SecretRecord,
};
pub use counters::{CounterStore, IdempotentAnswer};
pub use deliveries::{ClaimedDelivery, DeliveryOutcome, DeliveryStore, DevMessage, DEV_INBOX_SIZE};
pub use events::{EventRow, EventStore, TimelineEvent};
pub use factors::{FactorRecord, FactorStore, MemberFactor, MemberFactorStore, NewFactor};
pub use guard::{Charge, Charged, GuardStore, HoldRecord, NewHold, RefusalKey, SpendRow};
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
pub use stats::{StatKey, StatsQuery, StatsStore, StatsSummary};
pub use tenants::{
    AuditFilter, AuditRecord, InviteRecord, MemberRecord, NewAudit, Role, SessionRecord,
    TenantRecord, TenantStore,
};
pub use verifications::{
    Attempt, AttemptOutcome, HistoryQuery, HistoryRow, Inserted, Lease, NewDelivery,
    NewVerification, Reissue, Seen, SendCount, Switch, VerificationRecord, VerificationStore,
};
pub use webhooks::{
    ClaimedWebhook, NewWebhook, WebhookEvent, WebhookMessage, WebhookOutcome, WebhookRecord,
    WebhookStore,
};

use async_trait::async_trait;

/// A storage failure. Details go to the log, never to a client.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the record already exists")]
    Conflict,
    #[error("a record it refers to does not exist")]
    Dangling,
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// From SQLite's synchronous writer connection (`group_commit.rs`).
    #[error("database error")]
    Sqlite(#[from] rusqlite::Error),
    #[error("migration error")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("corrupt row: {0}")]
    Corrupt(&'static str),
    /// The batch a write joined (SQLite's group commit) could not be committed: the write
    /// is not stored.
    #[error("write batch failed")]
    Batch(group_commit::Failure),
}

/// All the storage the engine needs. Call sites import the capability traits they use
/// (`AppStore`, `VerificationStore`, ...).
#[async_trait]
pub trait Store:
    AppStore
    + VerificationStore
    + DeliveryStore
    + EventStore
    + FactorStore
    + MemberFactorStore
    + GuardStore
    + CounterStore
    + TenantStore
    + WebhookStore
    + StatsStore
    + 'static
{
    /// Answers when the database does.
    async fn ping(&self) -> Result<(), StoreError>;

    /// The connection pool's (busy, idle) connections now. On SQLite these are the
    /// readers; its one writer is always open.
    fn pool_usage(&self) -> (u32, u32);
}
