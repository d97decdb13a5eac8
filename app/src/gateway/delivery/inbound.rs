//! The pseudo-provider behind inbound verification (`provider = "inbound_sms"`): it sends
//! nothing; the person texts the code to the app's number, and the provider's inbound
//! webhook brings the message back as an [`InboundSms`].

use super::{DeliveryError, OutgoingMessage, Provider, Sent, TemplateSet};
use crate::gateway::{
    address::Channel,
    code::{Alphabet, CodeSpec},
};
use async_trait::async_trait;

/// The provider id integrators pass to start an inbound verification.
pub const INBOUND_PROVIDER: &str = "inbound_sms";
pub(crate) const INBOUND_LENGTH: u32 = 10;

pub fn inbound_code_spec() -> CodeSpec {
    CodeSpec::new(INBOUND_LENGTH, Alphabet::Alphanumeric).expect("a valid spec")
}

/// An SMS that reached the app's number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundSms {
    /// The provider's id for the message (deduplication).
    pub message_id: String,
    pub from: String,
    pub to: String,
    pub body: String,
}

/// The pseudo-provider behind `provider = "inbound_sms"`: it sends nothing, the person
/// sends the code to `number`.
pub struct InboundProvider {
    templates: TemplateSet,
}

impl Default for InboundProvider {
    fn default() -> Self {
        Self {
            templates: TemplateSet::default_sms(),
        }
    }
}

#[async_trait]
impl Provider for InboundProvider {
    fn id(&self) -> &str {
        INBOUND_PROVIDER
    }

    fn channel(&self) -> Channel {
        Channel::Sms
    }

    fn templates(&self) -> &TemplateSet {
        &self.templates
    }

    async fn send(&self, _message: &OutgoingMessage) -> Result<Sent, DeliveryError> {
        Err(DeliveryError::Rejected(
            "inbound verifications send nothing".into(),
        ))
    }
}
