//! The event pump and its fan-out: one pump per process reads new `event` rows from the
//! database and broadcasts them to every subscriber of the process.
//!
//! Because the database is the source, an event written by any instance reaches
//! subscribers on all of them: on PostgreSQL each commit of events notifies every
//! instance's pump (`LISTEN`/`NOTIFY`), on SQLite the pump polls. Rows that commit out of
//! id order (concurrent PostgreSQL transactions) are caught by reading again from the first
//! id not seen yet within a window behind the cursor, and skipping ids already seen.
//! Knows the store only, never the engine.

use crate::gateway::store::{EventRow, Store};
use std::{collections::BTreeSet, sync::Arc, time::Duration};
use tokio::sync::{broadcast, watch};

/// How far behind the cursor a read looks for late commits.
const REREAD_WINDOW: i64 = 256;
/// How often a pump that is told of new events still looks for itself.
const SAFETY_POLL: Duration = Duration::from_secs(5);

/// What a subscriber receives: every event row the pump reads.
pub type EventReceiver = broadcast::Receiver<Arc<EventRow>>;

/// The fan-out point every subscriber listens on.
#[derive(Debug)]
pub struct LiveHub {
    tx: broadcast::Sender<Arc<EventRow>>,
}

impl Default for LiveHub {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(4096).0,
        }
    }
}

impl LiveHub {
    /// A receiver of every event read from now on.
    pub fn subscribe(&self) -> EventReceiver {
        self.tx.subscribe()
    }

    /// Starts the pump that feeds every subscription of this process from `store`.
    pub fn start(
        &self,
        store: Arc<dyn Store>,
        interval: Duration,
        mut shutdown: watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let tx = self.tx.clone();
        tokio::spawn(async move {
            // Where the database announces commits (PostgreSQL), the pump reads when told
            // and polls only as a safety net; elsewhere it polls at `interval`.
            let signal = match store.event_signal().await {
                Ok(signal) => signal,
                Err(e) => {
                    tracing::warn!(error = ?e, "live updates: cannot listen for events; polling");
                    None
                }
            };
            let poll = match signal {
                Some(_) => interval.max(SAFETY_POLL),
                None => interval,
            };
            let announced = || async {
                match &signal {
                    Some(signal) => signal.notified().await,
                    None => std::future::pending().await,
                }
            };
            // The cursor is found on the first subscription, not at start-up.
            let mut cursor = 0;
            // The ids read within the window behind the cursor.
            let mut seen: BTreeSet<i64> = BTreeSet::new();
            let mut idle = true;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(poll) => {}
                    _ = announced() => {}
                    _ = shutdown.changed() => return,
                }
                // Other instances' changes must reach this process's page cache
                // (`store/views.rs`) as well as its subscribers; only an instance alone
                // on its database (SQLite) sees every change itself.
                if tx.receiver_count() == 0 && signal.is_none() {
                    // Nobody listens: read nothing; catch up with the head on the next
                    // subscription (which ignores events older than itself anyway).
                    idle = true;
                    continue;
                }
                if idle {
                    match store.last_event_id().await {
                        // Reads look back a window, so events committed just before
                        // are still delivered.
                        Ok(id) => cursor = cursor.max(id),
                        Err(e) => {
                            tracing::warn!(error = ?e, "live updates: cannot read the event cursor");
                            continue;
                        }
                    }
                    idle = false;
                }
                let low = cursor - REREAD_WINDOW;
                let rows = match store
                    .events_after(read_from(&seen, low, cursor), 1024)
                    .await
                {
                    Ok(rows) => rows,
                    Err(e) => {
                        tracing::warn!(error = ?e, "live updates: cannot read events");
                        continue;
                    }
                };
                for row in rows {
                    if row.event_id <= low || !seen.insert(row.event_id) {
                        continue;
                    }
                    cursor = cursor.max(row.event_id);
                    store.forget_verification(row.verification_id);
                    let _ = tx.send(Arc::new(row));
                }
                seen = seen.split_off(&(cursor - REREAD_WINDOW + 1));
            }
        })
    }
}

/// Where the next read starts (it reads the ids after it): the last id of the unbroken
/// run of ids seen from the window's start `low`, so it begins at the first id still
/// missing (a transaction that has not committed yet, or one rolled back, whose ids are
/// passed over once the window has moved beyond them); the cursor when none is missing.
/// Every id of a window read once is seen, so a pump that keeps up reads from where it
/// left off, not the whole window each time.
fn read_from(seen: &BTreeSet<i64>, low: i64, cursor: i64) -> i64 {
    let mut next = low + 1;
    for &id in seen.range(low + 1..=cursor) {
        if id != next {
            break;
        }
        next += 1;
    }
    next - 1
}

#[cfg(test)]
mod tests {
    use super::read_from;
    use std::collections::BTreeSet;

    #[test]
    fn a_read_starts_at_the_first_id_not_seen() {
        let seen = |ids: &[i64]| ids.iter().copied().collect::<BTreeSet<i64>>();
        // Nothing seen yet (a pump that has just started): the whole window.
        assert_eq!(read_from(&seen(&[]), 10, 20), 10);
        // All seen: from the cursor.
        assert_eq!(read_from(&seen(&(11..=20).collect::<Vec<_>>()), 10, 20), 20);
        // 14 not seen (still committing): from 13, so 14 is read when it lands.
        assert_eq!(read_from(&seen(&[11, 12, 13, 15, 16, 20]), 10, 20), 13);
        // Ids at or below the window's start do not count.
        assert_eq!(read_from(&seen(&[5, 9, 11]), 10, 11), 11);
    }
}
