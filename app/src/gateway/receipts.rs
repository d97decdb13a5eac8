//! Delivery receipts: a provider's report on a message, authenticated by the provider
//! and recorded once as a `receipt` event of its verification.

use crate::gateway::{delivery::Provider, error::EngineError, handle::Gateway};

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
        let url = self.receipt_url(provider_id);
        self.receipt_from(provider.as_ref(), None, &url, headers, form)
            .await
    }

    /// [`record_receipt`](Self::record_receipt) for one of an app's own providers, which
    /// post to `/v1/apps/{app_id}/providers/{provider_id}/status`.
    pub async fn record_app_receipt(
        &self,
        app_id: i64,
        provider_id: &str,
        headers: &http::HeaderMap,
        form: &[(String, String)],
    ) -> Result<(), EngineError> {
        let rows = self.inner.store.app_providers(app_id).await?;
        let row = rows
            .iter()
            .find(|r| r.provider_id == provider_id)
            .ok_or(EngineError::UnknownProvider)?;
        let book = &self.inner.providers;
        let provider = book.build(row).map_err(|_| EngineError::UnknownProvider)?;
        let url = book.receipts_url(app_id, provider_id);
        self.receipt_from(provider.as_ref(), Some(app_id), &url, headers, form)
            .await
    }

    async fn receipt_from(
        &self,
        provider: &dyn Provider,
        app_id: Option<i64>,
        url: &str,
        headers: &http::HeaderMap,
        form: &[(String, String)],
    ) -> Result<(), EngineError> {
        let provider_id = provider.id();
        let receipt = provider.parse_receipt(url, headers, form)?;
        let now = self.inner.clock.now_ms();
        let Some((verification_id, sent_at)) = self
            .inner
            .store
            .record_receipt(
                provider_id,
                &receipt.message_id,
                &receipt.status,
                now,
                app_id,
            )
            .await?
        else {
            return Ok(());
        };
        let detail = serde_json::json!({
            "provider": provider_id,
            "status": receipt.status,
            "error_code": receipt.error_code,
            "after_ms": sent_at.map(|sent| now - sent),
        });
        self.inner
            .store
            .record_event(verification_id, "receipt", &detail.to_string(), now)
            .await?;
        Ok(())
    }
}
