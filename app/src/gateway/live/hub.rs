//! The event pump and its fan-out: one pump per process reads new `event` rows from the
//! database and broadcasts them to every subscriber of the process.
//!
//! Because the database is the source, an event written by any instance reaches
//! subscribers on all of them: on PostgreSQL each commit of events notifies every
//! instance's pump (`LISTEN`/`NOTIFY`), on SQLite the pump polls. Rows that commit out of
//! id order (concurrent PostgreSQL transactions) are caught by re-reading a window behind
//! the cursor and skipping ids already seen. Knows the store only, never the engine.

use crate::gateway::store::{EventRow, Store};
use std::{collections::VecDeque, sync::Arc, time::Duration};
use tokio::sync::{broadcast, watch};

/// How far behind the cursor each read looks for late commits.
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
            let mut seen: VecDeque<i64> = VecDeque::new();
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
                let rows = match store.events_after(cursor - REREAD_WINDOW, 1024).await {
                    Ok(rows) => rows,
                    Err(e) => {
                        tracing::warn!(error = ?e, "live updates: cannot read events");
                        continue;
                    }
                };
                for row in rows {
                    if seen.contains(&row.event_id) || row.event_id <= cursor - REREAD_WINDOW {
                        continue;
                    }
                    cursor = cursor.max(row.event_id);
                    seen.push_back(row.event_id);
                    if seen.len() > 4 * REREAD_WINDOW as usize {
                        seen.pop_front();
                    }
                    store.forget_verification(row.verification_id);
                    let _ = tx.send(Arc::new(row));
                }
            }
        })
    }
}
