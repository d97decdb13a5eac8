//! "Didn't get it?": moving an open verification to another of the app's providers.

use crate::gateway::{
    address::Channel,
    clock::secs_until,
    code::OtpCode,
    delivery::inbound::{inbound_code_spec, INBOUND_PROVIDER},
    error::EngineError,
    handle::Gateway,
    store::Switch,
    verify::read::spec_of,
};
use std::net::IpAddr;

impl Gateway {
    /// "Didn't get it?" on the hosted page: the verification moves to `provider`, one of
    /// the app's fallbacks. A new code is made, since the old one proves nothing about the
    /// new address; attempts, sends and expiry carry over, and messages still queued for
    /// the old channel are dropped. A phone number is kept when the new channel reaches
    /// phones too (and then the code is sent at once); otherwise the page asks for the new
    /// address. `Ok(true)` when a message was queued.
    pub async fn switch_from_page(
        &self,
        namespace: &str,
        id: &str,
        provider_id: &str,
        client_ip: Option<IpAddr>,
    ) -> Result<bool, EngineError> {
        let (app, record, now) = self.open_for_sending(namespace, id, client_ip).await?;
        if provider_id == record.provider
            || !app
                .settings
                .pages
                .fallbacks
                .iter()
                .any(|p| p == provider_id)
        {
            return Err(EngineError::invalid(
                "provider",
                "is not another way this app offers",
            ));
        }
        let provider = self.provider_for(&app, provider_id).await?;
        let inbound = provider.id() == INBOUND_PROVIDER;
        let was_phone = Channel::parse(&record.channel).is_some_and(Channel::is_phone);
        let address = (was_phone && provider.channel().is_phone())
            .then(|| provider.parse_address(&record.address).ok())
            .flatten();
        let admitted = self.admit_address(&app, provider.channel(), address.as_ref())?;
        let spec = if inbound {
            inbound_code_spec()
        } else if record.provider == INBOUND_PROVIDER {
            app.settings.code_spec(self.inner.settings.code_spec)
        } else {
            spec_of(&record)?
        };
        let code = OtpCode::generate(spec);
        let delivery = address
            .as_ref()
            .filter(|_| !inbound)
            .map(|a| self.delivery_for(&app, provider.as_ref(), a.as_str()));
        let switch = Switch {
            from_provider: record.provider.clone(),
            provider: provider_id.to_owned(),
            channel: provider.channel().as_str().into(),
            address: address.as_ref().map(|a| a.to_string()).unwrap_or_default(),
            code_hmac: self
                .inner
                .hasher
                .hash(&app.namespace, &record.public_id, &code),
            code_sealed: self
                .inner
                .hasher
                .seal(&app.namespace, &record.public_id, &code),
            code_length: spec.length,
            code_alphabet: spec.alphabet.as_str().into(),
            inbound_key: inbound.then(|| self.inbound_key(&code)),
            address_key: address.as_ref().map(|a| self.address_key(a.as_str())),
            now,
        };
        let cleared = match address.as_ref().filter(|_| delivery.is_some()) {
            Some(a) => Some(
                self.clear_send(&app, provider.as_ref(), a, &admitted)
                    .await?,
            ),
            None => None,
        };
        let switched = self
            .inner
            .store
            .switch_channel(record.verification_id, &switch, delivery.as_ref())
            .await;
        if let Some(cleared) = cleared {
            match &switched {
                Ok(Some(_)) => self.sent(cleared),
                _ => self.not_sent(&app, cleared).await,
            }
        }
        match switched? {
            Some(_) if delivery.is_some() => {
                self.inner.outbox.wake();
                Ok(true)
            }
            Some(_) => Ok(false),
            None if record.sends >= record.max_sends && delivery.is_some() => {
                Err(EngineError::SendLimit {
                    retry_after_secs: secs_until(record.expires_at, now).max(1),
                    attempts: record.attempts,
                    max_attempts: record.max_attempts,
                })
            }
            None => Err(EngineError::Closed(record.status)),
        }
    }
}
