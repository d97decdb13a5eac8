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

mod breaker;
mod policy;
mod templates;
pub mod webhooks;

pub use breaker::Breakers;
pub use policy::{after_failure, backoff, OutboxSettings};
pub(crate) use templates::TemplateBook;

use crate::gateway::{
    address::Channel,
    clock::{human_duration, secs_until, Clock},
    code::{CodeHasher, OtpCode},
    delivery::{DeliveryError, MessageMeta, OutgoingMessage, Sent, TemplateVars, DEV_INBOX},
    limits::{self, Limit},
    metrics,
    providers::ProviderBook,
    store::{ClaimedDelivery, DeliveryOutcome, DevMessage, Store, StoreError},
};
use serde_json::json;
use std::sync::Arc;
use tokio::{
    sync::{watch, Notify, Semaphore},
    task::JoinSet,
};

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
    pub(crate) providers: Arc<ProviderBook>,
    pub(crate) hasher: CodeHasher,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) root_url: String,
    pub(crate) send_cap: Limit,
    pub(crate) signal: Arc<OutboxSignal>,
    pub(crate) settings: OutboxSettings,
    pub(crate) breakers: Breakers,
    /// Apps' own templates, compiled, by revision.
    pub(crate) templates: TemplateBook,
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
            // A finished task keeps its memory until it is joined; with a backlog this
            // loop may not return for a long time, so it joins them itself.
            while tasks.try_join_next().is_some() {}
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
            let counted = self.count_sends(&claimed, now).await;
            if let Err(e) = &counted {
                tracing::error!(error = ?e, "send cap unavailable; deliveries postponed");
            }
            for (i, row) in claimed.into_iter().enumerate() {
                let sends = match &counted {
                    Ok(sends) => sends[i],
                    // Without the cap this message must not go out; its lease runs out and
                    // the row is tried again.
                    Err(_) if Self::capped(&row, now) => continue,
                    Err(_) => None,
                };
                self.spawn_attempt(permits, tasks, row, sends).await;
            }
            if !full {
                return;
            }
        }
    }

    /// Starts one row's attempt as a task, once there is room for it.
    async fn spawn_attempt(
        self: &Arc<Self>,
        permits: &Arc<Semaphore>,
        tasks: &mut JoinSet<()>,
        row: ClaimedDelivery,
        sends: Option<i64>,
    ) {
        let permit = permits
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let this = self.clone();
        tasks.spawn(async move {
            this.attempt(row, sends).await;
            drop(permit);
        });
    }

    /// Whether `claimed` is still to be counted against the per-address send cap: a
    /// pending, unexpired verification's message not counted yet (each message counts
    /// once, whichever claim of it, retry or route that sends it).
    fn capped(claimed: &ClaimedDelivery, now: i64) -> bool {
        let v = &claimed.verification;
        v.status == crate::model::Status::Pending && v.expires_at > now && !claimed.send_counted
    }

    /// Counts the claimed rows that go against the per-address send cap, all in one write
    /// that also marks them counted: for each row, its address's sends in the window with
    /// it (`None` when it does not count).
    async fn count_sends(
        &self,
        claimed: &[ClaimedDelivery],
        now: i64,
    ) -> Result<Vec<Option<i64>>, StoreError> {
        let (keys, ids): (Vec<String>, Vec<i64>) = claimed
            .iter()
            .filter(|row| Self::capped(row, now))
            .map(|row| {
                let key = limits::key(
                    "send_addr",
                    row.verification.app_id,
                    &limits::address_subject(&row.address),
                );
                (key, row.delivery_id)
            })
            .unzip();
        let (window, _) = self.send_cap.window(now);
        let mut totals = self
            .store
            .count_sends(&keys, window, &ids)
            .await?
            .into_iter();
        Ok(claimed
            .iter()
            .map(|row| Self::capped(row, now).then(|| totals.next()).flatten())
            .collect())
    }

    /// Settles a row and records `events` (kind, detail) of its verification with it; false
    /// (and a log line) when the lease was lost meanwhile.
    async fn settle(
        &self,
        claimed: &ClaimedDelivery,
        outcome: &DeliveryOutcome,
        events: &[(&str, serde_json::Value)],
    ) -> bool {
        let details: Vec<String> = events.iter().map(|(_, d)| d.to_string()).collect();
        let events: Vec<(&str, &str)> = events
            .iter()
            .zip(&details)
            .map(|((kind, _), detail)| (*kind, detail.as_str()))
            .collect();
        match self
            .store
            .settle_delivery(
                claimed.delivery_id,
                &self.owner,
                outcome,
                &events,
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
        let kind = match status {
            "dead" => "dead_lettered",
            other => other,
        };
        let detail = json!({ "reason": reason, "attempts": claimed.attempts });
        self.settle(claimed, &outcome, &[(kind, detail)]).await;
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
        let v = &claimed.verification;
        // A message for the dev inbox is written by the verification's own provider.
        let captured = provider_id == DEV_INBOX;
        let writer = if captured { &v.provider } else { provider_id };
        let own = self
            .providers
            .own(v.app_id, claimed.providers_rev)
            .await
            .map_err(|e| {
                DeliveryError::Unavailable(format!("the app's providers are unavailable: {e}"))
            })?;
        let server = self.providers.server();
        let provider = own
            .get(writer)
            .or_else(|| server.get(writer))
            .ok_or_else(|| {
                DeliveryError::Rejected(format!("provider {writer:?} is not configured"))
            })?;
        // An app's own provider has a breaker of its own: another app's account failing
        // says nothing about it.
        let breaker = if own.contains_key(provider_id) {
            format!("{}/{provider_id}", v.app_id)
        } else {
            provider_id.to_owned()
        };
        if !captured && !self.breakers.allow(&breaker) {
            return Err(DeliveryError::Unavailable(format!(
                "{provider_id}: circuit open after repeated failures"
            )));
        }
        let to = provider.parse_address(&claimed.address).map_err(|e| {
            DeliveryError::Rejected(format!("{provider_id} cannot reach this address: {e}"))
        })?;
        let ttl_secs = secs_until(v.expires_at, now).max(1);
        let url = format!(
            "{}/otp/{}/{}",
            self.root_url, claimed.namespace, v.public_id
        );
        let channel = Channel::parse(&v.channel).unwrap_or(Channel::Other);
        let own = self.own_templates(v.app_id, claimed.templates_rev).await?;
        let own = own.pick(&v.channel, &v.locale);
        let rendered = provider.templates().render_with(
            own,
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
        if captured {
            return self.capture(claimed, &message, now).await;
        }
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
                if self.breakers.failure(&breaker, threshold, cooldown) {
                    tracing::warn!(provider = %provider_id, "circuit open");
                }
            }
            // A refused message says nothing about the provider's health.
            Ok(_) | Err(DeliveryError::Rejected(_)) => self.breakers.success(&breaker),
        }
        outcome
    }

    /// The app's own templates at revision `rev` (none at 0): compiled already, or read
    /// and compiled now. Templates are checked when saved; one that no longer compiles is logged and
    /// skipped (the provider's is used).
    async fn own_templates(
        &self,
        app_id: i64,
        rev: i64,
    ) -> Result<Arc<templates::AppTemplates>, DeliveryError> {
        self.templates
            .get_or_build(app_id, rev, || async {
                let stored = self.store.app_templates(app_id).await?;
                Ok(templates::AppTemplates::compile(stored))
            })
            .await
            .map_err(|e: StoreError| {
                DeliveryError::Unavailable(format!("the app's templates are unavailable: {e}"))
            })
    }

    /// Keeps a message in its app's dev inbox: it never leaves the machine.
    async fn capture(
        &self,
        claimed: &ClaimedDelivery,
        message: &OutgoingMessage,
        now: i64,
    ) -> Result<Sent, DeliveryError> {
        let v = &claimed.verification;
        let kept = DevMessage {
            dev_message_id: 0,
            app_id: v.app_id,
            public_id: v.public_id.clone(),
            provider: v.provider.clone(),
            channel: v.channel.clone(),
            address: message.to.to_string(),
            subject: message.subject.clone(),
            body: message.text.clone(),
            created_at: now,
        };
        match self.store.capture_message(&kept).await {
            Ok(id) => Ok(Sent {
                message_id: Some(format!("dev-{id}")),
            }),
            Err(e) => Err(DeliveryError::Unavailable(format!(
                "the dev inbox is unavailable: {e}"
            ))),
        }
    }

    /// One try of one row; `sends` is its address's count against the send cap when it
    /// counts (see [`capped`](Self::capped)).
    #[tracing::instrument(skip_all, fields(delivery = claimed.delivery_id, attempt = claimed.attempts))]
    async fn attempt(&self, claimed: ClaimedDelivery, sends: Option<i64>) {
        let v = &claimed.verification;
        let now = self.clock.now_ms();
        if v.status != crate::model::Status::Pending {
            let reason = format!("the verification is {}", v.status.as_str());
            let outcome = DeliveryOutcome::Closed {
                status: "dropped",
                error: reason,
            };
            self.settle(&claimed, &outcome, &[]).await;
            return;
        }
        if v.expires_at <= now {
            self.close(&claimed, "dead", "the code expired before it could be sent")
                .await;
            return;
        }
        if sends.is_some_and(|n| n > self.send_cap.max) {
            tracing::warn!("per-address send cap reached; message suppressed");
            self.close(&claimed, "suppressed", "per-address send cap")
                .await;
            return;
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
                let detail = json!({
                    "provider": provider_id,
                    "message_id": sent.message_id,
                    "attempt": claimed.attempts,
                });
                if self.settle(&claimed, &outcome, &[("sent", detail)]).await {
                    tracing::info!(provider = %provider_id, "message sent");
                    metrics::message_sent(&provider_id);
                }
            }
            Err(error) => {
                tracing::warn!(provider = %provider_id, error = %error, "delivery attempt failed");
                metrics::message_failed(&provider_id, error.class());
                let delay = backoff(&self.settings, claimed.attempts, &mut rand::rng());
                let outcome = after_failure(&claimed, &error, now, delay);
                let mut detail = json!({
                    "provider": provider_id,
                    "class": error.class(),
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
                        self.settle(&claimed, &outcome, &[("send_failed", detail)])
                            .await;
                    }
                    DeliveryOutcome::Closed { error, .. } => {
                        let dead = json!({ "reason": error, "attempts": claimed.attempts });
                        let events = [("send_failed", detail), ("dead_lettered", dead)];
                        self.settle(&claimed, &outcome, &events).await;
                    }
                    DeliveryOutcome::Sent { .. } => unreachable!("a failure is never sent"),
                }
            }
        }
    }
}
