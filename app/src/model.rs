//! Identifiers and views shared by the server and the browser.
//!
//! Everything here compiles to WASM too, so it holds no secrets and no server-only types.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {0} characters")]
    TooLong(usize),
    #[error("may contain only letters, digits, '.', '_' and '-'")]
    BadCharacter,
}

fn parse_token(raw: &str, max: usize) -> Result<&str, IdError> {
    if raw.is_empty() {
        return Err(IdError::Empty);
    }
    if raw.len() > max {
        return Err(IdError::TooLong(max));
    }
    if !raw
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(IdError::BadCharacter);
    }
    Ok(raw)
}

/// An app's public identifier, the user part of its Basic-auth pair.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Namespace(String);

impl Namespace {
    pub const MAX_LEN: usize = 64;

    /// Parses a namespace: 1–64 characters of `[A-Za-z0-9._-]`.
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        parse_token(raw, Self::MAX_LEN).map(|s| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A verification's public identifier: chosen by the caller, or random (128 bits).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct VerificationId(String);

impl VerificationId {
    pub const MAX_LEN: usize = 128;

    /// Parses a caller-chosen id: 1–128 characters of `[A-Za-z0-9._-]`.
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        parse_token(raw, Self::MAX_LEN).map(|s| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! string_newtype_impls {
    ($($t:ty),*) => {$(
        impl TryFrom<String> for $t {
            type Error = IdError;
            fn try_from(raw: String) -> Result<Self, IdError> {
                Self::parse(&raw)
            }
        }
        impl From<$t> for String {
            fn from(value: $t) -> String {
                value.0
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    )*};
}
string_newtype_impls!(Namespace, VerificationId);

/// Where a verification stands. `Pending` is the only state that can still change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pending,
    Verified,
    Expired,
    Locked,
    Cancelled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Verified => "verified",
            Status::Expired => "expired",
            Status::Locked => "locked",
            Status::Cancelled => "cancelled",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "pending" => Status::Pending,
            "verified" => Status::Verified,
            "expired" => Status::Expired,
            "locked" => Status::Locked,
            "cancelled" => Status::Cancelled,
            _ => return None,
        })
    }

    pub fn is_terminal(self) -> bool {
        self != Status::Pending
    }
}

/// What the hosted code page shows about a verification. Never carries the code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageView {
    pub namespace: String,
    pub id: String,
    pub app_name: String,
    pub channel: String,
    /// The address with its middle hidden, e.g. `jo***@example.com`.
    pub masked_address: String,
    pub status: Status,
    pub attempts_left: u32,
    pub expires_in_secs: u64,
    pub code_length: u32,
    pub numeric_code: bool,
    /// No address yet: the page asks for one before any code is sent.
    pub needs_address: bool,
    /// What kind of address the provider takes: `email`, `phone` or `other`.
    pub address_kind: String,
    /// Seconds until a resend is allowed; `None` when no resend is possible.
    pub resend_in_secs: Option<u64>,
    /// The client token for live updates of this verification (never the API secret).
    pub live_token: String,
    /// For an inbound verification: what the person texts, and where.
    pub inbound: Option<InboundView>,
    /// For an authenticator-app verification whose factor is still pending: what the
    /// person scans or types into the app before typing its first code.
    pub enrolment: Option<EnrolmentView>,
    /// When the page is framed by the embed modal of an allowed site: that site's origin,
    /// the only one the result is posted to.
    pub embed_origin: Option<String>,
    /// The language the page speaks.
    pub lang: crate::i18n::Lang,
    /// The verification's own language (from its create request), if any.
    pub locale: String,
    /// The app's default language for its pages, if set.
    pub app_locale: String,
    /// The app's logo (an https URL or a path on this server), shown above the card.
    pub logo_url: Option<String>,
    /// The app's accent colour, `#rrggbb`, for buttons and focus rings.
    pub accent_color: Option<String>,
    /// For a phone number still to collect: the countries to pick from, and the one
    /// picked at first (the app's default, else the browser's region), if any.
    pub countries: Vec<CountryOption>,
    pub country: Option<String>,
    /// Other ways to get a code, offered under "didn't get it?"; empty for none.
    pub fallbacks: Vec<FallbackOption>,
}

/// Another way the page offers to get a code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FallbackOption {
    /// The provider id the switch asks for.
    pub provider: String,
    /// How it reaches the person: `email`, `sms`, `whatsapp`, `voice`, `qr` or `other`.
    pub kind: String,
}

/// A country of the phone number picker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountryOption {
    /// ISO 3166 alpha-2, e.g. `DE`.
    pub region: String,
    /// The country calling code, e.g. 49.
    pub code: u16,
}

/// Enrolment in an authenticator app. Shown only while the factor is pending: its first
/// accepted code makes it active, and the page never shows the secret again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolmentView {
    /// The `otpauth://totp/…` URI (it holds the secret).
    pub uri: String,
    /// The secret in base32, in groups of four, for typing by hand.
    pub secret: String,
    /// The URI's QR code as an SVG document.
    pub qr_svg: String,
}

/// The QR page of an inbound verification. The code is shown on purpose: the proof is the
/// SMS coming from the person's phone, not knowledge of the code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundView {
    /// The number to text, E.164.
    pub number: String,
    pub code: String,
    /// `sms:<number>?body=<code>`, for a tap on a phone.
    pub sms_link: String,
    /// The QR code (an `SMSTO:` link) as an SVG document.
    pub qr_svg: String,
}

/// What a live subscriber (WebSocket, SSE, the hosted page) hears about a verification.
/// Never carries the code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveEvent {
    /// The subscription is open; the state at that moment.
    Subscribed {
        status: Status,
        attempts_left: u32,
        expires_in_secs: u64,
    },
    /// A message went out (`sent`), arrived (`delivered`) or could not be delivered
    /// (`failed`).
    Delivery {
        state: String,
    },
    /// A wrong code was typed.
    Attempt {
        attempts_left: u32,
    },
    Locked,
    /// Verified: the token proves it; `redirect` is where the hosted page goes next. Both
    /// are absent for a subscriber that did not present the verification's session
    /// binding.
    Verified {
        #[serde(default, skip_serializing_if = "String::is_empty")]
        verification_token: String,
        redirect: Option<String>,
    },
    Expired,
    Cancelled,
}

impl LiveEvent {
    /// Whether nothing follows this event.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            LiveEvent::Locked
                | LiveEvent::Verified { .. }
                | LiveEvent::Expired
                | LiveEvent::Cancelled
        )
    }

    /// The SSE event name.
    pub fn name(&self) -> &'static str {
        match self {
            LiveEvent::Subscribed { .. } => "subscribed",
            LiveEvent::Delivery { .. } => "delivery",
            LiveEvent::Attempt { .. } => "attempt",
            LiveEvent::Locked => "locked",
            LiveEvent::Verified { .. } => "verified",
            LiveEvent::Expired => "expired",
            LiveEvent::Cancelled => "cancelled",
        }
    }
}

/// What the page does after a code was typed: the result, and where to send the browser
/// when the verification completed with a redirect (the token and state in its query).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckReply {
    pub result: CheckResult,
    pub redirect: Option<String>,
}

/// The result of typing a code on the hosted page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum CheckResult {
    Verified,
    Incorrect { attempts_left: u32 },
    Locked,
    Expired,
    AlreadyVerified,
    Cancelled,
    Malformed,
}

impl CheckResult {
    /// The short code carried in the query string after a form post without JavaScript.
    pub fn as_query(self) -> &'static str {
        match self {
            CheckResult::Verified | CheckResult::AlreadyVerified => "verified",
            CheckResult::Incorrect { .. } => "incorrect",
            CheckResult::Locked => "locked",
            CheckResult::Expired => "expired",
            CheckResult::Cancelled => "cancelled",
            CheckResult::Malformed => "malformed",
        }
    }
}

/// One message kept by the development console provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxMessage {
    pub sent_at_unix: u64,
    pub provider: String,
    pub to: String,
    pub subject: String,
    pub body: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_namespace_accepts_the_otpgateway_sample_names() {
        assert_eq!(Namespace::parse("myAppName").unwrap().as_str(), "myAppName");
        assert!(Namespace::parse("My-App_2.prod").is_ok());
    }

    #[test]
    fn a_namespace_refuses_empty_long_and_odd_input() {
        assert_eq!(Namespace::parse(""), Err(IdError::Empty));
        assert_eq!(Namespace::parse(&"a".repeat(65)), Err(IdError::TooLong(64)));
        for bad in ["a b", "a/b", "a\nb", "a\0", "ä", "a:b", "../x"] {
            assert!(Namespace::parse(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn a_verification_id_allows_128_characters_and_no_more() {
        assert!(VerificationId::parse(&"x".repeat(128)).is_ok());
        assert_eq!(
            VerificationId::parse(&"x".repeat(129)),
            Err(IdError::TooLong(128))
        );
        assert!(VerificationId::parse("john-0001").is_ok());
        assert!(VerificationId::parse("john%20").is_err());
    }

    #[test]
    fn ids_deserialize_only_when_valid() {
        assert!(serde_json::from_str::<VerificationId>("\"ok-1\"").is_ok());
        assert!(serde_json::from_str::<VerificationId>("\"not ok\"").is_err());
        assert!(serde_json::from_str::<VerificationId>("12").is_err());
    }

    #[test]
    fn status_round_trips_through_its_text() {
        for s in [
            Status::Pending,
            Status::Verified,
            Status::Expired,
            Status::Locked,
            Status::Cancelled,
        ] {
            assert_eq!(Status::parse(s.as_str()), Some(s));
            assert_eq!(s.is_terminal(), s != Status::Pending);
        }
        assert_eq!(Status::parse("open"), None);
    }
}
