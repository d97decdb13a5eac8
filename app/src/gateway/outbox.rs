//! The delivery worker: claims due outbox rows with a lease, renders and sends each
//! message, and records what happened.
//!
//! A row is written in the same transaction as its verification (or resend), so nothing
//! the API acknowledged can be lost. The worker leases rows (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL, so instances never wait on each other), sends with the provider's timeout
//! behind a per-provider circuit breaker, fails over along the row's route, retries with
//! exponential backoff and jitter while the code is valid, and dead-letters the rest. A
//! worker that dies leaves its lease to run out; another claims the row (at most one
//! duplicate message). On shutdown it lets sends in flight finish, then gives back what it
//! still holds.

use super::{
    address::Channel,
    clock::Clock,
    clock::{human_duration, secs_until},
    code::{CodeHasher, OtpCode},
    delivery::{DeliveryError, MessageMeta, OutgoingMessage, Providers, Sent, TemplateVars},
    limits::{self, Limit},
    store::{ClaimedDelivery, DeliveryOutcome, Store},
};
use rand::Rng;
use serde_json::json;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::{
    sync::{watch, Notify, Semaphore},
    task::JoinSet,
    time::Instant,
};

/// How the worker paces itself.
#[derive(Debug, Clone)]
pub struct OutboxSettings {
    /// How often to look for due rows when nothing woke the worker.
    pub poll_interval: Duration,
    /// How long a claimed row stays with this worker; longer than any provider timeout.
    pub lease: Duration,
    /// Rows claimed per query.
    pub batch: u32,
    /// Messages in flight at once.
    pub concurrency: usize,
    /// First retry delay; doubles per attempt up to `retry_max`, with jitter.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// Consecutive failures that open a provider's circuit, and how long it stays open.
    pub breaker_failures: u32,
    pub breaker_cooldown: Duration,
    /// How long shutdown waits for sends in flight before giving their rows back.
    pub shutdown_grace: Duration,
}

impl Default for OutboxSettings {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(1),
            lease: Duration::from_secs(60),
            batch: 32,
            concurrency: 64,
            retry_base: Duration::from_secs(2),
            retry_max: Duration::from_secs(120),
            breaker_failures: 5,
            breaker_cooldown: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// The delay before retry number `attempt` (1-based): `base · 2^(attempt-1)`, at most
/// `max`, then a uniformly random point in its upper half so that retries spread out.
pub fn backoff(settings: &OutboxSettings, attempt: u32, rng: &mut impl Rng) -> Duration {
    let exp = settings
        .retry_base
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
        .min(settings.retry_max);
    let half = exp / 2;
    half + half.mul_f64(rng.random::<f64>())
}

/// Where a failed attempt leads: the next provider at once, a later retry, or the end.
pub fn after_failure(
    claimed: &ClaimedDelivery,
    error: &DeliveryError,
    now: i64,
    delay: Duration,
) -> DeliveryOutcome {
    let expires_at = claimed.verification.expires_at;
    let last = claimed.route_index as usize + 1 >= claimed.route.len();
    if !last {
        return DeliveryOutcome::Retry {
            route_index: claimed.route_index + 1,
            next_attempt_at: now,
            error: error.to_string(),
        };
    }
    if error.is_permanent() && claimed.route.len() == 1 {
        return DeliveryOutcome::Closed {
            status: "dead",
            error: error.to_string(),
        };
    }
    let next_attempt_at = now + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2);
    if next_attempt_at >= expires_at {
        return DeliveryOutcome::Closed {
            status: "dead",
            error: format!("{error}; the code expires before the next try"),
        };
    }
    DeliveryOutcome::Retry {
        route_index: 0,
        next_attempt_at,
        error: error.to_string(),
    }
}

/// One provider's circuit: closed while it works, open after repeated failures (calls
/// fail at once, without waiting on it), half-open after the cooldown (one trial call).
#[derive(Debug, Default)]
struct Circuit {
    failures: u32,
    open_until: Option<Instant>,
    trial_in_flight: bool,
}

/// The circuits of all providers, for this process.
#[derive(Debug, Default)]
pub struct Breakers {
    circuits: Mutex<HashMap<String, Circuit>>,
}

impl Breakers {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Circuit>> {
        self.circuits.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a call to `provider` may go ahead now.
    pub fn allow(&self, provider: &str) -> bool {
        let mut all = self.lock();
        let c = all.entry(provider.to_owned()).or_default();
        match c.open_until {
            None => true,
            Some(until) if Instant::now() < until => false,
            Some(_) if c.trial_in_flight => false,
            Some(_) => {
                c.trial_in_flight = true;
                true
            }
        }
    }

    pub fn success(&self, provider: &str) {
        self.lock().insert(provider.to_owned(), Circuit::default());
    }

    /// Counts a failure; opens the circuit at `threshold` or when a trial call fails.
    /// Returns whether the circuit is now open.
    pub fn failure(&self, provider: &str, threshold: u32, cooldown: Duration) -> bool {
        let mut all = self.lock();
        let c = all.entry(provider.to_owned()).or_default();
        c.failures += 1;
        let trial_failed = c.trial_in_flight;
        c.trial_in_flight = false;
        if trial_failed || c.failures >= threshold {
            c.open_until = Some(Instant::now() + cooldown);
            return true;
        }
        false
    }
}

/// What the worker shares with the engine: a wake-up for new rows.
#[derive(Debug, Default)]
pub struct OutboxSignal {
    notify: Notify,
}

impl OutboxSignal {
    /// Wakes the worker: a row was just queued.
    pub fn wake(&self) {
        self.notify.notify_one();
    }
}

/// The worker. One per process; several processes share the table safely.
pub struct Outbox {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) providers: Providers,
    pub(crate) hasher: CodeHasher,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) root_url: String,
    pub(crate) send_cap: Limit,
    pub(crate) signal: Arc<OutboxSignal>,
    pub(crate) settings: OutboxSettings,
    pub(crate) breakers: Breakers,
    /// This worker's lease owner id, random per start.
    pub(crate) owner: String,
}

impl Outbox {
    /// Runs until `shutdown` turns true, then finishes or releases what it holds.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let permits = Arc::new(Semaphore::new(self.settings.concurrency.max(1)));
        let mut tasks = JoinSet::new();
        tracing::info!(owner = %self.owner, "delivery worker started");
        loop {
            self.claim_into(&permits, &mut tasks).await;
            tokio::select! {
                _ = self.signal.notify.notified() => {}
                _ = tokio::time::sleep(self.settings.poll_interval) => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                _ = shutdown.changed() => break,
            }
            while tasks.try_join_next().is_some() {}
        }
        let drained = tokio::time::timeout(self.settings.shutdown_grace, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tasks.abort_all();
        }
        match self
            .store
            .release_deliveries(&self.owner, self.clock.now_ms())
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(released = n, "deliveries given back for another worker"),
            Err(e) => {
                tracing::error!(error = ?e, "could not release deliveries; their leases will run out")
            }
        }
        tracing::info!("delivery worker stopped");
    }

    /// Claims due rows while there is room, starting a task for each.
    async fn claim_into(self: &Arc<Self>, permits: &Arc<Semaphore>, tasks: &mut JoinSet<()>) {
        loop {
            let room = permits
                .available_permits()
                .min(self.settings.batch as usize);
            if room == 0 {
                return;
            }
            let now = self.clock.now_ms();
            let lease_ms = i64::try_from(self.settings.lease.as_millis()).unwrap_or(60_000);
            let claimed = match self
                .store
                .claim_deliveries(&self.owner, now, now + lease_ms, room as u32)
                .await
            {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::error!(error = ?e, "could not claim deliveries");
                    return;
                }
            };
            let full = claimed.len() == room;
            for row in claimed {
                let permit = permits
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed");
                let this = self.clone();
                tasks.spawn(async move {
                    this.attempt(row).await;
                    drop(permit);
                });
            }
            if !full {
                return;
            }
        }
    }

    async fn event(&self, verification_id: i64, kind: &str, detail: serde_json::Value) {
        if let Err(e) = self
            .store
            .record_event(
                verification_id,
                kind,
                &detail.to_string(),
                self.clock.now_ms(),
            )
            .await
        {
            tracing::error!(error = ?e, kind, "could not record a delivery event");
        }
    }

    /// Settles a row; false (and a log line) when the lease was lost meanwhile.
    async fn settle(&self, claimed: &ClaimedDelivery, outcome: &DeliveryOutcome) -> bool {
        match self
            .store
            .settle_delivery(
                claimed.delivery_id,
                &self.owner,
                outcome,
                self.clock.now_ms(),
            )
            .await
        {
            Ok(true) => true,
            Ok(false) => {
                tracing::warn!(
                    delivery = claimed.delivery_id,
                    "lease lost before the outcome was recorded"
                );
                false
            }
            Err(e) => {
                tracing::error!(error = ?e, "could not record a delivery outcome; the lease will run out");
                false
            }
        }
    }

    /// Closes a row that must never be sent, with an event saying why.
    async fn close(&self, claimed: &ClaimedDelivery, status: &'static str, reason: &str) {
        let outcome = DeliveryOutcome::Closed {
            status,
            error: reason.to_owned(),
        };
        if self.settle(claimed, &outcome).await {
            let kind = match status {
                "dead" => "dead_lettered",
                other => other,
            };
            self.event(
                claimed.verification.verification_id,
                kind,
                json!({ "reason": reason, "attempts": claimed.attempts }),
            )
            .await;
        }
    }

    /// Renders the message for `provider_id` and hands it over, behind the provider's
    /// circuit breaker and timeout.
    async fn send(
        &self,
        claimed: &ClaimedDelivery,
        provider_id: &str,
        code: OtpCode,
        now: i64,
    ) -> Result<Sent, DeliveryError> {
        let provider = self.providers.get(provider_id).ok_or_else(|| {
            DeliveryError::Rejected(format!("provider {provider_id:?} is not configured"))
        })?;
        if !self.breakers.allow(provider_id) {
            return Err(DeliveryError::Unavailable(format!(
                "{provider_id}: circuit open after repeated failures"
            )));
        }
        let to = provider.parse_address(&claimed.address).map_err(|e| {
            DeliveryError::Rejected(format!("{provider_id} cannot reach this address: {e}"))
        })?;
        let v = &claimed.verification;
        let ttl_secs = secs_until(v.expires_at, now).max(1);
        let url = format!(
            "{}/otp/{}/{}",
            self.root_url, claimed.namespace, v.public_id
        );
        let channel = Channel::parse(&v.channel).unwrap_or(Channel::Other);
        let rendered = provider.templates().render(
            &v.locale,
            &TemplateVars {
                to: to.as_str(),
                namespace: &claimed.namespace,
                app_name: &claimed.app_name,
                channel: channel.label(),
                otp: code.expose(),
                otp_url: &url,
                otp_link: &format!("{url}?code={}", code.expose()),
                otp_ttl: &human_duration(ttl_secs),
            },
        );
        let message = OutgoingMessage {
            to,
            subject: rendered.subject,
            text: rendered.text,
            html: rendered.html,
            meta: MessageMeta {
                namespace: claimed.namespace.clone(),
                id: v.public_id.clone(),
                provider: v.provider.clone(),
                code,
                channel_description: v.channel_description.clone(),
                address_description: v.address_description.clone(),
                extra: v.extra.clone(),
                attempts: v.attempts,
                max_attempts: v.max_attempts,
                sends: v.sends,
                max_sends: v.max_sends,
                ttl_secs,
            },
        };
        let timeout = provider.timeout();
        let outcome = tokio::time::timeout(timeout, provider.send(&message))
            .await
            .unwrap_or_else(|_| {
                Err(DeliveryError::Unavailable(format!(
                    "{provider_id} did not answer within {timeout:?}"
                )))
            });
        match &outcome {
            Err(DeliveryError::Unavailable(_)) => {
                let (threshold, cooldown) = (
                    self.settings.breaker_failures,
                    self.settings.breaker_cooldown,
                );
                if self.breakers.failure(provider_id, threshold, cooldown) {
                    tracing::warn!(provider = %provider_id, "circuit open");
                }
            }
            // A refused message says nothing about the provider's health.
            Ok(_) | Err(DeliveryError::Rejected(_)) => self.breakers.success(provider_id),
        }
        outcome
    }

    /// One try of one row.
    #[tracing::instrument(skip_all, fields(delivery = claimed.delivery_id, attempt = claimed.attempts))]
    async fn attempt(&self, claimed: ClaimedDelivery) {
        let v = &claimed.verification;
        let now = self.clock.now_ms();
        if v.status != crate::model::Status::Pending {
            let reason = format!("the verification is {}", v.status.as_str());
            let outcome = DeliveryOutcome::Closed {
                status: "dropped",
                error: reason,
            };
            self.settle(&claimed, &outcome).await;
            return;
        }
        if v.expires_at <= now {
            self.close(&claimed, "dead", "the code expired before it could be sent")
                .await;
            return;
        }
        if claimed.attempts == 1 && claimed.route_index == 0 {
            let key = limits::key(
                "send_addr",
                v.app_id,
                &limits::address_subject(&claimed.address),
            );
            let (window, _) = self.send_cap.window(now);
            match self.store.hit(&key, window, 1).await {
                Ok(n) if n > self.send_cap.max => {
                    tracing::warn!("per-address send cap reached; message suppressed");
                    self.close(&claimed, "suppressed", "per-address send cap")
                        .await;
                    return;
                }
                Ok(_) => {}
                Err(e) => {
                    // Without the cap the message must not go out; the lease runs out and
                    // the row is tried again.
                    tracing::error!(error = ?e, "send cap unavailable; delivery postponed");
                    return;
                }
            }
        }
        let Some(code) = v
            .code_sealed
            .as_deref()
            .and_then(|sealed| self.hasher.open(&claimed.namespace, &v.public_id, sealed))
        else {
            self.close(&claimed, "dead", "the code cannot be unsealed")
                .await;
            return;
        };
        let provider_id = claimed
            .route
            .get(claimed.route_index as usize)
            .cloned()
            .unwrap_or_default();
        let result = self.send(&claimed, &provider_id, code, now).await;
        let now = self.clock.now_ms();
        match result {
            Ok(sent) => {
                let outcome = DeliveryOutcome::Sent {
                    provider: provider_id.clone(),
                    message_id: sent.message_id.clone(),
                };
                if self.settle(&claimed, &outcome).await {
                    tracing::info!(provider = %provider_id, "message sent");
                    self.event(
                        v.verification_id,
                        "sent",
                        json!({
                            "provider": provider_id,
                            "message_id": sent.message_id,
                            "attempt": claimed.attempts,
                        }),
                    )
                    .await;
                }
            }
            Err(error) => {
                tracing::warn!(provider = %provider_id, error = %error, "delivery attempt failed");
                let delay = backoff(&self.settings, claimed.attempts, &mut rand::rng());
                let outcome = after_failure(&claimed, &error, now, delay);
                if !self.settle(&claimed, &outcome).await {
                    return;
                }
                let mut detail = json!({
                    "provider": provider_id,
                    "error": error.to_string(),
                    "attempt": claimed.attempts,
                });
                match &outcome {
                    DeliveryOutcome::Retry {
                        route_index,
                        next_attempt_at,
                        ..
                    } => {
                        detail["next_provider"] = json!(claimed.route[*route_index as usize]);
                        detail["retry_in_ms"] = json!(next_attempt_at - now);
                        self.event(v.verification_id, "send_failed", detail).await;
                    }
                    DeliveryOutcome::Closed { error, .. } => {
                        self.event(v.verification_id, "send_failed", detail).await;
                        self.event(
                            v.verification_id,
                            "dead_lettered",
                            json!({ "reason": error, "attempts": claimed.attempts }),
                        )
                        .await;
                    }
                    DeliveryOutcome::Sent { .. } => unreachable!("a failure is never sent"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::store::VerificationRecord;

    fn claimed(route: &[&str], index: u32, expires_at: i64) -> ClaimedDelivery {
        ClaimedDelivery {
            delivery_id: 1,
            route: route.iter().map(|s| s.to_string()).collect(),
            route_index: index,
            attempts: 1,
            address: "+14155550100".into(),
            verification: VerificationRecord {
                provider: route[0].into(),
                channel: "sms".into(),
                address: "+14155550100".into(),
                max_sends: 5,
                expires_at,
                ..VerificationRecord::sample(1, "x")
            },
            namespace: "demo".into(),
            app_name: "Demo".into(),
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_and_stays_under_the_cap() {
        let s = OutboxSettings {
            retry_base: Duration::from_secs(2),
            retry_max: Duration::from_secs(60),
            ..OutboxSettings::default()
        };
        let mut rng = rand::rng();
        for attempt in 1..=12u32 {
            let full = Duration::from_secs(2 * 2u64.pow(attempt - 1)).min(Duration::from_secs(60));
            for _ in 0..50 {
                let d = backoff(&s, attempt, &mut rng);
                assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
            }
        }
        let spread: std::collections::HashSet<_> =
            (0..20).map(|_| backoff(&s, 3, &mut rng)).collect();
        assert!(spread.len() > 1, "jitter spreads retries");
    }

    #[test]
    fn failures_fall_over_then_back_off_then_dead_letter() {
        let unavailable = DeliveryError::Unavailable("500".into());
        let rejected = DeliveryError::Rejected("400".into());
        let delay = Duration::from_secs(4);
        // The next provider at once.
        let c = claimed(&["a", "b"], 0, 100_000);
        assert_eq!(
            after_failure(&c, &unavailable, 1_000, delay),
            DeliveryOutcome::Retry {
                route_index: 1,
                next_attempt_at: 1_000,
                error: unavailable.to_string()
            }
        );
        // The last provider failed: back to the first, later.
        let c = claimed(&["a", "b"], 1, 100_000);
        assert!(matches!(
            after_failure(&c, &unavailable, 1_000, delay),
            DeliveryOutcome::Retry {
                route_index: 0,
                next_attempt_at: 5_000,
                ..
            }
        ));
        // A refusal with nowhere else to go is final.
        let c = claimed(&["a"], 0, 100_000);
        assert!(matches!(
            after_failure(&c, &rejected, 1_000, delay),
            DeliveryOutcome::Closed { status: "dead", .. }
        ));
        // A retry that would land after expiry is a dead letter instead.
        let c = claimed(&["a"], 0, 4_000);
        assert!(matches!(
            after_failure(&c, &unavailable, 1_000, delay),
            DeliveryOutcome::Closed { status: "dead", .. }
        ));
    }

    #[tokio::test]
    async fn circuits_open_after_failures_and_let_one_trial_through_after_cooldown() {
        let b = Breakers::default();
        let cooldown = Duration::from_millis(50);
        assert!(b.allow("p"));
        assert!(!b.failure("p", 3, cooldown));
        assert!(!b.failure("p", 3, cooldown));
        assert!(b.failure("p", 3, cooldown));
        assert!(!b.allow("p"), "open");
        assert!(b.allow("q"), "circuits are per provider");
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(b.allow("p"), "half-open: one trial");
        assert!(!b.allow("p"), "only one trial at a time");
        assert!(b.failure("p", 3, cooldown), "a failed trial reopens");
        assert!(!b.allow("p"));
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(b.allow("p"));
        b.success("p");
        assert!(b.allow("p") && b.allow("p"), "closed again");
    }
}
