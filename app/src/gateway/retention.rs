//! Upkeep, hourly: retention (verifications older than the configured number of days go,
//! with their events, outbox rows and event webhook messages, in batches; the stats
//! rollups stay), folding the rollups' shards of past hours into one row each, and
//! summing the hours of each day that is over into daily rollups. Every
//! instance may run it: each step is one transaction over rows no one writes any more.

use crate::gateway::{
    error::EngineError,
    handle::Gateway,
    store::stats::{DAY_MS, HOUR_MS},
};
use std::time::Duration;

/// Verifications deleted per transaction.
const BATCH: u32 = 1000;
/// How often the job looks for old verifications.
const EVERY: Duration = Duration::from_secs(3600);

impl Gateway {
    /// Deletes every verification started more than `days` days ago, a batch at a time;
    /// how many went.
    pub async fn purge_old(&self, days: u32) -> Result<u64, EngineError> {
        let before = self.now_ms() - i64::from(days) * DAY_MS;
        let mut gone = 0;
        loop {
            let batch = self.store().purge_verifications(before, BATCH).await?;
            gone += batch;
            if batch < u64::from(BATCH) {
                return Ok(gone);
            }
            tokio::task::yield_now().await;
        }
    }

    /// Runs the upkeep a minute after start and then hourly: folds the rollups' shards
    /// of hours before the last one, and purges old verifications when the settings keep
    /// them for a number of days. Stops when `shutdown` turns true.
    pub fn start_upkeep(
        &self,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let days = self.settings().retention_days;
        let gw = self.clone();
        tokio::spawn(async move {
            let mut wait = Duration::from_secs(60);
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.changed() => return,
                }
                let now = gw.now_ms();
                let last_hour = now - now.rem_euclid(HOUR_MS) - HOUR_MS;
                if let Err(e) = gw.store().compact_stats(last_hour).await {
                    tracing::warn!(error = ?e, "folding the stats shards failed; trying again later");
                }
                if let Err(e) = gw.store().roll_days(now - now.rem_euclid(DAY_MS)).await {
                    tracing::warn!(error = ?e, "summing the stats of past days failed; trying again later");
                }
                if days > 0 {
                    match gw.purge_old(days).await {
                        Ok(0) => {}
                        Ok(n) => {
                            tracing::info!(verifications = n, days, "purged old verifications")
                        }
                        Err(e) => {
                            tracing::warn!(error = ?e, "retention purge failed; trying again later")
                        }
                    }
                }
                wait = EVERY;
            }
        })
    }
}
