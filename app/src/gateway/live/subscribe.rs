//! Subscriptions to one verification's events, for WebSocket, SSE and the hosted page.
//!
//! Subscribers authenticate with a client token derived from a server key for one
//! verification (`<namespace>.<base64url HMAC>`): it unlocks that verification's events
//! and nothing else, the browser never holds the app's secret, and nothing needs storing.

use crate::gateway::{
    error::EngineError,
    handle::Gateway,
    live::hub::EventReceiver,
    pages::Read,
    store::{EventRow, VerificationRecord},
};
use crate::model::{LiveEvent, Status};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use std::time::Duration;
use tokio::sync::broadcast;

const TOKEN_LABEL: &str = "otpgate/live-token/v1";

/// A subscription to one verification.
pub struct Subscription {
    pub namespace: String,
    pub record: VerificationRecord,
    rx: EventReceiver,
    /// Events up to this id happened before the subscription (its snapshot covers them).
    after: i64,
    /// Whether it presented the verification's session binding (or it has none): only
    /// then does its `verified` event carry the token and the redirect.
    bound: bool,
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
    /// and an unknown id look the same. `binding` is the session binding the subscriber
    /// presents, if any.
    pub async fn subscribe(
        &self,
        public_id: &str,
        token: &str,
        binding: Option<&str>,
    ) -> Result<Subscription, EngineError> {
        let (namespace, mac) = token.split_once('.').ok_or(EngineError::NotFound)?;
        let mac = URL_SAFE_NO_PAD
            .decode(mac)
            .map_err(|_| EngineError::NotFound)?;
        // Subscribe before reading the state, so nothing falls between the two.
        let rx = self.hub().subscribe();
        let (app, record) = self.app_and_record(namespace, public_id).await?;
        let parts = [namespace, &record.verification_id.to_string()];
        if !self.hasher().verify_derived(TOKEN_LABEL, &parts, &mac) {
            return Err(EngineError::NotFound);
        }
        let after = self.store().last_event_id().await?;
        let bound = self.presents_binding(&app.namespace, &record, binding);
        Ok(Subscription {
            namespace: app.namespace,
            record,
            rx,
            after,
            bound,
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
            // Without the verification's session binding, the news but not the token.
            "verified" if !sub.bound => Some(LiveEvent::Verified {
                verification_token: String::new(),
                redirect: None,
            }),
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
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        self.hub().start(self.store().clone(), interval, shutdown)
    }
}
