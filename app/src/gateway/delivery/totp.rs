//! The pseudo-provider behind authenticator-app verification (`provider = "totp"`): it
//! sends nothing; the person reads the code from the app enrolled for the factor that is
//! the verification's address.

use super::{DeliveryError, OutgoingMessage, Provider, Sent, TemplateSet};
use crate::gateway::address::Channel;
use async_trait::async_trait;

/// The provider id integrators pass to check a factor.
pub const TOTP_PROVIDER: &str = "totp";

/// The pseudo-provider behind `provider = "totp"`.
pub struct TotpProvider {
    templates: TemplateSet,
}

impl Default for TotpProvider {
    fn default() -> Self {
        Self {
            templates: TemplateSet::default_sms(),
        }
    }
}

#[async_trait]
impl Provider for TotpProvider {
    fn id(&self) -> &str {
        TOTP_PROVIDER
    }

    fn channel(&self) -> Channel {
        Channel::Totp
    }

    fn templates(&self) -> &TemplateSet {
        &self.templates
    }

    async fn send(&self, _message: &OutgoingMessage) -> Result<Sent, DeliveryError> {
        Err(DeliveryError::Rejected(
            "authenticator-app verifications send nothing".into(),
        ))
    }
}
