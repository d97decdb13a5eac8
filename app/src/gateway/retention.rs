//! Retention: verifications older than the configured number of days go, with their
//! events, outbox rows and event webhook messages, in batches; the stats rollups stay.
//! Every instance may run it: each batch is one transaction over rows no one reads.

use crate::gateway::{error::EngineError, handle::Gateway};
use std::time::Duration;

/// Verifications deleted per transaction.
const BATCH: u32 = 1000;
/// How often the job looks for old verifications.
const EVERY: Duration = Duration::from_secs(3600);
const DAY_MS: i64 = 86_400_000;

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

    /// Runs [`purge_old`](Self::purge_old) a minute after start and then hourly, when the
    /// settings keep verifications for a number of days; stops when `shutdown` turns true.
    pub fn start_retention(
        &self,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let days = self.settings().retention_days;
        if days == 0 {
            return None;
        }
        let gw = self.clone();
        Some(tokio::spawn(async move {
            let mut wait = Duration::from_secs(60);
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.changed() => return,
                }
                match gw.purge_old(days).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(verifications = n, days, "purged old verifications"),
                    Err(e) => {
                        tracing::warn!(error = ?e, "retention purge failed; trying again later")
                    }
                }
                wait = EVERY;
            }
        }))
    }
}
