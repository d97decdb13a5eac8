//! The event webhook worker: leases queued `webhook_message` rows (queued by a trigger in
//! the transaction that recorded their event), posts each event to its endpoint signed
//! with Standard Webhooks, and retries on a schedule until the endpoint answers 2xx or the
//! tries run out. Every try of one message carries the same `webhook-id` and body, so an
//! endpoint can drop repeats.

use crate::gateway::{
    address::mask,
    clock::{utc_timestamp, Clock},
    code::CodeHasher,
    delivery::{net::NetPolicy, sign_webhook as sign},
    store::{ClaimedWebhook, Store, WebhookEvent, WebhookOutcome},
};
use serde_json::json;
use std::{sync::Arc, time::Duration};
use tokio::{sync::watch, task::JoinSet};

/// What an endpoint's signing secret is sealed for (see [`CodeHasher::seal_for`]).
pub const SEAL_PURPOSE: &str = "app_webhook";

/// The associated data that ties a sealed secret to its app and URL.
pub fn seal_binding(app_id: i64, url: &str) -> String {
    format!("{app_id}:{url}")
}

/// The events an endpoint may ask for, and the event kinds (`event.kind`) behind each.
pub const WEBHOOK_EVENTS: &[(&str, &[&str])] = &[
    ("created", &["created"]),
    ("sent", &["sent"]),
    ("delivered", &["receipt"]),
    ("failed", &["dead_lettered", "receipt"]),
    ("verified", &["verified"]),
    ("locked", &["locked"]),
    ("expired", &["expired"]),
    ("token_confirmed", &["token_confirmed"]),
    // Queued by the fraud guard when it holds sends (`fraud.hold`), not from events.
    ("fraud_hold", &[]),
];

/// Seconds to wait before each retry; after the last, a message is dead.
const RETRY_AFTER_SECS: [i64; 7] = [5, 30, 120, 600, 1800, 3600, 3 * 3600];
/// How long one post may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The most of an endpoint's answer kept in the log.
const KEPT_ERROR: usize = 300;

/// The event an event row is, as endpoints name it (`sent`, `failed`, ...); `None` for
/// rows no endpoint can ask for.
pub fn public_event(kind: &str, detail: &serde_json::Value) -> Option<&'static str> {
    Some(match kind {
        "created" => "created",
        "sent" => "sent",
        "receipt" => match detail["status"].as_str() {
            Some("delivered" | "read") => "delivered",
            Some("failed" | "undelivered") => "failed",
            _ => return None,
        },
        "dead_lettered" => "failed",
        "verified" => "verified",
        "locked" => "locked",
        "expired" => "expired",
        "token_confirmed" => "token_confirmed",
        _ => return None,
    })
}

/// The type an event is posted as: `verification.sent`, `token.confirmed`.
fn posted_type(event: &str) -> String {
    match event {
        "token_confirmed" => "token.confirmed".to_owned(),
        other => format!("verification.{other}"),
    }
}

/// The body posted for `e`, of type `posted`: the verification's id, namespace, channel
/// and masked address, and the event's own detail (never a code: events hold none).
fn payload(posted: &str, e: &WebhookEvent) -> String {
    let mut data = json!({
        "id": e.public_id,
        "namespace": e.namespace,
        "channel": e.channel,
        "to": mask(&e.address),
        "event_id": e.event_id,
    });
    if let Ok(serde_json::Value::Object(detail)) = serde_json::from_str(&e.detail) {
        for (k, v) in detail {
            data[k] = v;
        }
    }
    let at = utc_timestamp(e.created_at).replace(' ', "T");
    json!({ "type": posted, "timestamp": format!("{at}Z"), "data": data }).to_string()
}

/// The worker. One per process; several processes share the table safely.
pub struct WebhookWorker {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) hasher: CodeHasher,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) client: reqwest::Client,
    pub(crate) poll_interval: Duration,
    pub(crate) lease: Duration,
    pub(crate) owner: String,
}

impl WebhookWorker {
    /// A worker posting through `net`.
    pub fn client(net: NetPolicy) -> reqwest::Client {
        net.client(TIMEOUT, 4).unwrap_or_default()
    }

    /// Runs until `shutdown` turns true; messages in flight finish or their lease runs out.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut tasks = JoinSet::new();
        loop {
            let now = self.clock.now_ms();
            let lease_ms = i64::try_from(self.lease.as_millis()).unwrap_or(60_000);
            match self
                .store
                .claim_webhook_messages(&self.owner, now, now + lease_ms, 16)
                .await
            {
                Ok(claimed) => {
                    for c in claimed {
                        let this = self.clone();
                        tasks.spawn(async move { this.attempt(c).await });
                    }
                }
                Err(e) => tracing::error!(error = ?e, "could not claim webhook messages"),
            }
            tokio::select! {
                _ = tokio::time::sleep(self.poll_interval) => {}
                _ = shutdown.changed() => break,
            }
            while tasks.try_join_next().is_some() {}
        }
        let _ = tokio::time::timeout(TIMEOUT, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
    }

    /// One try of one message.
    async fn attempt(&self, c: ClaimedWebhook) {
        let fixed = c.event_type.clone().zip(c.payload.clone());
        let (posted, body) = match fixed {
            Some(fixed) => fixed,
            None => {
                let wanted = c.event.as_ref().and_then(|e| {
                    let detail = serde_json::from_str(&e.detail).unwrap_or_default();
                    let event = public_event(&e.kind, &detail)?;
                    c.events.iter().any(|w| w == event).then_some((event, e))
                });
                let Some((event, e)) = wanted else {
                    self.settle(&c, None, &WebhookOutcome::Skipped).await;
                    return;
                };
                let posted = posted_type(event);
                let body = payload(&posted, e);
                (posted, body)
            }
        };
        let binding = seal_binding(c.app_id, &c.url);
        let outcome = match self.hasher.open_for(SEAL_PURPOSE, &binding, &c.sealed) {
            Some(key) => self.post(&c, &key, &body).await,
            None => WebhookOutcome::Dead {
                status: None,
                error: "the endpoint's secret cannot be opened with this server's keys".into(),
            },
        };
        self.settle(&c, Some((&posted, &body)), &outcome).await;
    }

    async fn post(&self, c: &ClaimedWebhook, key: &[u8], body: &str) -> WebhookOutcome {
        let id = format!("msg_{}", c.message_id);
        let timestamp = self.clock.now_ms() / 1000;
        let sent = self
            .client
            .post(&c.url)
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header(
                "webhook-signature",
                sign(key, &id, timestamp, body.as_bytes()),
            )
            .body(body.to_owned())
            .send()
            .await;
        let (status, error) = match sent {
            Ok(res) if res.status().is_success() => {
                return WebhookOutcome::Delivered {
                    status: res.status().as_u16(),
                }
            }
            Ok(res) => {
                let status = res.status().as_u16();
                let text = res.text().await.unwrap_or_default();
                let text: String = text.chars().take(KEPT_ERROR).collect();
                (Some(status), format!("answered {status}: {text}"))
            }
            Err(e) => (
                None,
                crate::gateway::delivery::transport_error(e).to_string(),
            ),
        };
        match RETRY_AFTER_SECS.get(c.attempts.saturating_sub(1) as usize) {
            Some(secs) => WebhookOutcome::Retry {
                status,
                error,
                next_attempt_at: self.clock.now_ms() + secs * 1000,
            },
            None => WebhookOutcome::Dead { status, error },
        }
    }

    async fn settle(
        &self,
        c: &ClaimedWebhook,
        sent: Option<(&str, &str)>,
        outcome: &WebhookOutcome,
    ) {
        let (posted, body) = sent.unzip();
        let now = self.clock.now_ms();
        match self
            .store
            .settle_webhook_message(c.message_id, &self.owner, posted, body, outcome, now)
            .await
        {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                message = c.message_id,
                "webhook lease lost before its outcome was recorded"
            ),
            Err(e) => {
                tracing::error!(error = ?e, "could not record a webhook outcome; the lease will run out")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_named_as_endpoints_ask_for_them() {
        let none = serde_json::Value::Null;
        assert_eq!(public_event("sent", &none), Some("sent"));
        assert_eq!(public_event("dead_lettered", &none), Some("failed"));
        assert_eq!(
            public_event("receipt", &json!({"status": "delivered"})),
            Some("delivered")
        );
        assert_eq!(
            public_event("receipt", &json!({"status": "undelivered"})),
            Some("failed")
        );
        assert_eq!(public_event("receipt", &json!({"status": "queued"})), None);
        assert_eq!(public_event("attempt", &none), None);
        assert_eq!(posted_type("token_confirmed"), "token.confirmed");
        assert_eq!(posted_type("verified"), "verification.verified");
        for (event, kinds) in WEBHOOK_EVENTS {
            for kind in *kinds {
                let detail =
                    json!({"status": if *event == "failed" { "failed" } else { "delivered" }});
                assert_eq!(public_event(kind, &detail), Some(*event), "{kind}");
            }
        }
    }

    #[test]
    fn a_payload_masks_the_address_and_keeps_the_detail() {
        let e = WebhookEvent {
            event_id: 7,
            kind: "sent".into(),
            detail: r#"{"provider":"sms","message_id":"SM1"}"#.into(),
            created_at: 1_796_000_000_000,
            namespace: "shop".into(),
            public_id: "v-1".into(),
            channel: "sms".into(),
            address: "+14155550101".into(),
        };
        let body: serde_json::Value =
            serde_json::from_str(&payload("verification.sent", &e)).unwrap();
        assert_eq!(body["type"], "verification.sent");
        assert_eq!(body["data"]["id"], "v-1");
        assert_eq!(body["data"]["provider"], "sms");
        assert!(!body.to_string().contains("5550101"), "{body}");
        assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));
    }
}
