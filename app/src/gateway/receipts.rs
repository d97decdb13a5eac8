//! Delivery receipts: a provider's report on a message, authenticated by the provider
//! and recorded once as a `receipt` event of its verification.

use crate::gateway::{error::EngineError, handle::Gateway};

impl Gateway {
    /// The public URL a provider posts delivery receipts to.
    pub fn receipt_url(&self, provider_id: &str) -> String {
        format!(
            "{}/v1/providers/{provider_id}/status",
            self.inner.settings.root_url
        )
    }

    /// Authenticates a provider's delivery receipt and records it as a `receipt` event of
    /// the verification whose message it reports on. Repeats of a status already recorded
    /// are accepted and ignored.
    pub async fn record_receipt(
        &self,
        provider_id: &str,
        headers: &http::HeaderMap,
        form: &[(String, String)],
    ) -> Result<(), EngineError> {
        let provider = self.server_provider(provider_id)?;
        let receipt = provider.parse_receipt(&self.receipt_url(provider_id), headers, form)?;
        let now = self.inner.clock.now_ms();
        let Some(verification_id) = self
            .inner
            .store
            .record_receipt(provider_id, &receipt.message_id, &receipt.status, now)
            .await?
        else {
            return Ok(());
        };
        let detail = serde_json::json!({
            "provider": provider_id,
            "status": receipt.status,
            "error_code": receipt.error_code,
        });
        self.inner
            .store
            .record_event(verification_id, "receipt", &detail.to_string(), now)
            .await?;
        Ok(())
    }
}
