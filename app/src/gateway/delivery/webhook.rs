//! Webhook relays (otpgateway's `[webhooks.<name>]`): a JSON POST of
//! `{"otp": {…, "otp": code}, "subject": …, "body": …}` with optional Basic auth and, when a
//! signing secret is set, Standard Webhooks headers (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature: v1,<base64 HMAC-SHA256>`). Anything but a 2xx answer is a failure.
//! Redirects are not followed.

use super::{DeliveryError, OutgoingMessage, Provider, Sent, TemplateSet};
use crate::gateway::address::{Address, AddressError, Channel};
use async_trait::async_trait;
use base64::{engine::general_purpose::STANDARD, Engine};
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use std::time::Duration;

/// A configured webhook relay. `Debug` hides the password and the signing secret.
#[derive(Clone)]
pub struct WebhookSettings {
    pub id: String,
    pub url: String,
    pub channel: Channel,
    pub username: String,
    pub password: String,
    /// Raw HMAC key for Standard Webhooks signatures (from a `whsec_…` secret).
    pub signing_secret: Option<Vec<u8>>,
    pub max_address_len: usize,
    pub timeout: Duration,
    pub max_conns: usize,
    pub templates: TemplateSet,
    /// Which networks the URL may reach (SSRF protection).
    pub net: super::NetPolicy,
}

crate::debug_showing!(WebhookSettings {
    id,
    url,
    channel,
    username
});

/// The provider behind one `[webhooks.<name>]` section.
pub struct WebhookProvider {
    settings: WebhookSettings,
    client: reqwest::Client,
}

impl WebhookProvider {
    pub fn new(settings: WebhookSettings) -> Result<Self, DeliveryError> {
        let client = settings.net.client(settings.timeout, settings.max_conns)?;
        Ok(Self { settings, client })
    }
}

/// `v1,<base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))>`, per Standard Webhooks.
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// Verifies Standard Webhooks headers on a request we receive: the timestamp within five
/// minutes of `now_secs`, and one of the space-separated `v1,` signatures matching.
pub fn verify(
    key: &[u8],
    headers: &http::HeaderMap,
    body: &[u8],
    now_secs: i64,
) -> Result<(), super::ReceiptError> {
    use super::ReceiptError;
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .ok_or(ReceiptError::Unauthenticated)
    };
    let id = header("webhook-id")?;
    let timestamp: i64 = header("webhook-timestamp")?
        .parse()
        .map_err(|_| ReceiptError::Unauthenticated)?;
    if (now_secs - timestamp).abs() > 300 {
        return Err(ReceiptError::Unauthenticated);
    }
    let expected = sign(key, id, timestamp, body);
    let matched = header("webhook-signature")?
        .split(' ')
        .filter(|s| s.len() > 3)
        .any(|given| {
            bool::from(subtle::ConstantTimeEq::ct_eq(
                given.as_bytes(),
                expected.as_bytes(),
            ))
        });
    if matched {
        Ok(())
    } else {
        Err(ReceiptError::Unauthenticated)
    }
}

#[async_trait]
impl Provider for WebhookProvider {
    super::settings_accessors!();

    fn parse_address(&self, raw: &str) -> Result<Address, AddressError> {
        let max = self.settings.max_address_len;
        if max > 0 && raw.trim().len() > max {
            return Err(AddressError::TooLong(max));
        }
        Address::parse(self.channel(), raw)
    }

    async fn send(&self, message: &OutgoingMessage) -> Result<Sent, DeliveryError> {
        let m = &message.meta;
        let payload = json!({
            "otp": {
                "namespace": m.namespace,
                "id": m.id,
                "to": message.to.as_str(),
                "channel_description": m.channel_description,
                "address_description": m.address_description,
                "extra": serde_json::from_str::<serde_json::Value>(&m.extra).unwrap_or_else(|_| json!({})),
                "provider": m.provider,
                "otp": m.code.expose(),
                "max_attempts": m.max_attempts,
                "attempts": m.attempts,
                "generate": m.sends,
                "max_generate": m.max_sends,
                "closed": false,
                "ttl": m.ttl_secs,
            },
            "subject": message.subject,
            "body": message.text,
        });
        let body = serde_json::to_vec(&payload).expect("payload serialises");
        self.settings.net.check_url(&self.settings.url)?;
        let mut request = self
            .client
            .post(&self.settings.url)
            .header("content-type", "application/json");
        if !self.settings.username.is_empty() || !self.settings.password.is_empty() {
            request = request.basic_auth(&self.settings.username, Some(&self.settings.password));
        }
        if let Some(key) = &self.settings.signing_secret {
            let id = format!("msg_{}", crate::gateway::secret::random_id());
            let timestamp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or_default();
            request = request
                .header("webhook-id", &id)
                .header("webhook-timestamp", timestamp.to_string())
                .header("webhook-signature", sign(key, &id, timestamp, &body));
        }
        let response = request
            .body(body)
            .send()
            .await
            .map_err(super::transport_error)?;
        super::status_outcome("webhook", &response)?;
        Ok(Sent { message_id: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn received_signatures_verify_within_five_minutes_only() {
        let key = b"0123456789abcdef0123456789abcdef";
        let body = br#"{"from":"+14155550100"}"#;
        let headers = |id: &str, ts: i64, sig: &str| {
            let mut h = http::HeaderMap::new();
            h.insert("webhook-id", id.parse().unwrap());
            h.insert("webhook-timestamp", ts.to_string().parse().unwrap());
            h.insert("webhook-signature", sig.parse().unwrap());
            h
        };
        let good = sign(key, "msg_1", 1_000_000, body);
        assert!(verify(key, &headers("msg_1", 1_000_000, &good), body, 1_000_100).is_ok());
        let several = format!("v1,AAAA {good}");
        assert!(verify(key, &headers("msg_1", 1_000_000, &several), body, 1_000_000).is_ok());
        assert!(verify(key, &headers("msg_1", 1_000_000, &good), body, 1_000_301).is_err());
        assert!(verify(key, &headers("msg_2", 1_000_000, &good), body, 1_000_000).is_err());
        assert!(verify(key, &headers("msg_1", 1_000_000, "v1,"), body, 1_000_000).is_err());
        assert!(verify(key, &headers("msg_1", 1_000_000, &good), b"{}", 1_000_000).is_err());
        assert!(verify(key, &http::HeaderMap::new(), body, 1_000_000).is_err());
    }

    /// The example from the Standard Webhooks specification.
    #[test]
    fn signatures_match_the_standard_webhooks_example() {
        let key = STANDARD.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        let sig = sign(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }
}
