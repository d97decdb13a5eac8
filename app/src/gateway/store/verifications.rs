//! Verifications: stored, read, checked (one conditional statement per guarantee), closed; and the inbound-SMS lookups.

use super::{ClaimedDelivery, StoreError};
use crate::gateway::{address::Masked, code::CodeDigests};
use crate::model::Status;
use async_trait::async_trait;

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
    /// What it is for (`intent::Intent` as JSON); empty for nothing in particular.
    pub intent: String,
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
    /// The keyed hash of `address` history searches match (`Gateway::address_key`);
    /// `None` without an address.
    pub address_key: Option<Vec<u8>>,
    pub now: i64,
    pub expires_at: i64,
    /// For inbound verifications: the code's HMAC alone, to find it by an incoming SMS.
    pub inbound_key: Option<Vec<u8>>,
    /// What it is for (`intent::Intent` as JSON); empty for nothing in particular.
    pub intent: String,
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
    /// As in [`NewVerification`].
    pub address_key: Option<Vec<u8>>,
    pub now: i64,
    pub expires_at: i64,
    /// As in [`NewVerification`]: the new request's purpose replaces the old one's.
    pub intent: String,
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
    /// As in [`NewVerification`].
    pub address_key: Option<Vec<u8>>,
    pub now: i64,
}

/// Which verifications a history page lists: some apps' (newest first), narrowed by
/// status, channel, provider, creation time (`from` inclusive, `to` exclusive, Unix ms),
/// public id, any of `address_keys` (an address's keyed hash under each server key) or a
/// masked address;
/// `before` is the (created_at, verification_id) of the last row of the page before.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryQuery {
    pub app_ids: Vec<i64>,
    pub status: Option<String>,
    pub channel: Option<String>,
    pub provider: Option<String>,
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub public_id: Option<String>,
    pub address_keys: Vec<Vec<u8>>,
    /// Addresses that mask to what the history shows (found by length, head and tail).
    pub masked: Option<Masked>,
    pub before: Option<(i64, i64)>,
    pub limit: u32,
}

/// One line of a history page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    pub verification_id: i64,
    pub namespace: String,
    pub public_id: String,
    pub channel: String,
    pub provider: String,
    /// In full: whoever shows it masks it.
    pub address: String,
    pub status: Status,
    pub attempts: u32,
    pub sends: u32,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One code check, made in one transaction by [`Store::attempt`].
#[derive(Debug, Clone)]
pub struct Attempt {
    pub verification_id: i64,
    pub now: i64,
    /// The address's rolling budget of failed checks: its bucket, window and ceiling.
    pub budget_key: String,
    pub budget_window: i64,
    pub budget_max: i64,
    /// Whether a success also retires the record (otpgateway's check without `skip_delete`).
    pub retire: bool,
    /// The verification is already verified and was kept (otpgateway's `skip_delete`): the
    /// code is compared again within the same attempt budget, and the status never changes.
    pub reconfirm: bool,
    /// The verification as the check read it: on PostgreSQL a right code for a record
    /// still as read is counted and consumed in one statement.
    pub seen: Seen,
}

/// What a check read of its verification before its attempt.
#[derive(Debug, Clone)]
pub struct Seen {
    pub attempts: u32,
    pub code_hmac: Vec<u8>,
    pub created_at: i64,
}

/// What one check did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// The address's failure budget is spent: nothing was counted or compared.
    OverBudget,
    /// The verification took no check (closed, expired or out of attempts): nothing changed.
    NotOpen,
    /// The code matched: the verification is consumed (or, reconfirming, confirmed again).
    Verified { attempts: u32 },
    /// The code did not match; `locked` when that was the last attempt.
    Incorrect {
        attempts: u32,
        max_attempts: u32,
        locked: bool,
    },
}

impl VerificationRecord {
    /// The row `new` inserts (`INSERT_VERIFICATION`) as `verification_id`: pending, nothing
    /// attempted, its first send (if it sends) now.
    pub(crate) fn inserted(new: &NewVerification, verification_id: i64) -> Self {
        VerificationRecord {
            verification_id,
            app_id: new.app_id,
            public_id: new.public_id.clone(),
            provider: new.provider.clone(),
            channel: new.channel.clone(),
            address: new.address.clone(),
            channel_description: new.channel_description.clone(),
            address_description: new.address_description.clone(),
            code_hmac: new.code_hmac.clone(),
            code_length: new.code_length,
            code_alphabet: new.code_alphabet.clone(),
            attempts: 0,
            max_attempts: new.max_attempts,
            sends: new.sends,
            max_sends: new.max_sends,
            status: Status::Pending,
            extra: new.extra.clone(),
            created_at: new.now,
            expires_at: new.expires_at,
            verified_at: None,
            retired_at: None,
            code_sealed: Some(new.code_sealed.clone()),
            last_sent_at: (new.sends > 0).then_some(new.now),
            redirect_url: new.redirect_url.clone(),
            state: new.state.clone(),
            locale: new.locale.clone(),
            intent: new.intent.clone(),
        }
    }
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
            intent: String::new(),
        }
    }
}

/// A message to send for a verification: the outbox row written with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    /// Provider ids to try, in order; never empty.
    pub route: Vec<String>,
    pub address: String,
    /// A create's row leased at once to the worker of the process that writes it, which
    /// then sends it without claiming it; `None` (and always for writes other than a
    /// create): queued for any worker's claim.
    pub lease: Option<Lease>,
}

/// An outbox row's lease: whose it is and until when (Unix ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub owner: String,
    pub until: i64,
    /// The send cap's bucket the message counts against, raised in the create's write
    /// (SQLite's writer, PostgreSQL's batch of creates: no write of its own before the
    /// send); a row written without its count is counted by the worker, as a claimed
    /// row is.
    pub count: Option<SendCount>,
}

/// One message counted against its address's send cap: the bucket's key and its window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendCount {
    pub key: String,
    pub window_start: i64,
}

/// What a create wrote.
#[derive(Debug, Clone)]
pub struct Inserted {
    pub record: VerificationRecord,
    /// Its outbox row when that was leased as it was written (see [`NewDelivery::lease`]),
    /// as a claim would have answered it: its first attempt, counted against the send cap
    /// when the lease asked for that and the backend counts there (`sends` is then set).
    pub leased: Option<ClaimedDelivery>,
}

/// Verifications and their one-statement guarantees.
#[async_trait]
pub trait VerificationStore: Send + Sync {
    /// One page of verifications, newest first (see [`HistoryQuery`]).
    async fn history(&self, query: &HistoryQuery) -> Result<Vec<HistoryRow>, StoreError>;
    /// Inserts a verification, its `created` event and, when given, its outbox row
    /// (leased at once when the delivery says so), in one transaction; `Conflict` when the
    /// id is taken.
    async fn insert_verification(
        &self,
        new: &NewVerification,
        delivery: Option<&NewDelivery>,
    ) -> Result<Inserted, StoreError>;
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
    /// Another instance changed this verification (its event reached this process): the
    /// next view reads it from the database.
    fn forget_verification(&self, verification_id: i64);
    /// A verification by its internal id, with its app's namespace.
    async fn verification_by_id(
        &self,
        verification_id: i64,
    ) -> Result<Option<(String, VerificationRecord)>, StoreError>;
    /// Checks a code: takes one unit of the address's failure budget (refusing when it is
    /// spent), raises the attempt counter of a pending, unexpired, unlocked verification
    /// (its own conditional statement, so parallel guesses queue on the row), compares the
    /// stored HMAC with `matches`, then either consumes the verification (the budget unit
    /// not spent) or records the miss and locks at the last attempt. Each change is an
    /// event. SQLite does it all in one write of its one writer; PostgreSQL reserves the
    /// unit and counts the attempt in one committed statement (the bucket's row lock orders
    /// parallel guesses) and gives the unit back with the consumption.
    async fn attempt(
        &self,
        attempt: &Attempt,
        code: &CodeDigests,
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
}
