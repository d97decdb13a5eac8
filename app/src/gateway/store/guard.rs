//! The fraud guard's storage: spend against budgets, pumping tallies, holds and refusals.

use super::StoreError;
use crate::gateway::fraud::tally::{Counts, Scope, TallyKey};
use async_trait::async_trait;

/// A charge against an app's budgets for one message.
#[derive(Debug, Clone)]
pub struct Charge<'a> {
    pub app_id: i64,
    /// `d2026-12-05` and its budget (`None`: unlimited).
    pub day: (&'a str, Option<i64>),
    /// `m2026-12` and its budget.
    pub month: (&'a str, Option<i64>),
    /// The country spend is also counted under (`ZZ`: of no country); empty for a
    /// message that is not to a phone number, counted in the total only.
    pub country: &'a str,
    /// Millionths, more than 0.
    pub cost: i64,
}

/// How a charge went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charged {
    Done,
    /// It would take the day past its budget; nothing was charged.
    OverDaily,
    OverMonthly,
}

/// One period's spend of an app: the total (`country` empty) or one country's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpendRow {
    pub period: String,
    pub country: String,
    pub spent: i64,
    pub sends: i64,
}

/// A hold as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldRecord {
    pub hold_id: i64,
    pub app_id: i64,
    pub scope: Scope,
    pub subject: String,
    pub reason: String,
    /// JSON: the window's figures that started it.
    pub detail: String,
    pub started_at: i64,
    pub lifted_at: Option<i64>,
    pub lifted_by: Option<String>,
}

/// A hold to start.
#[derive(Debug, Clone)]
pub struct NewHold {
    pub app_id: i64,
    pub scope: Scope,
    pub subject: String,
    pub reason: String,
    pub detail: String,
    pub now: i64,
}

/// Refused sends counted per app, minute, reason and country.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RefusalKey {
    pub app_id: i64,
    pub minute: i64,
    pub reason: &'static str,
    pub country: String,
}

#[async_trait]
pub trait GuardStore: Send + Sync {
    /// Adds `cost` to the day's and the month's totals (and the country's rows) in one
    /// transaction, each total only while it stays within its budget: two instances
    /// cannot both spend a budget's last unit.
    async fn charge(&self, charge: &Charge<'_>) -> Result<Charged, StoreError>;

    /// Takes a charge back (its message was not queued after all).
    async fn refund(&self, charge: &Charge<'_>) -> Result<(), StoreError>;

    /// An app's spend in `periods`, totals and countries.
    async fn spend(&self, app_id: i64, periods: &[String]) -> Result<Vec<SpendRow>, StoreError>;

    /// Adds tallies (sorted by key) and refusal counts in one transaction. A block's
    /// verifications are added only to a row that exists (its sends were written).
    async fn add_tallies(
        &self,
        tallies: &[(TallyKey, Counts)],
        refusals: &[(RefusalKey, i64)],
    ) -> Result<(), StoreError>;

    /// Every tally of a minute at or after `since`.
    async fn tallies_since(&self, since: i64) -> Result<Vec<(TallyKey, Counts)>, StoreError>;

    /// Sends per (app, country) in minutes from `from` to before `to`, of the countries
    /// with any.
    async fn country_sends(
        &self,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, String, i64)>, StoreError>;

    /// Starts a hold unless the subject has an active one: the new hold, or `None`. In
    /// the same transaction, a message is queued for each of the app's webhooks that
    /// asked for `fraud_hold`, its body `alert(namespace, hold)`.
    async fn open_hold(
        &self,
        hold: &NewHold,
        alert: &(dyn for<'x> Fn(&'x str, &'x HoldRecord) -> String + Send + Sync),
    ) -> Result<Option<HoldRecord>, StoreError>;

    /// Every active hold.
    async fn active_holds(&self) -> Result<Vec<HoldRecord>, StoreError>;

    /// An app's holds, newest first, at most `limit`; and the holds lifted at or after
    /// `lifted_since` of every app (the detector judges those subjects from their lift).
    async fn app_holds(&self, app_id: i64, limit: i64) -> Result<Vec<HoldRecord>, StoreError>;

    async fn lifted_since(&self, since: i64) -> Result<Vec<HoldRecord>, StoreError>;

    /// Lifts an active hold of the app; `false` when there was none by that id.
    async fn lift_hold(
        &self,
        app_id: i64,
        hold_id: i64,
        by: &str,
        now: i64,
    ) -> Result<bool, StoreError>;

    /// Refused sends of an app since `since`: (reason, country, count), most first.
    async fn refusals(
        &self,
        app_id: i64,
        since: i64,
    ) -> Result<Vec<(String, String, i64)>, StoreError>;

    /// Drops tallies before `tallies_before` and refusals before `refusals_before`.
    async fn purge_guard(
        &self,
        tallies_before: i64,
        refusals_before: i64,
    ) -> Result<(), StoreError>;
}
