//! Sending the same code again: after the cooldown, within the send cap, never touching
//! the attempt counter.

use crate::gateway::{
    clock::secs_until,
    delivery::totp::TOTP_PROVIDER,
    error::EngineError,
    handle::Gateway,
    store::{AppRecord, VerificationRecord},
};
use crate::model::VerificationId;
use std::net::IpAddr;

impl Gateway {
    /// Sends the same code again, after the cooldown and within the send cap. Never touches
    /// the attempt counter.
    #[tracing::instrument(skip(self, app), fields(app = %app.namespace, verification = %id))]
    pub async fn resend(
        &self,
        app: &AppRecord,
        id: &VerificationId,
        client_ip: Option<IpAddr>,
    ) -> Result<VerificationRecord, EngineError> {
        let l = &self.inner.settings.limits;
        self.limit_ip("resend_ip", app, client_ip, l.resend_per_ip)
            .await?;
        let mut record = self.get(app, id).await?;
        let now = self.inner.clock.now_ms();
        if self.settle(app, &mut record, now).await?.is_some() {
            return Err(EngineError::Closed(record.status));
        }
        if record.provider == TOTP_PROVIDER {
            return Err(EngineError::NothingToSend);
        }
        let provider = self.provider_for(app, &record.provider).await?;
        let address = provider
            .parse_address(&record.address)
            .map_err(|_| EngineError::NoAddress)?;
        let cooldown_ms = l.resend_cooldown_secs * 1000;
        let delivery = self.delivery_for(app, provider.as_ref(), address.as_str());
        let admitted = self.admit_address(app, provider.channel(), Some(&address))?;
        let cleared = self
            .clear_send(app, provider.as_ref(), &address, &admitted)
            .await?;
        let claimed = self
            .inner
            .store
            .claim_resend(record.verification_id, cooldown_ms, now, &delivery)
            .await;
        let claimed = match claimed {
            Ok(Some(updated)) => {
                self.sent(cleared);
                Some(updated)
            }
            Ok(None) => {
                self.not_sent(app, cleared).await;
                None
            }
            Err(e) => {
                self.not_sent(app, cleared).await;
                return Err(e.into());
            }
        };
        let Some(updated) = claimed else {
            if record.sends >= record.max_sends {
                return Err(EngineError::SendLimit {
                    retry_after_secs: secs_until(record.expires_at, now).max(1),
                    attempts: record.attempts,
                    max_attempts: record.max_attempts,
                });
            }
            let last = record.last_sent_at.unwrap_or(now);
            return Err(EngineError::RateLimited {
                retry_after_secs: secs_until(last + cooldown_ms, now).max(1),
            });
        };
        self.inner
            .store
            .record_event(updated.verification_id, "resent", "{}", now)
            .await?;
        self.inner.outbox.wake();
        Ok(updated)
    }
}
