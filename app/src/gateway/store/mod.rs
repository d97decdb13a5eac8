//! Persistence of apps, verifications and their events.
//!
//! The engine talks to a [`Store`]; each backend implements it with plain SQL. Every
//! guarantee that must hold across instances (attempt counting, single-use consumption,
//! send caps) is one conditional statement, so the database, not the process, enforces it.
//! Timestamps are Unix milliseconds supplied by the engine's clock.

mod postgres;
mod sql;
mod sqlite;
mod views;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

use crate::model::Status;
use async_trait::async_trait;

/// A storage failure. Details go to the log, never to a client.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the record already exists")]
    Conflict,
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("migration error")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("corrupt row: {0}")]
    Corrupt(&'static str),
}

/// An app as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRecord {
    pub app_id: i64,
    pub namespace: String,
    pub name: String,
    /// Whether the otpgateway API may return the code (compatibility echo).
    pub echo_code: bool,
    /// Exact URLs a verification of this app may redirect to.
    pub redirect_urls: Vec<String>,
}

/// A verification as stored. Holds the code's HMAC, never the code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationRecord {
    pub verification_id: i64,
    pub app_id: i64,
    pub public_id: String,
    pub provider: String,
    pub channel: String,
    pub address: String,
    pub channel_description: String,
    pub address_description: String,
    pub code_hmac: Vec<u8>,
    pub code_length: u32,
    pub code_alphabet: String,
    pub attempts: u32,
    pub max_attempts: u32,
    pub sends: u32,
    pub max_sends: u32,
    pub status: Status,
    pub extra: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub verified_at: Option<i64>,
    pub retired_at: Option<i64>,
    /// The code sealed for resends (see `CodeHasher::seal`).
    pub code_sealed: Option<Vec<u8>>,
    pub last_sent_at: Option<i64>,
    pub redirect_url: String,
    pub state: String,
    pub locale: String,
}

/// Fields of a new verification.
#[derive(Debug, Clone)]
pub struct NewVerification {
    pub app_id: i64,
    pub public_id: String,
    pub provider: String,
    pub channel: String,
    pub address: String,
    pub channel_description: String,
    pub address_description: String,
    pub code_hmac: Vec<u8>,
    pub code_sealed: Vec<u8>,
    pub code_length: u32,
    pub code_alphabet: String,
    pub max_attempts: u32,
    pub sends: u32,
    pub max_sends: u32,
    pub extra: String,
    pub redirect_url: String,
    pub state: String,
    pub locale: String,
    pub now: i64,
    pub expires_at: i64,
    /// For inbound verifications: the code's HMAC alone, to find it by an incoming SMS.
    pub inbound_key: Option<Vec<u8>>,
}

/// What a re-issue of an open verification replaces (otpgateway's re-PUT).
#[derive(Debug, Clone)]
pub struct Reissue {
    pub provider: String,
    pub channel: String,
    pub address: String,
    pub channel_description: String,
    pub address_description: String,
    pub code_hmac: Vec<u8>,
    pub code_sealed: Vec<u8>,
    pub code_length: u32,
    pub code_alphabet: String,
    pub extra: String,
    /// Whether this re-issue sends a message (and so spends one send).
    pub sends: bool,
    pub now: i64,
    pub expires_at: i64,
}

/// A hosted page's "didn't get it?": the verification moves to another provider with a
/// new code; attempts, sends and expiry carry over.
#[derive(Debug, Clone)]
pub struct Switch {
    /// The provider the verification must still have (a concurrent switch wins once).
    pub from_provider: String,
    pub provider: String,
    pub channel: String,
    /// Kept when the new channel reaches the same kind of address, else empty.
    pub address: String,
    pub code_hmac: Vec<u8>,
    pub code_sealed: Vec<u8>,
    pub code_length: u32,
    pub code_alphabet: String,
    pub inbound_key: Option<Vec<u8>>,
    pub now: i64,
}

/// One code check, made in one transaction by [`Store::attempt`].
#[derive(Debug, Clone)]
pub struct Attempt<'a> {
    pub verification_id: i64,
    pub now: i64,
    /// The address's rolling budget of failed checks: its bucket, window and ceiling.
    pub budget_key: &'a str,
    pub budget_window: i64,
    pub budget_max: i64,
    /// Whether a success also retires the record (otpgateway's check without `skip_delete`).
    pub retire: bool,
}

/// What one check did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// The address's failure budget is spent: nothing was counted or compared.
    OverBudget,
    /// The verification took no check (closed, expired or out of attempts): nothing changed.
    NotOpen,
    /// The code matched and the verification is consumed.
    Verified { attempts: u32 },
    /// The code did not match; `locked` when that was the last attempt.
    Incorrect {
        attempts: u32,
        max_attempts: u32,
        locked: bool,
    },
}

/// A stored answer to an idempotent create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotentAnswer {
    pub request_hash: Vec<u8>,
    pub status: u16,
    pub response: String,
}

/// A message to send for a verification: the outbox row written with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    /// Provider ids to try, in order; never empty.
    pub route: Vec<String>,
    pub address: String,
}

/// An outbox row leased to a worker, with what it needs to render and send the message.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub delivery_id: i64,
    pub route: Vec<String>,
    pub route_index: u32,
    /// Attempts so far, this claim included.
    pub attempts: u32,
    pub address: String,
    pub verification: VerificationRecord,
    pub namespace: String,
    pub app_name: String,
}

/// How a claimed delivery ends for now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// A provider accepted the message.
    Sent {
        provider: String,
        message_id: Option<String>,
    },
    /// Try again at `next_attempt_at`, through `route[route_index]`.
    Retry {
        route_index: u32,
        next_attempt_at: i64,
        error: String,
    },
    /// Never to be sent: `dead`, `suppressed` or `dropped`, with the reason.
    Closed { status: &'static str, error: String },
}

/// One row of the event timeline, for live subscribers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    pub event_id: i64,
    pub verification_id: i64,
    pub kind: String,
    /// JSON without secrets.
    pub detail: String,
}

#[cfg(test)]
impl VerificationRecord {
    /// A pending e-mail verification of app 1 with nothing spent, for unit tests.
    pub(crate) fn sample(verification_id: i64, public_id: &str) -> Self {
        VerificationRecord {
            verification_id,
            app_id: 1,
            public_id: public_id.into(),
            provider: "console".into(),
            channel: "email".into(),
            address: "a@example.com".into(),
            channel_description: String::new(),
            address_description: String::new(),
            code_hmac: Vec::new(),
            code_length: 6,
            code_alphabet: "digits".into(),
            attempts: 0,
            max_attempts: 5,
            sends: 1,
            max_sends: 3,
            status: Status::Pending,
            extra: "{}".into(),
            created_at: 0,
            expires_at: 1,
            verified_at: None,
            retired_at: None,
            code_sealed: None,
            last_sent_at: None,
            redirect_url: String::new(),
            state: String::new(),
            locale: String::new(),
        }
    }
}

/// The storage the engine needs.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Answers when the database does.
    async fn ping(&self) -> Result<(), StoreError>;

    async fn find_app(&self, namespace: &str) -> Result<Option<AppRecord>, StoreError>;
    /// The app's active secret hashes (argon2id PHC strings).
    async fn app_secret_hashes(&self, app_id: i64) -> Result<Vec<String>, StoreError>;
    /// Creates an app with one secret; `Conflict` when the namespace is taken.
    async fn create_app(
        &self,
        namespace: &str,
        name: &str,
        secret_hash: &str,
        now: i64,
    ) -> Result<AppRecord, StoreError>;
    /// Sets an app's display name, code echo and redirect allow-list.
    async fn update_app(
        &self,
        app_id: i64,
        name: &str,
        echo_code: bool,
        redirect_urls: &[String],
        now: i64,
    ) -> Result<(), StoreError>;
    /// Replaces all of an app's secrets with one.
    async fn replace_app_secret(
        &self,
        app_id: i64,
        secret_hash: &str,
        now: i64,
    ) -> Result<(), StoreError>;

    /// Inserts a verification, its `created` event and, when given, its outbox row, in
    /// one transaction; `Conflict` when the id is taken.
    async fn insert_verification(
        &self,
        new: &NewVerification,
        delivery: Option<&NewDelivery>,
    ) -> Result<VerificationRecord, StoreError>;
    /// Replaces address, provider and code of a pending, unexpired verification without
    /// touching its attempt counter; spends a send when `reissue.sends`, refusing past
    /// `max_sends`. The outbox row, when given, commits with it. `None` when nothing was
    /// changed.
    async fn reissue_verification(
        &self,
        verification_id: i64,
        reissue: &Reissue,
        delivery: Option<&NewDelivery>,
    ) -> Result<Option<VerificationRecord>, StoreError>;
    /// The current verification with this app and public id, retired ones included.
    async fn find_verification(
        &self,
        app_id: i64,
        public_id: &str,
    ) -> Result<Option<VerificationRecord>, StoreError>;
    /// [`find_verification`](Store::find_verification) for what pages show (the hosted
    /// page, its status poll): answered from this process's memory when it holds the
    /// verification, which every write through this store and every event from another
    /// instance keeps current (see `store/views.rs`). Never for a decision.
    async fn find_verification_viewed(
        &self,
        app_id: i64,
        public_id: &str,
    ) -> Result<Option<VerificationRecord>, StoreError>;
    /// [`find_app`](Store::find_app) for what pages show, from memory when held (re-read
    /// after a few seconds, and at once after an app changes here).
    async fn find_app_viewed(&self, namespace: &str) -> Result<Option<AppRecord>, StoreError>;
    /// Another instance changed this verification (its event reached this process): the
    /// next view reads it from the database.
    fn forget_verification(&self, verification_id: i64);
    /// Checks a code in one transaction: reserves one unit of the address's failure budget,
    /// raises the attempt counter of a pending, unexpired, unlocked verification (its own
    /// conditional statement, so parallel guesses queue on the row), compares the stored
    /// HMAC with `matches`, then either consumes the verification and returns the budget,
    /// or records the miss and locks at the last attempt. Each change is an event.
    async fn attempt(
        &self,
        attempt: &Attempt<'_>,
        matches: &(dyn for<'h> Fn(&'h [u8]) -> bool + Send + Sync),
    ) -> Result<AttemptOutcome, StoreError>;
    /// Marks a verification verified if nothing else did first: exactly one caller wins.
    async fn consume(
        &self,
        verification_id: i64,
        retire: bool,
        now: i64,
    ) -> Result<bool, StoreError>;
    /// Moves a pending verification to a terminal status; false if it had already moved.
    async fn finish(&self, verification_id: i64, to: Status, now: i64) -> Result<bool, StoreError>;
    /// Sets a closed verification aside so that its public id can start anew; false if
    /// another caller did so first.
    async fn supersede(&self, verification_id: i64, now: i64) -> Result<bool, StoreError>;
    /// Hides a verification from the otpgateway API (its record is "deleted").
    async fn retire(&self, verification_id: i64, now: i64) -> Result<(), StoreError>;
    /// Appends an event to a verification's timeline. `detail` is JSON without secrets.
    async fn record_event(
        &self,
        verification_id: i64,
        kind: &str,
        detail: &str,
        now: i64,
    ) -> Result<(), StoreError>;
    /// Spends one send of a pending, unexpired verification whose last send is at least
    /// `cooldown_ms` old, and queues `delivery` in the same transaction; `None` when the
    /// cap or the cooldown forbids it.
    async fn claim_resend(
        &self,
        verification_id: i64,
        cooldown_ms: i64,
        now: i64,
        delivery: &NewDelivery,
    ) -> Result<Option<VerificationRecord>, StoreError>;
    /// Sets the address of a pending, unexpired verification that has none (the hosted
    /// page collected it), spends one send and queues `delivery`, in one transaction;
    /// `None` when it already has an address, is closed, or has no sends left.
    async fn claim_address(
        &self,
        verification_id: i64,
        address: &str,
        now: i64,
        delivery: &NewDelivery,
    ) -> Result<Option<VerificationRecord>, StoreError>;
    /// Moves a pending, unexpired verification that has attempts left and still uses
    /// `switch.from_provider` to the new provider and code. In the same transaction: every
    /// message still queued or being sent for it is dropped (the old code must not reach
    /// the old address as the new one), `delivery` is queued (spending one send, refused
    /// past `max_sends`), and a `channel_switched` event is recorded. `None` when nothing
    /// changed.
    async fn switch_channel(
        &self,
        verification_id: i64,
        switch: &Switch,
        delivery: Option<&NewDelivery>,
    ) -> Result<Option<VerificationRecord>, StoreError>;
    /// Leases up to `limit` due outbox rows to `owner` until `lease_until`, raising their
    /// attempt counters. Rows another worker holds are skipped, never waited for.
    async fn claim_deliveries(
        &self,
        owner: &str,
        now: i64,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<ClaimedDelivery>, StoreError>;
    /// Records how a leased row ended; false when `owner` no longer holds the lease.
    async fn settle_delivery(
        &self,
        delivery_id: i64,
        owner: &str,
        outcome: &DeliveryOutcome,
        now: i64,
    ) -> Result<bool, StoreError>;
    /// Gives back every row `owner` holds (graceful shutdown), to be claimed at once.
    async fn release_deliveries(&self, owner: &str, now: i64) -> Result<u64, StoreError>;
    /// Records a provider's delivery receipt for its message id; the verification it
    /// belongs to, or `None` when unknown or already recorded with that status.
    async fn record_receipt(
        &self,
        provider: &str,
        message_id: &str,
        status: &str,
        now: i64,
    ) -> Result<Option<i64>, StoreError>;
    /// The outbox rows of a verification: (status, provider, attempts), oldest first.
    async fn deliveries_of(
        &self,
        verification_id: i64,
    ) -> Result<Vec<(String, String, u32)>, StoreError>;
    /// Adds `hits` to the fixed-window counter `key` (the window starting at
    /// `window_start`) and returns the window's total, in one upsert.
    async fn hit(&self, key: &str, window_start: i64, hits: i64) -> Result<i64, StoreError>;
    /// The current window's total for `key` without changing it.
    async fn peek(&self, key: &str, window_start: i64) -> Result<i64, StoreError>;
    /// Records a token's single use; false if its `jti` was used before.
    async fn use_token(
        &self,
        jti: &str,
        app_id: i64,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError>;
    /// The stored answer for an idempotency key.
    async fn idempotency_get(
        &self,
        app_id: i64,
        key: &str,
    ) -> Result<Option<IdempotentAnswer>, StoreError>;
    /// Stores an answer; false when another request stored one first.
    async fn idempotency_put(
        &self,
        app_id: i64,
        key: &str,
        answer: &IdempotentAnswer,
        now: i64,
    ) -> Result<bool, StoreError>;
    /// The open verification an inbound code belongs to, with its app's namespace.
    async fn find_inbound(
        &self,
        inbound_key: &[u8],
        now: i64,
    ) -> Result<Option<(String, VerificationRecord)>, StoreError>;
    /// Records an inbound message id; false when it was handled before.
    async fn claim_inbound_message(
        &self,
        provider: &str,
        message_id: &str,
        now: i64,
    ) -> Result<bool, StoreError>;
    /// Sets the sender as the address of an open inbound verification, unless it already
    /// holds another; false when it does or the verification closed.
    async fn set_inbound_sender(
        &self,
        verification_id: i64,
        address: &str,
        now: i64,
    ) -> Result<bool, StoreError>;
    /// Events with an id above `after`, oldest first, at most `limit`.
    async fn events_after(&self, after: i64, limit: u32) -> Result<Vec<EventRow>, StoreError>;
    /// The newest event id (0 when there is none).
    async fn last_event_id(&self) -> Result<i64, StoreError>;
    /// A signal raised whenever any instance commits new events, where the backend can
    /// tell (PostgreSQL's `LISTEN`); `None` where readers must poll (SQLite).
    async fn event_signal(&self)
        -> Result<Option<std::sync::Arc<tokio::sync::Notify>>, StoreError>;
    /// A verification by its internal id, with its app's namespace.
    async fn verification_by_id(
        &self,
        verification_id: i64,
    ) -> Result<Option<(String, VerificationRecord)>, StoreError>;
    /// The kinds of a verification's events, oldest first.
    async fn event_kinds(&self, verification_id: i64) -> Result<Vec<String>, StoreError>;
}
