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
    store::{ClaimedDelivery, DeliveryOutcome, DevMessage, Lease, Store, StoreError},
};
use serde_json::json;
use std::{
    collections::VecDeque,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
};
use tokio::{
    sync::{watch, Notify, OwnedSemaphorePermit, Semaphore},
    task::JoinSet,
};

/// What the worker shares with the engine: a wake-up for rows queued for a claim, and the
/// hand-off of rows a create leased to this process's worker as it wrote them, which the
/// worker sends without claiming (no claim, no read of the row back, one write less for
/// each message, and no wait for the next claim before it goes out).
#[derive(Debug, Default)]
pub struct OutboxSignal {
    notify: Notify,
    /// Rows handed over since the worker last looked.
    handed_notify: Notify,
    /// The running worker's lease owner and lease length (ms); `None` while none runs in
    /// this process (then nothing is leased at insert).
    worker: std::sync::RwLock<Option<(String, i64)>>,
    /// Rows leased at insert and handed over, waiting for room to send.
    handed: Mutex<VecDeque<Handed>>,
    /// Leases promised to creates still writing.
    promised: AtomicUsize,
    /// The most rows waiting in `handed` with those promised; past it a create's row is
    /// queued for a claim instead.
    room: AtomicUsize,
}

/// A row handed over by its create: its lease's end, and the code the create sealed into
/// it, which the worker then need not open again.
#[derive(Debug)]
struct Handed {
    row: ClaimedDelivery,
    until: i64,
    code: OtpCode,
}

/// A lease promised to one create's outbox row (see [`OutboxSignal::lease`]); given back
/// when dropped, whether or not the row was handed over.
pub struct Promise<'a> {
    signal: &'a OutboxSignal,
    pub lease: Lease,
}

impl Drop for Promise<'_> {
    fn drop(&mut self) {
        self.signal.promised.fetch_sub(1, Ordering::AcqRel);
    }
}

impl OutboxSignal {
    /// Wakes the worker: a row was just queued for a claim.
    pub fn wake(&self) {
        self.notify.notify_one();
    }

    /// A lease for a create's outbox row, for this process's worker, which the create
    /// hands the row to once it is written ([`hand`](Self::hand)); `None` when no worker
    /// runs here or enough rows wait for one already.
    pub fn lease(&self, now: i64) -> Option<Promise<'_>> {
        let (owner, lease_ms) = self.worker.read().expect("never poisoned").clone()?;
        let waiting = self.handed.lock().expect("never poisoned").len();
        let promised = self.promised.fetch_add(1, Ordering::AcqRel);
        let promise = Promise {
            signal: self,
            lease: Lease {
                owner,
                until: now + lease_ms,
                count: None,
            },
        };
        (waiting + promised < self.room.load(Ordering::Acquire)).then_some(promise)
    }

    /// Hands the worker a row leased to it as it was written, with the code sealed into
    /// it.
    pub fn hand(&self, leased: ClaimedDelivery, code: OtpCode, promise: Promise<'_>) {
        let until = promise.lease.until;
        self.handed
            .lock()
            .expect("never poisoned")
            .push_back(Handed {
                row: leased,
                until,
                code,
            });
        drop(promise);
        self.handed_notify.notify_one();
    }

    /// Up to `most` handed rows, oldest first, leaving out any whose lease is half gone:
    /// that one waited too long, and the claims take it up again once its lease is out,
    /// so it is never sent twice at once.
    fn take(&self, most: usize, now: i64, lease_ms: i64) -> Vec<(ClaimedDelivery, OtpCode)> {
        let mut handed = self.handed.lock().expect("never poisoned");
        let n = most.min(handed.len());
        handed
            .drain(..n)
            .filter(|h| h.until > now + lease_ms / 2)
            .map(|h| (h.row, h.code))
            .collect()
    }

    /// The worker `owner` runs with leases of `lease_ms` and room for `room` rows at once.
    fn started(&self, owner: &str, lease_ms: i64, room: usize) {
        self.room.store(room, Ordering::Release);
        *self.worker.write().expect("never poisoned") = Some((owner.to_owned(), lease_ms));
    }

    /// The worker stops: nothing more is leased to it.
    fn stopping(&self) {
        *self.worker.write().expect("never poisoned") = None;
    }
}

/// What became of an attempt's message.
enum Handled {
    /// A provider accepted it.
    Sent(Sent),
    /// For the app's dev inbox: kept there with the row's outcome.
    Kept(DevMessage),
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

/// What one of the worker's tasks ended with.
enum Done {
    /// A message's attempt.
    Attempt,
    /// Rows made ready to send (claimed, or counted against the send cap), each with its
    /// room and its address's sends when it counts; `claim` when they came from a claim.
    Ready {
        rows: Vec<(ClaimedDelivery, Option<i64>, OwnedSemaphorePermit)>,
        claim: Option<Claimed>,
    },
}

/// How a claim went.
#[derive(Clone, Copy, PartialEq)]
enum Claimed {
    /// It filled the room it had: rows may be left behind.
    Full,
    /// It took every due row (or failed; the poll tries again).
    All,
}

/// The worker's tasks and the room they share.
struct Tasks {
    set: JoinSet<Done>,
    /// One per message in flight (or being made ready), `concurrency` in all.
    room: Arc<Semaphore>,
    /// The task of the claim under way (one at a time).
    claiming: Option<tokio::task::Id>,
    /// A claim was wanted while one was under way: another follows it.
    again: bool,
    /// The last claim left rows behind, or there was no room for one.
    behind: bool,
}

impl Tasks {
    /// Up to `most` of the free room, taken.
    fn take_room(&self, most: usize) -> Vec<OwnedSemaphorePermit> {
        let n = self.room.available_permits().min(most);
        // Only the worker's loop takes room, so what it saw free is still free.
        (0..n)
            .map_while(|_| self.room.clone().try_acquire_owned().ok())
            .collect()
    }
}

impl Outbox {
    /// Runs until `shutdown` turns true, then finishes or releases what it holds.
    ///
    /// The loop itself never waits for the database: a claim, and a count against the
    /// send cap, run as tasks of their own with the room they will send in taken up
    /// front, so rows handed over by creates start while a claim commits.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let room = self.settings.concurrency.max(1);
        let mut tasks = Tasks {
            set: JoinSet::new(),
            room: Arc::new(Semaphore::new(room)),
            claiming: None,
            again: false,
            behind: false,
        };
        let lease_ms = self.lease_ms();
        self.signal.started(&self.owner, lease_ms, room);
        tracing::info!(owner = %self.owner, "delivery worker started");
        // Whether to claim: at start, when a row was queued for a claim, on each poll (a
        // retry comes due), and after a send while the last claim left rows behind.
        let mut claim = true;
        // Its own timer: hand-offs wake the worker far more often than it polls.
        let mut poll = tokio::time::interval(self.settings.poll_interval);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            self.take_handed(&mut tasks);
            if claim {
                self.start_claim(&mut tasks);
            }
            claim = tokio::select! {
                _ = self.signal.notify.notified() => true,
                _ = self.signal.handed_notify.notified() => false,
                _ = poll.tick() => true,
                Some(done) = tasks.set.join_next(), if !tasks.set.is_empty() => {
                    self.finished(&mut tasks, done)
                }
                _ = shutdown.changed() => break,
            };
            // Finished tasks keep their memory until joined.
            while let Some(done) = tasks.set.try_join_next() {
                claim |= self.finished(&mut tasks, done);
            }
        }
        self.signal.stopping();
        // Rows made ready and not started are dropped here, leased: released below.
        let drained = tokio::time::timeout(self.settings.shutdown_grace, async {
            while tasks.set.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tasks.set.abort_all();
        }
        // Rows still handed over are leased to this worker: released with the rest.
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

    fn lease_ms(&self) -> i64 {
        i64::try_from(self.settings.lease.as_millis()).unwrap_or(60_000)
    }

    /// A task ended: the rows it made ready start; whether to claim now.
    fn finished(
        self: &Arc<Self>,
        tasks: &mut Tasks,
        done: Result<Done, tokio::task::JoinError>,
    ) -> bool {
        match done {
            Ok(Done::Ready { rows, claim }) => {
                for (row, sends, permit) in rows {
                    self.spawn_attempt(tasks, row, sends, None, permit);
                }
                match claim {
                    Some(claimed) => {
                        tasks.claiming = None;
                        tasks.behind = claimed == Claimed::Full;
                        tasks.behind || std::mem::take(&mut tasks.again)
                    }
                    None => tasks.behind,
                }
            }
            Ok(Done::Attempt) => tasks.behind,
            Err(e) => {
                tracing::error!(error = %e, "a delivery task failed");
                // A claim that failed so is followed by the next poll's.
                if tasks.claiming == Some(e.id()) {
                    tasks.claiming = None;
                }
                false
            }
        }
    }

    /// Starts the rows handed over by creates while there is room (the rest wait for it;
    /// while rows wait for a claim, half the free room is left to the claims, so the
    /// oldest rows are not held back for as long as creates keep coming); those still to
    /// be counted against the send cap are counted first, by a task.
    fn take_handed(self: &Arc<Self>, tasks: &mut Tasks) {
        let free = tasks.room.available_permits();
        let mut most = if tasks.behind { free / 2 } else { free };
        while most > 0 {
            let now = self.clock.now_ms();
            // The rows first, then room for just those: each permit taken and given back
            // unused would cost the semaphore's lock.
            let handed = self.signal.take(most, now, self.lease_ms());
            if handed.is_empty() {
                return;
            }
            let room = tasks.take_room(handed.len());
            debug_assert_eq!(room.len(), handed.len(), "only this loop takes room");
            metrics::outbox_taken("handed", handed.len());
            most -= room.len();
            if handed.iter().any(|(row, _)| Self::capped(row, now)) {
                // Rare (a row not counted with its insert): these open their codes again.
                let rows = handed.into_iter().map(|(row, _)| row).collect();
                let this = self.clone();
                tasks
                    .set
                    .spawn(async move { this.ready(rows, room, None, now).await });
            } else {
                for ((row, code), permit) in handed.into_iter().zip(room) {
                    let sends = row.sends;
                    self.spawn_attempt(tasks, row, sends, Some(code), permit);
                }
            }
        }
    }

    /// Claims due rows, as a task, for the room free now (up to a batch); another claim
    /// follows one under way instead.
    fn start_claim(self: &Arc<Self>, tasks: &mut Tasks) {
        if tasks.claiming.is_some() {
            tasks.again = true;
            return;
        }
        let room = tasks.take_room(self.settings.batch as usize);
        if room.is_empty() {
            // Claimed once a send ends.
            tasks.behind = true;
            return;
        }
        let this = self.clone();
        let claim = tasks.set.spawn(async move {
            let now = this.clock.now_ms();
            let until = now + this.lease_ms();
            let claimed = match this
                .store
                .claim_deliveries(&this.owner, now, until, room.len() as u32)
                .await
            {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::error!(error = ?e, "could not claim deliveries");
                    Vec::new()
                }
            };
            let full = if claimed.len() == room.len() {
                Claimed::Full
            } else {
                Claimed::All
            };
            metrics::outbox_taken("claimed", claimed.len());
            this.ready(claimed, room, Some(full), now).await
        });
        tasks.claiming = Some(claim.id());
    }

    /// Counts `rows` (leased to this worker) against the send cap: the rows ready to
    /// send, each with one of `room`.
    async fn ready(
        &self,
        rows: Vec<ClaimedDelivery>,
        room: Vec<OwnedSemaphorePermit>,
        claim: Option<Claimed>,
        now: i64,
    ) -> Done {
        let counted = self.count_sends(&rows, now).await;
        if let Err(e) = &counted {
            tracing::error!(error = ?e, "send cap unavailable; deliveries postponed");
        }
        let rows = rows
            .into_iter()
            .zip(room)
            .enumerate()
            .filter_map(|(i, (row, permit))| {
                let sends = match &counted {
                    // Counted with its row, or now.
                    Ok(sends) => sends[i].or(row.sends),
                    // Without the cap this message must not go out; its lease runs out
                    // and the row is tried again.
                    Err(_) if Self::capped(&row, now) => return None,
                    Err(_) => row.sends,
                };
                Some((row, sends, permit))
            })
            .collect();
        Done::Ready { rows, claim }
    }

    /// Starts one row's attempt as a task, in the room `permit` holds for it.
    fn spawn_attempt(
        self: &Arc<Self>,
        tasks: &mut Tasks,
        row: ClaimedDelivery,
        sends: Option<i64>,
        code: Option<OtpCode>,
        permit: OwnedSemaphorePermit,
    ) {
        let this = self.clone();
        tasks.set.spawn(async move {
            this.attempt(row, sends, code).await;
            drop(permit);
            Done::Attempt
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
                let key = limits::send_key(row.verification.app_id, &row.address);
                (key, row.delivery_id)
            })
            .unzip();
        if keys.is_empty() {
            return Ok(vec![None; claimed.len()]);
        }
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
        self.settle_with(claimed, outcome, events, None).await
    }

    /// As [`settle`](Self::settle), keeping `kept`, if any, in the app's dev inbox with the
    /// outcome.
    async fn settle_with(
        &self,
        claimed: &ClaimedDelivery,
        outcome: &DeliveryOutcome,
        events: &[(&str, serde_json::Value)],
        kept: Option<&DevMessage>,
    ) -> bool {
        let details: Vec<String> = events.iter().map(|(_, d)| d.to_string()).collect();
        let events: Vec<(&str, &str)> = events
            .iter()
            .zip(&details)
            .map(|((kind, _), detail)| (*kind, detail.as_str()))
            .collect();
        match self
            .store
            .settle_keeping(
                claimed.delivery_id,
                &self.owner,
                outcome,
                kept,
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
    /// circuit breaker and timeout; or, for the dev inbox, answers the message to keep.
    async fn send(
        &self,
        claimed: &ClaimedDelivery,
        provider_id: &str,
        code: OtpCode,
        now: i64,
    ) -> Result<Handled, DeliveryError> {
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
            return Ok(Handled::Kept(Self::keep(claimed, &message, now)));
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
            Err(DeliveryError::Unavailable(_) | DeliveryError::Throttled(..)) => {
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
        outcome.map(Handled::Sent)
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

    /// The dev inbox's copy of a message, kept with the row's outcome: it never leaves
    /// the machine.
    fn keep(claimed: &ClaimedDelivery, message: &OutgoingMessage, now: i64) -> DevMessage {
        let v = &claimed.verification;
        DevMessage {
            dev_message_id: 0,
            app_id: v.app_id,
            public_id: v.public_id.clone(),
            provider: v.provider.clone(),
            channel: v.channel.clone(),
            address: message.to.to_string(),
            subject: message.subject.clone(),
            body: message.text.clone(),
            created_at: now,
        }
    }

    /// One try of one row; `sends` is its address's count against the send cap when it
    /// counts (see [`capped`](Self::capped)).
    #[tracing::instrument(skip_all, fields(delivery = claimed.delivery_id, attempt = claimed.attempts))]
    async fn attempt(&self, claimed: ClaimedDelivery, sends: Option<i64>, code: Option<OtpCode>) {
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
        // A row handed over by its create comes with its code; a claimed one opens it.
        let code = code.or_else(|| {
            v.code_sealed
                .as_deref()
                .and_then(|sealed| self.hasher.open(&claimed.namespace, &v.public_id, sealed))
        });
        let Some(code) = code else {
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
            Ok(handled) => {
                let (message_id, kept) = match handled {
                    Handled::Sent(sent) => (sent.message_id, None),
                    Handled::Kept(kept) => {
                        (Some(format!("dev-{}", claimed.delivery_id)), Some(kept))
                    }
                };
                let outcome = DeliveryOutcome::Sent {
                    provider: provider_id.clone(),
                    message_id: message_id.clone(),
                };
                let detail = json!({
                    "provider": provider_id,
                    "message_id": message_id,
                    "attempt": claimed.attempts,
                });
                let events = [("sent", detail)];
                if self
                    .settle_with(&claimed, &outcome, &events, kept.as_ref())
                    .await
                {
                    tracing::info!(provider = %provider_id, "message sent");
                    metrics::message_sent(&provider_id);
                }
            }
            Err(error) => {
                tracing::warn!(provider = %provider_id, error = %error, "delivery attempt failed");
                metrics::message_failed(&provider_id, error.class());
                // Not before a throttling provider said it would take messages again.
                let delay = backoff(&self.settings, claimed.attempts, &mut rand::rng())
                    .max(error.retry_after().unwrap_or_default());
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::store::VerificationRecord;

    fn row(delivery_id: i64) -> ClaimedDelivery {
        ClaimedDelivery {
            delivery_id,
            route: vec!["console".into()],
            route_index: 0,
            attempts: 1,
            send_counted: false,
            sends: None,
            address: "ana@example.com".into(),
            verification: VerificationRecord::sample(delivery_id, "v"),
            namespace: "demo".into(),
            app_name: "Demo".into(),
            providers_rev: 0,
            templates_rev: 0,
        }
    }

    fn code() -> OtpCode {
        OtpCode::parse("123456", crate::gateway::code::CodeSpec::default()).unwrap()
    }

    fn ids(rows: &[(ClaimedDelivery, OtpCode)]) -> Vec<i64> {
        rows.iter().map(|(r, _)| r.delivery_id).collect()
    }

    #[test]
    fn nothing_is_leased_without_a_worker_in_this_process() {
        let signal = OutboxSignal::default();
        assert!(signal.lease(0).is_none());
        signal.started("w1", 60_000, 2);
        let promise = signal.lease(1_000).expect("a worker runs");
        assert_eq!(
            promise.lease,
            Lease {
                owner: "w1".into(),
                until: 61_000,
                count: None,
            }
        );
        drop(promise);
        signal.stopping();
        assert!(signal.lease(1_000).is_none());
    }

    #[test]
    fn leases_stop_at_the_workers_room_and_come_back() {
        let signal = OutboxSignal::default();
        signal.started("w1", 60_000, 2);
        let (a, b) = (signal.lease(0).unwrap(), signal.lease(0).unwrap());
        assert!(signal.lease(0).is_none(), "two promised fill a room of two");
        signal.hand(row(1), code(), a);
        assert!(signal.lease(0).is_none(), "one waiting, one promised");
        // That create failed: its promise is given back.
        drop(b);
        let c = signal.lease(0).expect("room again");
        signal.hand(row(2), code(), c);
        assert_eq!(
            ids(&signal.take(1, 0, 60_000)),
            [1],
            "oldest first, at most one"
        );
        assert_eq!(ids(&signal.take(5, 0, 60_000)), [2]);
        assert!(signal.take(5, 0, 60_000).is_empty());
        assert!(signal.lease(0).is_some(), "the room is free again");
    }

    #[test]
    fn a_row_that_waited_half_its_lease_is_left_to_the_claims() {
        let signal = OutboxSignal::default();
        signal.started("w1", 60_000, 4);
        let early = signal.lease(0).unwrap();
        signal.hand(row(1), code(), early);
        let later = signal.lease(20_000).unwrap();
        signal.hand(row(2), code(), later);
        // At 31 s the first lease (until 60 s) has less than half left; the second (until
        // 80 s) more.
        assert_eq!(ids(&signal.take(5, 31_000, 60_000)), [2]);
        assert!(
            signal.take(5, 31_000, 60_000).is_empty(),
            "dropped, not kept"
        );
    }
}
