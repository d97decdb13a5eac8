//! Live updates: the event timeline, fanned out to subscribers (WebSocket, SSE, the hosted
//! page) on every instance.
//!
//! One pump per process reads new `event` rows from the database and broadcasts them; a
//! subscriber keeps those of its verification and turns them into [`LiveEvent`]s. Because
//! the database is the source, an event written by any instance reaches subscribers on
//! all of them: on PostgreSQL each commit of events notifies every instance's pump
//! (`LISTEN`/`NOTIFY`), on SQLite the pump polls. Rows that commit out of id order (concurrent PostgreSQL transactions) are
//! caught by re-reading a window behind the cursor and skipping ids already seen.
//!
//! Subscribers authenticate with a client token derived from a server key for one
//! verification (`<namespace>.<base64url HMAC>`): it unlocks that verification's events
//! and nothing else, the browser never holds the app's secret, and nothing needs storing.

use super::{
    engine::Gateway,
    engine::Read,
    error::EngineError,
    store::{EventRow, VerificationRecord},
};
use crate::model::{LiveEvent, Status};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use std::{collections::VecDeque, sync::Arc, time::Duration};
use tokio::sync::{broadcast, watch};

const TOKEN_LABEL: &str = "otpgate/live-token/v1";
/// How far behind the cursor each read looks for late commits.
const REREAD_WINDOW: i64 = 256;
/// How often a pump that is told of new events still looks for itself.
const SAFETY_POLL: Duration = Duration::from_secs(5);

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

/// A subscription to one verification.
pub struct Subscription {
    pub namespace: String,
    pub record: VerificationRecord,
    rx: broadcast::Receiver<Arc<EventRow>>,
    /// Events up to this id happened before the subscription (its snapshot covers them).
    after: i64,
}

impl Gateway {
    /// The client token for live updates of one verification.
    pub fn live_token(&self, namespace: &str, record: &VerificationRecord) -> String {
        let mac = self.hasher().derive(
            TOKEN_LABEL,
            &[namespace, &record.verification_id.to_string()],
        );
        format!("{namespace}.{}", URL_SAFE_NO_PAD.encode(mac))
    }

    /// Opens a subscription for `public_id` when `token` was issued for it. A wrong token
    /// and an unknown id look the same.
    pub async fn subscribe(
        &self,
        public_id: &str,
        token: &str,
    ) -> Result<Subscription, EngineError> {
        let (namespace, mac) = token.split_once('.').ok_or(EngineError::NotFound)?;
        let mac = URL_SAFE_NO_PAD
            .decode(mac)
            .map_err(|_| EngineError::NotFound)?;
        // Subscribe before reading the state, so nothing falls between the two.
        let rx = self.hub().tx.subscribe();
        let (app, record) = self.app_and_record(namespace, public_id).await?;
        let parts = [namespace, &record.verification_id.to_string()];
        if !self.hasher().verify_derived(TOKEN_LABEL, &parts, &mac) {
            return Err(EngineError::NotFound);
        }
        let after = self.store().last_event_id().await?;
        Ok(Subscription {
            namespace: app.namespace,
            record,
            rx,
            after,
        })
    }

    /// The first event of a subscription: the state right now.
    pub async fn live_snapshot(&self, sub: &Subscription) -> Result<LiveEvent, EngineError> {
        let view = self
            .page_view(&sub.namespace, &sub.record.public_id, Read::Fresh)
            .await?;
        Ok(match view.status {
            Status::Pending => LiveEvent::Subscribed {
                status: view.status,
                attempts_left: view.attempts_left,
                expires_in_secs: view.expires_in_secs,
            },
            Status::Verified => LiveEvent::Subscribed {
                status: view.status,
                attempts_left: view.attempts_left,
                expires_in_secs: 0,
            },
            Status::Locked => LiveEvent::Locked,
            Status::Expired => LiveEvent::Expired,
            Status::Cancelled => LiveEvent::Cancelled,
        })
    }

    /// The next event of a subscription; `None` once nothing more can happen. At the
    /// code's expiry it settles the verification, so an idle subscriber hears `expired`.
    pub async fn next_live(&self, sub: &mut Subscription) -> Option<LiveEvent> {
        loop {
            let until_expiry = u64::try_from(sub.record.expires_at - self.now_ms())
                .unwrap_or(0)
                .max(1);
            let received =
                tokio::time::timeout(Duration::from_millis(until_expiry + 100), sub.rx.recv())
                    .await;
            let row = match received {
                Ok(Ok(row)) => row,
                Ok(Err(broadcast::error::RecvError::Lagged(_))) => continue,
                Ok(Err(broadcast::error::RecvError::Closed)) => return None,
                Err(_) => {
                    // Expiry passed: settle it; the `expired` row follows through the pump.
                    let view = self
                        .page_view(&sub.namespace, &sub.record.public_id, Read::Fresh)
                        .await
                        .ok()?;
                    if view.status != Status::Pending {
                        return Some(LiveEvent::Expired).filter(|_| view.status == Status::Expired);
                    }
                    continue;
                }
            };
            if row.verification_id != sub.record.verification_id || row.event_id <= sub.after {
                continue;
            }
            if let Some(event) = self.live_event(sub, &row).await {
                return Some(event);
            }
        }
    }

    async fn live_event(&self, sub: &Subscription, row: &EventRow) -> Option<LiveEvent> {
        let detail: serde_json::Value = serde_json::from_str(&row.detail).unwrap_or_default();
        let delivery = |state: &str| {
            Some(LiveEvent::Delivery {
                state: state.to_owned(),
            })
        };
        match row.kind.as_str() {
            "sent" => delivery("sent"),
            "send_failed" | "dead_lettered" => delivery("failed"),
            "receipt" => match detail["status"].as_str() {
                Some("delivered" | "read") => delivery("delivered"),
                Some("failed" | "undelivered") => delivery("failed"),
                _ => None,
            },
            "attempt" => Some(LiveEvent::Attempt {
                attempts_left: detail["attempts_left"].as_u64().unwrap_or(0) as u32,
            }),
            "locked" => Some(LiveEvent::Locked),
            "expired" => Some(LiveEvent::Expired),
            "cancelled" => Some(LiveEvent::Cancelled),
            "verified" => {
                let (app, record) = self
                    .app_and_record(&sub.namespace, &sub.record.public_id)
                    .await
                    .ok()?;
                Some(LiveEvent::Verified {
                    verification_token: self.issue_token(&app, &record),
                    redirect: (!record.redirect_url.is_empty())
                        .then(|| self.redirect_target(&app, &record)),
                })
            }
            _ => None,
        }
    }

    /// Starts the pump that feeds every subscription of this process from the database.
    pub fn start_live(
        &self,
        interval: Duration,
        mut shutdown: watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let gw = self.clone();
        tokio::spawn(async move {
            let store = gw.store().clone();
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
                if gw.hub().tx.receiver_count() == 0 && signal.is_none() {
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
                    let _ = gw.hub().tx.send(Arc::new(row));
                }
            }
        })
    }
}
