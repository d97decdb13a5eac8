//! Request and response bodies of the native API.

use app::gateway::{intent::Intent, store::VerificationRecord, Gateway};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// Starts a verification. The shapes below are exactly what the server accepts; a value
/// of the right shape can still be refused with `422` (an address the provider cannot
/// reach, a `redirect_url` not in the app's list, more than 4096 bytes of `extra`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    /// Your id for it; a random 128-bit id when absent.
    #[schema(pattern = r"^[A-Za-z0-9._-]{1,128}$")]
    pub id: Option<String>,
    /// One of this server's providers, e.g. `smtp`.
    pub provider: String,
    /// The address to verify, as the provider reads it (an e-mail address, a phone number
    /// in international format); empty or absent lets the hosted page ask for it.
    pub to: Option<String>,
    /// Your own code instead of a generated one.
    #[schema(pattern = r"^[A-Za-z0-9]{4,16}$")]
    pub code: Option<String>,
    /// Seconds the code stays valid.
    #[schema(minimum = 1, maximum = 86400)]
    #[serde(default, deserialize_with = "whole_number")]
    pub ttl: Option<u64>,
    /// Wrong codes allowed.
    #[schema(minimum = 1, maximum = 10)]
    #[serde(default, deserialize_with = "whole_number")]
    pub max_attempts: Option<u32>,
    /// Messages allowed, the first included.
    #[schema(minimum = 1, maximum = 10)]
    #[serde(default, deserialize_with = "whole_number")]
    pub max_sends: Option<u32>,
    /// Any JSON (at most 4096 bytes once serialised), echoed back.
    pub extra: Option<Value>,
    /// Where the hosted page sends the user when done: exactly one of the app's
    /// `redirect_urls`.
    pub redirect_url: Option<String>,
    /// Opaque value returned with the redirect: at most 512 characters, none a control
    /// character.
    #[schema(max_length = 512, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")]
    pub state: Option<String>,
    /// Language tag for the hosted page and messages, e.g. `en` or `pt-BR`; empty for the
    /// browser's language.
    #[schema(max_length = 35, pattern = r"^([A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*)?$")]
    pub locale: Option<String>,
    /// Verify-then-act: what you will do once it is verified (`set_password`,
    /// `change_email`, `login`, ...). The token its success earns names it, and
    /// `/v1/tokens/confirm` refuses the token for anything else.
    #[schema(pattern = r"^[a-z0-9_.:-]{1,64}$")]
    pub action: Option<String>,
    /// A hash of that action's payload (e.g. the SHA-256 of the new e-mail address), named
    /// in the token too.
    #[schema(pattern = r"^[A-Za-z0-9+/=_-]{1,128}$")]
    pub payload_hash: Option<String>,
    /// Binds the verification to the browser session that started it (an opaque value,
    /// e.g. a hash of your session id): it is checked, and its token issued, only where
    /// this value is presented (the check's `session_binding`, or the hosted page opened
    /// once with `?binding=`). Only a keyed digest of it is stored.
    #[schema(pattern = r"^[A-Za-z0-9._~-]{16,256}$")]
    pub session_binding: Option<String>,
}

/// An optional whole number as JSON Schema counts them: `3` and `3.0` alike; `3.5`, a
/// negative number or one past the type's range are refused.
pub(super) fn whole_number<'de, D, T>(de: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<u64>,
{
    use serde::de::Error;
    let Some(n) = Option::<serde_json::Number>::deserialize(de)? else {
        return Ok(None);
    };
    let whole = n.as_u64().or_else(|| {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= u64::MAX as f64)
            .map(|f| f as u64)
    });
    whole
        .and_then(|w| T::try_from(w).ok())
        .map(Some)
        .ok_or_else(|| D::Error::custom("expected a whole number in range"))
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload_hash: Option<String>,
    /// Whether it is bound to a session (the binding itself is never shown).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub bound: bool,
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
        let intent = Intent::from_column(&r.intent).unwrap_or_default();
        Self {
            action: intent.action,
            payload_hash: intent.payload_hash,
            bound: intent.binding.is_some(),
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
    /// The `session_binding` the verification was started with, if it has one.
    pub session_binding: Option<String>,
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
    /// The action you are about to take: must be the token's (absent for a token without
    /// one).
    pub action: Option<String>,
    /// The hash of the payload you are about to act on: must be the token's (absent for a
    /// token without one).
    pub payload_hash: Option<String>,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload_hash: Option<String>,
}

/// The providers' own request formats, described for the document only: the engine reads
/// them field by field after checking the signature.
pub mod provider_formats {
    #![allow(dead_code, non_snake_case)]
    use utoipa::ToSchema;

    /// Twilio's `StatusCallback` form (`SmsSid`/`SmsStatus` are read too).
    #[derive(ToSchema)]
    pub struct TwilioStatusForm {
        MessageSid: String,
        /// e.g. `sent`, `delivered`, `failed`, `undelivered`.
        #[schema(pattern = r"^[A-Za-z]{1,32}$")]
        MessageStatus: String,
        ErrorCode: Option<String>,
    }

    /// Twilio's incoming-message form.
    #[derive(ToSchema)]
    pub struct TwilioInboundForm {
        MessageSid: String,
        From: String,
        To: Option<String>,
        #[schema(max_length = 2048)]
        Body: Option<String>,
    }

    /// The generic inbound webhook's body, signed with Standard Webhooks headers.
    #[derive(ToSchema)]
    pub struct InboundMessage {
        /// The message id; each counts once.
        #[schema(min_length = 1, max_length = 128)]
        id: String,
        from: String,
        to: Option<String>,
        #[schema(max_length = 2048)]
        body: String,
    }
}
