//! The SMS fraud guard: every message is cleared before it is queued. Geo permissions
//! (the number's country against the app's and the server's lists), holds (the pumping
//! detector's, kept in memory and refreshed from the database every second) and the
//! spend budgets (one conditional charge in the database, so instances never overspend
//! together). The detector itself ([`Gateway::guard_tick`]) writes this process's
//! tallies and judges every process's over a sliding window.

use crate::gateway::{
    address::{Address, Channel},
    clock::{secs_until, utc_timestamp},
    delivery::Provider,
    error::EngineError,
    fraud::{
        geo::{block_of, country_of},
        money::{price_of, Budgets, Money, Periods},
        tally::{
            judge_block, judge_country, minute_of, PumpingSettings, Scope, Tallies, TallyKey,
            Window, MINUTE_MS, NO_COUNTRY,
        },
    },
    handle::Gateway,
    metrics,
    store::{
        AppRecord, Charge, Charged, HoldRecord, NewHold, RefusalKey, SpendRow, VerificationRecord,
    },
};
use serde_json::json;
use std::{
    collections::{HashMap, HashSet},
    sync::{Mutex, RwLock},
};

/// Refused sends are kept for the dashboard this long.
const REFUSALS_KEPT_MS: i64 = 30 * 24 * 60 * MINUTE_MS;

/// What the guard keeps in this process.
pub(crate) struct GuardState {
    tallies: Tallies,
    refusals: Mutex<HashMap<RefusalKey, i64>>,
    /// Active holds: (app, scope, subject).
    holds: RwLock<HashSet<(i64, Scope, String)>>,
    /// Each country's sends over the baseline before the window that starts at the key
    /// (read again when the window moves on a minute).
    baseline: Mutex<Option<(i64, CountrySends)>>,
}

/// A lock's guard, whether or not a thread panicked holding it (the data are counts and
/// sets, whole after every statement).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

/// Sends per (app, country).
type CountrySends = HashMap<(i64, String), i64>;

impl GuardState {
    pub(crate) fn new(pumping: &PumpingSettings) -> Self {
        Self {
            tallies: Tallies::new(pumping.window_ms),
            refusals: Mutex::default(),
            holds: RwLock::default(),
            baseline: Mutex::default(),
        }
    }
}

/// A message the guard let through: what to count once it is queued, and the charge to
/// take back if it is not.
#[derive(Debug)]
#[must_use = "count it with `sent` or take it back with `not_sent`"]
pub(crate) struct Cleared {
    app_id: i64,
    /// A phone message that goes out: its country and block, for the detector.
    tally: Option<(String, Option<String>)>,
    charge: Option<OwnedCharge>,
}

#[derive(Debug)]
struct OwnedCharge {
    periods: Periods,
    country: String,
    cost: i64,
}

impl OwnedCharge {
    fn as_charge(&self, app_id: i64, budgets: Budgets) -> Charge<'_> {
        Charge {
            app_id,
            day: (&self.periods.day, budgets.daily.map(|m| m.0)),
            month: (&self.periods.month, budgets.monthly.map(|m| m.0)),
            country: &self.country,
            cost: self.cost,
        }
    }
}

/// An app's fraud-guard page: spend, budgets, holds and refusals.
#[derive(Debug, Clone)]
pub struct GuardView {
    pub budgets: Budgets,
    /// Today's and this month's spend: totals (`country` empty) and per country.
    pub today: Vec<SpendRow>,
    pub month: Vec<SpendRow>,
    /// Newest first; active ones have no `lifted_at`.
    pub holds: Vec<HoldRecord>,
    /// Refused sends of the last 24 hours: (reason, country, count).
    pub refusals: Vec<(String, String, i64)>,
}

/// The body of a `fraud.hold` webhook: the app, what is held and why, and the window's
/// figures.
fn hold_alert(namespace: &str, hold: &HoldRecord) -> String {
    let detail: serde_json::Value = serde_json::from_str(&hold.detail).unwrap_or_default();
    let at = utc_timestamp(hold.started_at).replace(' ', "T");
    json!({
        "type": "fraud.hold",
        "timestamp": format!("{at}Z"),
        "data": {
            "namespace": namespace,
            "hold_id": hold.hold_id,
            "scope": hold.scope.as_str(),
            "subject": hold.subject,
            "reason": hold.reason,
            "figures": detail,
        },
    })
    .to_string()
}

/// The country a phone number is counted under (`ZZ` for numbers of no country).
fn country_key(address: &str) -> String {
    country_of(address).unwrap_or_else(|| NO_COUNTRY.to_owned())
}

/// An address the app takes: for a phone number, its country (`ZZ`: of no country), read
/// once for the geo check and reused by [`Gateway::clear_send`].
#[derive(Debug, Default)]
pub(crate) struct Admitted {
    country: Option<String>,
}

impl Gateway {
    /// Whether `app` takes a verification on `channel` to `address` at all: its channels,
    /// number prefixes and countries. Nothing is counted but a refused country.
    pub(crate) fn admit_address(
        &self,
        app: &AppRecord,
        channel: Channel,
        address: Option<&Address>,
    ) -> Result<Admitted, EngineError> {
        crate::gateway::verify::create::admit(app, channel, address)?;
        match address {
            Some(a) if channel.is_phone() => Ok(Admitted {
                country: Some(self.admit_country(app, a.as_str())?),
            }),
            _ => Ok(Admitted::default()),
        }
    }

    /// The country of `number` (`ZZ`: of no country), refused when the app does not send
    /// there.
    pub(crate) fn admit_country(
        &self,
        app: &AppRecord,
        number: &str,
    ) -> Result<String, EngineError> {
        let country = country_of(number);
        let policy = app
            .settings
            .guard
            .countries
            .over(&self.inner.settings.guard.geo);
        let permitted = policy.permits(country.as_deref());
        let country = country.unwrap_or_else(|| NO_COUNTRY.to_owned());
        if permitted {
            return Ok(country);
        }
        self.refused(app, "country_not_allowed", &country);
        Err(EngineError::CountryNotAllowed { country })
    }

    /// Clears one message of `app` through `provider` to `address`, as
    /// [`Gateway::admit_address`] admitted it, before it is queued: the detector's holds,
    /// then the budgets (charging the message's price). Call [`Gateway::sent`] once it is
    /// queued, or [`Gateway::not_sent`] if it was not.
    pub(crate) async fn clear_send(
        &self,
        app: &AppRecord,
        provider: &dyn Provider,
        address: &Address,
        admitted: &Admitted,
    ) -> Result<Cleared, EngineError> {
        let mut cleared = Cleared {
            app_id: app.app_id,
            tally: None,
            charge: None,
        };
        // A message that stays in the dev inbox costs nothing and pumps nothing.
        if provider.keeps_messages() || app.settings.captures(address.as_str()) {
            return Ok(cleared);
        }
        let country = admitted.country.clone();
        if let Some(country) = &country {
            let block = block_of(address.as_str()).map(str::to_owned);
            if self.held(app.app_id, country, block.as_deref()) {
                self.refused(app, "suspected_fraud", country);
                return Err(EngineError::SuspectedFraud);
            }
            cleared.tally = Some((country.clone(), block));
        }
        let g = &self.inner.settings.guard;
        let tables = [app.settings.guard.prices.as_slice(), g.prices.as_slice()];
        let price = price_of(&tables, provider.id(), country.as_deref());
        if price > Money(0) {
            let now = self.inner.clock.now_ms();
            let owned = OwnedCharge {
                periods: Periods::at(now),
                country: country.clone().unwrap_or_default(),
                cost: price.0,
            };
            let budgets = app.settings.guard.budgets.over(g.budgets);
            let over = match self
                .inner
                .store
                .charge(&owned.as_charge(app.app_id, budgets))
                .await?
            {
                Charged::Done => None,
                Charged::OverDaily => Some(("daily", owned.periods.day_ends_at)),
                Charged::OverMonthly => Some(("monthly", owned.periods.month_ends_at)),
            };
            if let Some((period, ends_at)) = over {
                self.refused(app, "budget_exceeded", &owned.country);
                return Err(EngineError::BudgetExceeded {
                    period,
                    retry_after_secs: secs_until(ends_at, now).max(1),
                });
            }
            cleared.charge = Some(owned);
        }
        Ok(cleared)
    }

    /// A cleared message was queued: the detector counts it.
    pub(crate) fn sent(&self, cleared: Cleared) {
        if let Some((country, block)) = cleared.tally {
            let now = self.inner.clock.now_ms();
            self.inner
                .guard
                .tallies
                .sent(cleared.app_id, &country, block.as_deref(), now);
        }
    }

    /// A cleared message was not queued after all: its charge is taken back.
    pub(crate) async fn not_sent(&self, app: &AppRecord, cleared: Cleared) {
        let Some(owned) = cleared.charge else { return };
        let budgets = app.settings.guard.budgets;
        if let Err(e) = self
            .inner
            .store
            .refund(&owned.as_charge(app.app_id, budgets))
            .await
        {
            tracing::warn!(error = ?e, "taking back a charge failed; the day's spend is over by one message");
        }
    }

    /// A verification of a phone message that went out succeeded: the detector counts
    /// it in the minute of its last send.
    pub(crate) fn guard_verified(&self, app: &AppRecord, record: &VerificationRecord) {
        let phone = Channel::parse(&record.channel).is_some_and(Channel::is_phone);
        if !phone || record.sends == 0 || app.settings.captures(&record.address) {
            return;
        }
        let sent_at = record.last_sent_at.unwrap_or(record.created_at);
        self.inner.guard.tallies.verified(
            app.app_id,
            &country_key(&record.address),
            block_of(&record.address),
            sent_at,
        );
    }

    fn held(&self, app_id: i64, country: &str, block: Option<&str>) -> bool {
        let holds = read(&self.inner.guard.holds);
        if holds.is_empty() {
            return false;
        }
        holds.contains(&(app_id, Scope::Country, country.to_owned()))
            || block.is_some_and(|b| holds.contains(&(app_id, Scope::Block, b.to_owned())))
    }

    fn refused(&self, app: &AppRecord, reason: &'static str, country: &str) {
        metrics::guard_refused(&app.namespace, reason);
        let key = RefusalKey {
            app_id: app.app_id,
            minute: minute_of(self.inner.clock.now_ms()),
            reason,
            country: country.to_owned(),
        };
        let mut refusals = lock(&self.inner.guard.refusals);
        *refusals.entry(key).or_default() += 1;
    }

    /// One round of the detector, run every second by the upkeep: writes this
    /// process's tallies and refusals, judges the window of every process's, starts the
    /// holds it calls for (each alerting the app's `fraud_hold` webhooks), and reloads
    /// the active holds. The new holds.
    pub async fn guard_tick(&self) -> Result<Vec<HoldRecord>, EngineError> {
        let now = self.inner.clock.now_ms();
        let s = &self.inner.settings.guard.pumping;
        let state = &self.inner.guard;
        let tallies = state.tallies.take(now);
        let refusals: Vec<_> = {
            let mut r = lock(&state.refusals);
            let mut out: Vec<_> = r.drain().collect();
            out.sort();
            out
        };
        if let Err(e) = self.inner.store.add_tallies(&tallies, &refusals).await {
            state.tallies.put_back(tallies);
            let mut r = lock(&state.refusals);
            for (k, n) in refusals {
                *r.entry(k).or_default() += n;
            }
            return Err(e.into());
        }
        let mut opened = Vec::new();
        if s.enabled {
            for hold in self.judge(now).await? {
                if let Some(hold) = self.inner.store.open_hold(&hold, &hold_alert).await? {
                    metrics::guard_held(hold.scope.as_str());
                    tracing::warn!(
                        app = hold.app_id,
                        scope = hold.scope.as_str(),
                        subject = %hold.subject,
                        reason = %hold.reason,
                        "sends held: suspected SMS pumping"
                    );
                    opened.push(hold);
                }
            }
        }
        self.reload_holds().await?;
        Ok(opened)
    }

    /// Reads the active holds of every app into this process's set.
    async fn reload_holds(&self) -> Result<(), EngineError> {
        let active = self.inner.store.active_holds().await?;
        *write(&self.inner.guard.holds) = active
            .into_iter()
            .map(|h| (h.app_id, h.scope, h.subject))
            .collect();
        Ok(())
    }

    /// The holds the window calls for. A subject lifted within the window is judged
    /// only on the minutes after its lift.
    async fn judge(&self, now: i64) -> Result<Vec<NewHold>, EngineError> {
        let s = &self.inner.settings.guard.pumping;
        let store = &self.inner.store;
        let start = minute_of(now) + MINUTE_MS - s.window_ms;
        let lifted: HashMap<(i64, Scope, String), i64> = store
            .lifted_since(start)
            .await?
            .into_iter()
            .map(|h| ((h.app_id, h.scope, h.subject), h.lifted_at.unwrap_or(now)))
            .collect();
        let mut windows: HashMap<(i64, Scope, String), Window> = HashMap::new();
        for (
            TallyKey {
                app_id,
                scope,
                subject,
                minute,
            },
            counts,
        ) in store.tallies_since(start).await?
        {
            let key = (app_id, scope, subject);
            if lifted.get(&key).is_some_and(|&at| minute <= minute_of(at)) {
                continue;
            }
            windows.entry(key).or_default().add(s, minute, counts, now);
        }
        let held = read(&self.inner.guard.holds).clone();
        windows.retain(|key, w| w.sent > 0 && !held.contains(key));
        if windows.is_empty() {
            return Ok(Vec::new());
        }
        let baseline = self.baseline(start).await?;
        let mut holds = Vec::new();
        for ((app_id, scope, subject), w) in windows {
            let usual = baseline
                .get(&(app_id, subject.clone()))
                .copied()
                .unwrap_or(0);
            let reason = match scope {
                Scope::Country => judge_country(s, w, usual),
                Scope::Block => judge_block(s, w),
            };
            let Some(reason) = reason else { continue };
            holds.push(NewHold {
                app_id,
                scope,
                detail: json!({
                    "sent": w.sent,
                    "verified": w.verified,
                    "settled_sent": w.settled_sent,
                    "settled_verified": w.settled_verified,
                    "usual_per_day": usual * 86_400_000 / s.baseline_ms.max(1),
                    "window_secs": s.window_ms / 1000,
                })
                .to_string(),
                subject,
                reason: reason.as_str().to_owned(),
                now,
            });
        }
        holds.sort_by(|a, b| (a.app_id, a.scope, &a.subject).cmp(&(b.app_id, b.scope, &b.subject)));
        Ok(holds)
    }

    /// Each country's sends over the baseline before the window starting at `start`.
    async fn baseline(&self, start: i64) -> Result<CountrySends, EngineError> {
        let cached = {
            let cached = lock(&self.inner.guard.baseline);
            cached
                .as_ref()
                .filter(|(at, _)| *at == start)
                .map(|(_, sends)| sends.clone())
        };
        if let Some(sends) = cached {
            return Ok(sends);
        }
        let s = &self.inner.settings.guard.pumping;
        let sends: CountrySends = self
            .inner
            .store
            .country_sends(start - s.baseline_ms, start)
            .await?
            .into_iter()
            .map(|(app, country, sent)| ((app, country), sent))
            .collect();
        *lock(&self.inner.guard.baseline) = Some((start, sends.clone()));
        Ok(sends)
    }

    /// Drops tallies older than the detector reads and refusals older than 30 days.
    pub(crate) async fn purge_guard(&self) -> Result<(), EngineError> {
        let now = self.inner.clock.now_ms();
        let s = &self.inner.settings.guard.pumping;
        let keep = s.window_ms + s.baseline_ms + MINUTE_MS;
        self.inner
            .store
            .purge_guard(now - keep, now - REFUSALS_KEPT_MS)
            .await?;
        Ok(())
    }

    /// What an app's fraud-guard page shows.
    pub(crate) async fn guard_view(&self, app: &AppRecord) -> Result<GuardView, EngineError> {
        let now = self.inner.clock.now_ms();
        let periods = Periods::at(now);
        let store = &self.inner.store;
        let mut spend = store
            .spend(app.app_id, &[periods.day.clone(), periods.month.clone()])
            .await?;
        let month = spend.split_off(spend.partition_point(|r| r.period == periods.day));
        Ok(GuardView {
            budgets: app
                .settings
                .guard
                .budgets
                .over(self.inner.settings.guard.budgets),
            today: spend,
            month,
            holds: store.app_holds(app.app_id, 50).await?,
            refusals: store
                .refusals(app.app_id, now - 24 * 60 * MINUTE_MS)
                .await?,
        })
    }

    /// Lifts one of the app's active holds; `false` when it was not active.
    pub(crate) async fn lift_hold(
        &self,
        app: &AppRecord,
        hold_id: i64,
        by: &str,
    ) -> Result<bool, EngineError> {
        let now = self.inner.clock.now_ms();
        let lifted = self
            .inner
            .store
            .lift_hold(app.app_id, hold_id, by, now)
            .await?;
        if lifted {
            self.reload_holds().await?;
        }
        Ok(lifted)
    }
}
