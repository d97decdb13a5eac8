//! Delivery: the providers that carry a code to a person, and the messages they carry.

pub mod catalogue;
mod console;
mod http_sms;
pub mod inbound;
mod kaleyra;
pub mod net;
mod smtp;
mod template;
pub mod totp;
mod twilio;
mod webhook;

pub use console::ConsoleProvider;
pub use http_sms::{HttpSmsBody, HttpSmsProvider, HttpSmsSettings};
pub use kaleyra::{KaleyraProvider, KaleyraSettings};
pub use net::NetPolicy;
pub use smtp::{SmtpAuth, SmtpProvider, SmtpSettings, TlsMode};
pub use template::{MessageTemplate, Rendered, TemplateError, TemplateSet, TemplateVars};
pub use twilio::{TwilioProvider, TwilioSettings};
pub use webhook::{
    sign as sign_webhook, verify as verify_signed_request, WebhookProvider, WebhookSettings,
};

use super::address::{Address, AddressError, Channel};
use async_trait::async_trait;
use std::{collections::BTreeMap, fmt, sync::Arc, time::Duration};

/// The dev inbox's route: a message routed here is kept in its app's dev inbox (written
/// by the verification's provider's templates) and never sent.
pub const DEV_INBOX: &str = "dev_inbox";

/// A rendered message, ready for a provider. Holds the code in its body: never log it.
#[derive(Clone)]
pub struct OutgoingMessage {
    pub to: Address,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    /// The verification behind the message, for providers that relay it (webhooks).
    pub meta: MessageMeta,
}

/// What a relaying provider may pass on about the verification. Holds the code.
#[derive(Clone)]
pub struct MessageMeta {
    pub namespace: String,
    pub id: String,
    pub provider: String,
    pub code: crate::gateway::code::OtpCode,
    pub channel_description: String,
    pub address_description: String,
    /// The integrator's `extra`, as JSON text.
    pub extra: String,
    pub attempts: u32,
    pub max_attempts: u32,
    pub sends: u32,
    pub max_sends: u32,
    pub ttl_secs: u64,
}

crate::debug_showing!(OutgoingMessage { to });

/// Why a provider could not deliver. Safe to log: never contains the message body.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("provider refused the message: {0}")]
    Rejected(String),
    #[error("provider unreachable: {0}")]
    Unavailable(String),
    /// A 429 that named when to come back (`Retry-After`): no retry before then.
    #[error("provider is throttling: {0}; it asks to wait {wait} s", wait = .1.as_secs())]
    Throttled(String, std::time::Duration),
}

impl DeliveryError {
    /// Whether trying the same provider again cannot help (a refused recipient, a 4xx).
    pub fn is_permanent(&self) -> bool {
        matches!(self, DeliveryError::Rejected(_))
    }

    /// The kind of failure, as stats count it: `rejected` or `unavailable`.
    pub fn class(&self) -> &'static str {
        match self {
            DeliveryError::Rejected(_) => "rejected",
            DeliveryError::Unavailable(_) | DeliveryError::Throttled(..) => "unavailable",
        }
    }

    /// How long the provider asked to be left alone, if it said.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            DeliveryError::Throttled(_, wait) => Some(*wait),
            _ => None,
        }
    }

    /// What went wrong, in words.
    pub fn into_reason(self) -> String {
        match self {
            DeliveryError::Rejected(r)
            | DeliveryError::Unavailable(r)
            | DeliveryError::Throttled(r, _) => r,
        }
    }
}

/// A provider's acceptance of a message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sent {
    /// The provider's id for the message, which its delivery receipts quote.
    pub message_id: Option<String>,
}

/// A delivery receipt: what became of a message after the provider accepted it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub message_id: String,
    /// The provider's word, lower case: `delivered`, `undelivered`, `failed`, `read`, ...
    pub status: String,
    pub error_code: Option<String>,
}

/// Why a posted receipt was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    #[error("this provider does not post delivery receipts")]
    Unsupported,
    #[error("the receipt's signature does not verify")]
    Unauthenticated,
    #[error("the receipt is malformed: {0}")]
    Malformed(&'static str),
}

/// A configured route to people: an id, a channel, and a way to send.
#[async_trait]
pub trait Provider: Send + Sync + 'static {
    /// The id integrators pass as `provider`.
    fn id(&self) -> &str;
    fn channel(&self) -> Channel;
    /// Subject and bodies for this provider, per language.
    fn templates(&self) -> &TemplateSet;
    /// Validates an address for this provider.
    fn parse_address(&self, raw: &str) -> Result<Address, AddressError> {
        Address::parse(self.channel(), raw)
    }
    /// How long one send may take before it counts as failed.
    fn timeout(&self) -> Duration {
        Duration::from_secs(10)
    }
    /// Whether its messages stay in the app's dev inbox instead of being sent.
    fn keeps_messages(&self) -> bool {
        false
    }
    async fn send(&self, message: &OutgoingMessage) -> Result<Sent, DeliveryError>;
    /// Authenticates and parses a delivery receipt posted to `url` (the exact public URL
    /// the provider was given) with a form body.
    fn parse_receipt(
        &self,
        url: &str,
        headers: &http::HeaderMap,
        form: &[(String, String)],
    ) -> Result<Receipt, ReceiptError> {
        let _ = (url, headers, form);
        Err(ReceiptError::Unsupported)
    }
    /// Authenticates and parses an incoming SMS posted to `url` (inbound verification).
    fn parse_inbound(
        &self,
        url: &str,
        headers: &http::HeaderMap,
        form: &[(String, String)],
    ) -> Result<inbound::InboundSms, ReceiptError> {
        let _ = (url, headers, form);
        Err(ReceiptError::Unsupported)
    }
}

/// The [`Provider`] methods that read straight from a provider's `settings` (its `id`,
/// `channel`, `templates` and `timeout` fields): written once for every configured
/// provider, inside its `impl Provider` block.
macro_rules! settings_accessors {
    () => {
        fn id(&self) -> &str {
            &self.settings.id
        }

        fn channel(&self) -> $crate::gateway::address::Channel {
            self.settings.channel
        }

        fn templates(&self) -> &$crate::gateway::delivery::TemplateSet {
            &self.settings.templates
        }

        fn timeout(&self) -> ::std::time::Duration {
            self.settings.timeout
        }
    };
}

pub(crate) use settings_accessors;

/// Maps an HTTP provider's answer to an outcome: 2xx sent; 429 and 5xx worth retrying
/// (a 429's `Retry-After` in seconds, up to an hour, is kept); any other status a refusal.
pub fn status_outcome(provider: &str, response: &reqwest::Response) -> Result<(), DeliveryError> {
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let message = format!("{provider} answered {status}");
    let wait = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let (reqwest::StatusCode::TOO_MANY_REQUESTS, Some(secs)) = (status, wait) {
        let wait = std::time::Duration::from_secs(secs.min(3600));
        return Err(DeliveryError::Throttled(message, wait));
    }
    if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        Err(DeliveryError::Unavailable(message))
    } else {
        Err(DeliveryError::Rejected(message))
    }
}

/// A transport failure (connect, timeout, refused address) of an HTTP provider.
pub fn transport_error(e: reqwest::Error) -> DeliveryError {
    let mut detail = String::new();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    let text = e.without_url().to_string();
    if detail.is_empty() {
        DeliveryError::Unavailable(text)
    } else {
        DeliveryError::Unavailable(format!("{text}: {detail}"))
    }
}

/// The providers known to this instance, by id, and what the providers tenants add to
/// their apps are built with.
#[derive(Clone, Default)]
pub struct Providers {
    by_id: BTreeMap<String, Arc<dyn Provider>>,
    console: Option<Arc<ConsoleProvider>>,
    kit: catalogue::ProviderKit,
}

impl fmt::Debug for Providers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.by_id.keys()).finish()
    }
}

impl Providers {
    pub fn add(&mut self, provider: Arc<dyn Provider>) {
        self.by_id.insert(provider.id().to_owned(), provider);
    }

    /// Adds the development console provider and keeps a handle to its inbox.
    pub fn add_console(&mut self, console: Arc<ConsoleProvider>) {
        self.console = Some(console.clone());
        self.add(console);
    }

    pub fn get(&self, id: &str) -> Option<&Arc<dyn Provider>> {
        self.by_id.get(id)
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.by_id.keys().map(String::as_str)
    }

    /// Sets the network policy and templates of the providers tenants add.
    pub fn set_kit(&mut self, kit: catalogue::ProviderKit) {
        self.kit = kit;
    }

    pub fn kit(&self) -> &catalogue::ProviderKit {
        &self.kit
    }

    /// The console provider, when enabled (development only).
    pub fn console(&self) -> Option<&Arc<ConsoleProvider>> {
        self.console.as_ref()
    }
}
