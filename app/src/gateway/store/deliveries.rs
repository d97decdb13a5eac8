//! The outbox: messages queued with a verification change (resend, address, switch) in one transaction, claimed with a lease, settled; and delivery receipts.

use super::{
    verifications::{NewDelivery, Switch, VerificationRecord},
    StoreError,
};
use async_trait::async_trait;

/// An outbox row leased to a worker, with what it needs to render and send the message.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub delivery_id: i64,
    pub route: Vec<String>,
    pub route_index: u32,
    /// Attempts so far, this claim included.
    pub attempts: u32,
    /// Whether the message has been counted against its address's send cap.
    pub send_counted: bool,
    /// Its address's sends in the send cap's window, itself included, when it was
    /// counted as its row was written (see `Lease::count`); `None` for a claimed row.
    pub sends: Option<i64>,
    pub address: String,
    pub verification: VerificationRecord,
    pub namespace: String,
    pub app_name: String,
    /// The app's `providers_rev`, to find its own providers.
    pub providers_rev: i64,
    /// The app's `templates_rev`, to find its own templates.
    pub templates_rev: i64,
}

/// The app a leased row's message is sent for, as it is when the lease is taken: its
/// namespace, name, `providers_rev` and `templates_rev` (`sql::APP_FOR_SENDING`).
pub(super) type AppForSending = (String, String, i64, i64);

impl ClaimedDelivery {
    /// The outbox row `delivery_id` of `verification`, leased as it was written (see
    /// [`NewDelivery::lease`]): its first attempt through the route's first provider.
    /// `sends`: its address's sends counted with it, when it was counted as it was
    /// written.
    pub(super) fn leased_at_insert(
        delivery_id: i64,
        delivery: &NewDelivery,
        verification: &VerificationRecord,
        (namespace, app_name, providers_rev, templates_rev): AppForSending,
        sends: Option<i64>,
    ) -> Self {
        ClaimedDelivery {
            delivery_id,
            route: delivery.route.clone(),
            route_index: 0,
            attempts: 1,
            send_counted: sends.is_some(),
            sends,
            address: delivery.address.clone(),
            verification: verification.clone(),
            namespace,
            app_name,
            providers_rev,
            templates_rev,
        }
    }
}

/// An outbox row as a claim leases it: `delivery_id`, `verification_id`, `route` (JSON),
/// `route_index`, `attempts`, `address`, `send_counted`.
pub(super) type ClaimedRow = (i64, i64, String, i64, i64, String, bool);

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

impl DeliveryOutcome {
    /// The statement that records this outcome of delivery `$1` leased by `$2`, if it still
    /// holds the lease, and answers the row's verification: the outcome's values follow,
    /// then now (see `bind` in each backend).
    pub(super) fn settle_sql(&self) -> &'static str {
        match self {
            DeliveryOutcome::Sent { .. } => {
                "UPDATE delivery SET status = 'sent', provider = $3, provider_message_id = $4, \
                 last_error = '', lease_owner = NULL, lease_until = NULL, updated_at = $5, \
                 sent_at = $5 WHERE delivery_id = $1 AND lease_owner = $2 AND status = 'sending' \
                 RETURNING verification_id"
            }
            DeliveryOutcome::Retry { .. } => {
                "UPDATE delivery SET status = 'queued', route_index = $3, next_attempt_at = $4, \
                 last_error = $5, lease_owner = NULL, lease_until = NULL, updated_at = $6 \
                 WHERE delivery_id = $1 AND lease_owner = $2 AND status = 'sending' \
                 RETURNING verification_id"
            }
            DeliveryOutcome::Closed { .. } => {
                "UPDATE delivery SET status = $3, last_error = $4, lease_owner = NULL, \
                 lease_until = NULL, updated_at = $5 \
                 WHERE delivery_id = $1 AND lease_owner = $2 AND status = 'sending' \
                 RETURNING verification_id"
            }
        }
    }
}

/// The outbox and what queues into it.
#[async_trait]
pub trait DeliveryStore: Send + Sync {
    /// Messages waiting in the outbox (queued, or leased for sending), and when the one
    /// due earliest was due.
    async fn outbox_depth(&self) -> Result<(i64, Option<i64>), StoreError>;

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
        address_key: &[u8],
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
    /// Counts the claimed deliveries `counted` against their addresses' send cap, in one
    /// write, so each message is counted once however often it is claimed: one hit on each
    /// of `keys` (one key a delivery; windows starting at `window_start`), as that many
    /// `CounterStore::hit`s in turn would count them, and the deliveries marked counted.
    /// Answers each hit's total in the order of `keys` (a key named twice is counted twice,
    /// its second total one more).
    async fn count_sends(
        &self,
        keys: &[String],
        window_start: i64,
        counted: &[i64],
    ) -> Result<Vec<i64>, StoreError>;
    /// Records how a leased row ended and, in the same transaction, `events` (kind, JSON
    /// detail) of its verification; false (and nothing written) when `owner` no longer
    /// holds the lease.
    async fn settle_delivery(
        &self,
        delivery_id: i64,
        owner: &str,
        outcome: &DeliveryOutcome,
        events: &[(&str, &str)],
        now: i64,
    ) -> Result<bool, StoreError> {
        self.settle_keeping(delivery_id, owner, outcome, None, events, now)
            .await
    }
    /// As [`settle_delivery`](Self::settle_delivery), keeping `kept`, if any, in its app's
    /// dev inbox (see [`capture_message`](Self::capture_message)) when the row is settled:
    /// on SQLite in the same transaction; on PostgreSQL kept first, then settled.
    async fn settle_keeping(
        &self,
        delivery_id: i64,
        owner: &str,
        outcome: &DeliveryOutcome,
        kept: Option<&DevMessage>,
        events: &[(&str, &str)],
        now: i64,
    ) -> Result<bool, StoreError>;
    /// Gives back every row `owner` holds (graceful shutdown), to be claimed at once.
    async fn release_deliveries(&self, owner: &str, now: i64) -> Result<u64, StoreError>;
    /// Records a provider's delivery receipt for its message id; the verification it
    /// belongs to and when the message was sent (Unix ms), or `None` when unknown or
    /// already recorded with that status. With
    /// `app_id`, only a message that app sent through its own provider `provider`;
    /// without, only one sent through the server's.
    async fn record_receipt(
        &self,
        provider: &str,
        message_id: &str,
        status: &str,
        now: i64,
        app_id: Option<i64>,
    ) -> Result<Option<(i64, Option<i64>)>, StoreError>;
    /// The outbox rows of a verification: (status, provider, attempts), oldest first.
    async fn deliveries_of(
        &self,
        verification_id: i64,
    ) -> Result<Vec<(String, String, u32)>, StoreError>;
    /// Keeps a message in its app's dev inbox instead of sending it, dropping all but the
    /// app's newest [`DEV_INBOX_SIZE`]; its id.
    async fn capture_message(&self, message: &DevMessage) -> Result<i64, StoreError>;
    /// An app's dev inbox, newest first.
    async fn dev_messages(&self, app_id: i64) -> Result<Vec<DevMessage>, StoreError>;
}

/// How many messages each app's dev inbox keeps.
pub const DEV_INBOX_SIZE: i64 = 200;

/// A message kept in an app's dev inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevMessage {
    /// 0 until stored.
    pub dev_message_id: i64,
    pub app_id: i64,
    /// The verification it belongs to.
    pub public_id: String,
    /// The provider that would have sent it.
    pub provider: String,
    pub channel: String,
    pub address: String,
    pub subject: String,
    pub body: String,
    pub created_at: i64,
}
