//! Request and response bodies of the native API.

use app::gateway::{store::VerificationRecord, Gateway};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// Starts a verification.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    /// Your id for it (`[A-Za-z0-9._-]`, ≤ 128); a random 128-bit id when absent.
    pub id: Option<String>,
    /// A provider id from the server's configuration, e.g. `smtp`.
    pub provider: String,
    /// The address to verify; empty or absent lets the hosted page ask for it.
    pub to: Option<String>,
    /// Your own code (4–16 letters or digits) instead of a generated one.
    pub code: Option<String>,
    /// Seconds the code stays valid (1–86400).
    pub ttl: Option<u64>,
    /// Wrong codes allowed (1–10).
    pub max_attempts: Option<u32>,
    /// Messages allowed, the first included (1–10).
    pub max_sends: Option<u32>,
    /// Any JSON, echoed back.
    pub extra: Option<Value>,
    /// Where the hosted page sends the user when done: exactly one of the app's
    /// `redirect_urls`.
    pub redirect_url: Option<String>,
    /// Opaque value returned with the redirect (≤ 512 bytes).
    pub state: Option<String>,
    /// Language tag for the hosted page and messages, e.g. `en` or `pt-BR`.
    pub locale: Option<String>,
}

/// A verification as the integrator sees it. Never contains the code.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerificationView {
    pub id: String,
    /// `pending`, `verified`, `expired`, `locked` or `cancelled`.
    pub status: String,
    pub verified: bool,
    pub to: String,
    pub provider: String,
    pub channel: String,
    pub attempts_left: u32,
    pub sends_left: u32,
    /// Unix seconds.
    pub expires_at: i64,
    /// Unix seconds.
    pub created_at: i64,
    pub extra: Value,
    /// The hosted page.
    pub url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub redirect_url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub state: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub locale: String,
    /// For a browser to follow this verification live
    /// (`/v1/verifications/{id}/events?token=…`, `/ws/otp?sessionId=…&token=…`); unlocks
    /// only this verification's events.
    pub client_token: String,
}

impl VerificationView {
    pub fn new(gw: &Gateway, namespace: &str, r: &VerificationRecord) -> Self {
        Self {
            client_token: gw.live_token(namespace, r),
            id: r.public_id.clone(),
            status: r.status.as_str().to_owned(),
            verified: r.status == app::model::Status::Verified,
            to: r.address.clone(),
            provider: r.provider.clone(),
            channel: r.channel.clone(),
            attempts_left: r.max_attempts.saturating_sub(r.attempts),
            sends_left: r.max_sends.saturating_sub(r.sends),
            expires_at: r.expires_at / 1000,
            created_at: r.created_at / 1000,
            extra: serde_json::from_str(&r.extra).unwrap_or(Value::Object(Default::default())),
            url: gw.page_url(namespace, &r.public_id),
            redirect_url: r.redirect_url.clone(),
            state: r.state.clone(),
            locale: r.locale.clone(),
        }
    }
}

/// A code to check.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckBody {
    pub code: String,
}

/// The outcome of a check. A wrong code is a normal answer (`verified: false`).
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckView {
    pub verified: bool,
    pub status: String,
    pub attempts_left: u32,
    /// Why it did not verify: `incorrect_code`, `malformed_code`, `expired`, `locked`,
    /// `already_verified`, `cancelled`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// On success: a signed JWT (EdDSA) for your backend, valid for at most 5 minutes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification_token: Option<String>,
}

/// A verification token to exchange once.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmBody {
    pub token: String,
    /// When given, the token's address must match it.
    pub expected_address: Option<String>,
}

/// What a confirmed token asserted.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConfirmView {
    pub confirmed: bool,
    pub id: String,
    pub address: String,
    pub channel: String,
    /// Unix seconds.
    pub verified_at: i64,
}
