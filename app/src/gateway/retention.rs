//! Upkeep. Every second: adding the events recorded since to the stats rollups, where
//! the database keeps them apart until then (PostgreSQL), and the fraud guard's round
//! (`Gateway::guard_tick`). Hourly: the guard's old counts go, retention
//! (verifications older than the configured number of days go, with their events, outbox
//! rows and event webhook messages, in batches; the stats rollups stay), folding shards
//! an earlier version left in past hours into one row each, and summing the hours of each
//! day that is over into daily rollups; rate buckets whose window is over, records of used
//! tokens that have expired, and idempotent answers older than
//! [`IDEMPOTENCY_KEPT_MS`] go, in batches. Every instance may run it: each step is one
//! transaction, and the folders of several instances take turns on one row.

use crate::gateway::{
    error::EngineError,
    handle::Gateway,
    store::{
        stats::{DAY_MS, HOUR_MS},
        StoreError,
    },
};
use std::time::Duration;

/// Verifications deleted per transaction (and rate buckets looked at, token records and
/// idempotent answers deleted).
const BATCH: u32 = 1000;
/// How long an `Idempotency-Key`'s answer is replayed: a day, at least.
pub const IDEMPOTENCY_KEPT_MS: i64 = DAY_MS;
/// Kept beyond the last moment a bucket or a token record could matter, for the clocks
/// of several instances, which may not agree.
const CLOCK_MARGIN_MS: i64 = HOUR_MS;

/// What one pass of [`Gateway::purge_counters`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CountersPurged {
    /// Rate buckets whose window was over.
    pub buckets: u64,
    /// Records of used tokens that had expired.
    pub tokens: u64,
    /// Idempotent answers past [`IDEMPOTENCY_KEPT_MS`].
    pub answers: u64,
}

/// How often the hourly steps run.
const EVERY: Duration = Duration::from_secs(3600);
/// How often new events are added to the rollups (reads add the rest themselves, so
/// this bounds their work, not their freshness).
const FOLD_EVERY: Duration = Duration::from_secs(1);

/// Runs `purge`, which deletes up to [`BATCH`] rows, until it deletes fewer; how many
/// went in all. Other tasks get their turn between two batches.
async fn batches<F: std::future::Future<Output = Result<u64, StoreError>>>(
    mut purge: impl FnMut() -> F,
) -> Result<u64, StoreError> {
    let mut gone = 0;
    loop {
        let batch = purge().await?;
        gone += batch;
        if batch < u64::from(BATCH) {
            return Ok(gone);
        }
        tokio::task::yield_now().await;
    }
}

impl Gateway {
    /// Deletes every verification started more than `days` days ago, a batch at a time;
    /// how many went.
    pub async fn purge_old(&self, days: u32) -> Result<u64, EngineError> {
        let before = self.now_ms() - i64::from(days) * DAY_MS;
        Ok(batches(|| self.store().purge_verifications(before, BATCH)).await?)
    }

    /// Deletes the rate buckets whose window is over (they count nothing: a hit on one
    /// starts a new window), the records of used tokens that expired (an expired token is
    /// refused before its record is looked at), and idempotent answers older than
    /// [`IDEMPOTENCY_KEPT_MS`]; each a batch at a time, and each kept
    /// [`CLOCK_MARGIN_MS`] longer than it could matter.
    pub async fn purge_counters(&self) -> Result<CountersPurged, EngineError> {
        let now = self.now_ms();
        let store = self.store();
        let mut purged = CountersPurged::default();
        let lifetime = self.settings().limits.bucket_lifetime_secs() * 1000;
        let ended_by = now - lifetime - CLOCK_MARGIN_MS;
        let mut after = String::new();
        loop {
            let (gone, last) = store.purge_buckets(&after, ended_by, BATCH).await?;
            purged.buckets += gone;
            match last {
                Some(last) => after = last,
                None => break,
            }
            tokio::task::yield_now().await;
        }
        purged.tokens = batches(|| store.purge_used_tokens(now - CLOCK_MARGIN_MS, BATCH)).await?;
        purged.answers =
            batches(|| store.purge_idempotency(now - IDEMPOTENCY_KEPT_MS, BATCH)).await?;
        Ok(purged)
    }

    /// Runs the upkeep: the fold every second, the hourly steps a minute after start and
    /// then hourly. Stops when `shutdown` turns true.
    pub fn start_upkeep(
        &self,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let gw = self.clone();
        tokio::spawn(async move {
            let mut hourly = tokio::time::Instant::now() + Duration::from_secs(60);
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(FOLD_EVERY) => {}
                    _ = shutdown.changed() => return,
                }
                if let Err(e) = gw.store().fold_stats().await {
                    tracing::warn!(error = ?e, "adding new events to the stats failed; trying again");
                }
                if let Err(e) = gw.guard_tick().await {
                    tracing::warn!(error = ?e, "the fraud guard's round failed; trying again");
                }
                if tokio::time::Instant::now() >= hourly {
                    gw.hourly_upkeep().await;
                    hourly = tokio::time::Instant::now() + EVERY;
                }
            }
        })
    }

    /// The hourly steps; a failed one is logged and tried again an hour later.
    async fn hourly_upkeep(&self) {
        let now = self.now_ms();
        let last_hour = now - now.rem_euclid(HOUR_MS) - HOUR_MS;
        if let Err(e) = self.store().compact_stats(last_hour).await {
            tracing::warn!(error = ?e, "folding the stats shards failed; trying again later");
        }
        if let Err(e) = self.store().roll_days(now - now.rem_euclid(DAY_MS)).await {
            tracing::warn!(error = ?e, "summing the stats of past days failed; trying again later");
        }
        if let Err(e) = self.purge_guard().await {
            tracing::warn!(error = ?e, "purging the fraud guard's old counts failed; trying again later");
        }
        match self.purge_counters().await {
            Ok(purged) if purged == CountersPurged::default() => {}
            Ok(purged) => tracing::info!(
                buckets = purged.buckets,
                tokens = purged.tokens,
                answers = purged.answers,
                "purged rate buckets, used tokens and idempotent answers that count no more"
            ),
            Err(e) => {
                tracing::warn!(error = ?e, "purging old counters failed; trying again later");
            }
        }
        let days = self.settings().retention_days;
        if days > 0 {
            match self.purge_old(days).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(verifications = n, days, "purged old verifications"),
                Err(e) => tracing::warn!(error = ?e, "retention purge failed; trying again later"),
            }
        }
    }
}
