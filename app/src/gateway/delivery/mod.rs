//! Delivery: the providers that carry a code to a person, and the messages they carry.

mod console;
mod smtp;
mod template;
mod webhook;

pub use console::ConsoleProvider;
pub use smtp::{SmtpAuth, SmtpProvider, SmtpSettings, TlsMode};
pub use template::{MessageTemplate, TemplateVars};
pub use webhook::{WebhookProvider, WebhookSettings};

use super::address::{Address, AddressError, Channel};
use async_trait::async_trait;
use std::{collections::BTreeMap, fmt, sync::Arc};

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

impl fmt::Debug for OutgoingMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutgoingMessage")
            .field("to", &self.to)
            .finish_non_exhaustive()
    }
}

/// Why a provider could not deliver. Safe to log: never contains the message body.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("provider refused the message: {0}")]
    Rejected(String),
    #[error("provider unreachable: {0}")]
    Unavailable(String),
}

/// A configured route to people: an id, a channel, and a way to send.
#[async_trait]
pub trait Provider: Send + Sync + 'static {
    /// The id integrators pass as `provider`.
    fn id(&self) -> &str;
    fn channel(&self) -> Channel;
    /// Renders subject and bodies for this provider.
    fn template(&self) -> &MessageTemplate;
    /// Validates an address for this provider.
    fn parse_address(&self, raw: &str) -> Result<Address, AddressError> {
        Address::parse(self.channel(), raw)
    }
    async fn send(&self, message: &OutgoingMessage) -> Result<(), DeliveryError>;
}

/// The providers known to this instance, by id.
#[derive(Clone, Default)]
pub struct Providers {
    by_id: BTreeMap<String, Arc<dyn Provider>>,
    console: Option<Arc<ConsoleProvider>>,
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

    /// The console provider, when enabled (development only).
    pub fn console(&self) -> Option<&Arc<ConsoleProvider>> {
        self.console.as_ref()
    }
}
