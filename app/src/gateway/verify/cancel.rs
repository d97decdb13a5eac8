//! Cancelling an open verification.

use crate::gateway::{
    error::EngineError,
    handle::Gateway,
    store::{AppRecord, VerificationRecord},
};
use crate::model::{Status, VerificationId};

impl Gateway {
    /// Cancels an open verification; a closed one answers with its state.
    pub async fn cancel(
        &self,
        app: &AppRecord,
        id: &VerificationId,
    ) -> Result<VerificationRecord, EngineError> {
        let mut record = self.get(app, id).await?;
        let now = self.inner.clock.now_ms();
        if self.settle(app, &mut record, now).await?.is_some() {
            return Err(EngineError::Closed(record.status));
        }
        if self
            .inner
            .store
            .finish(record.verification_id, Status::Cancelled, now)
            .await?
        {
            self.inner
                .store
                .record_event(record.verification_id, "cancelled", "{}", now)
                .await?;
            record.status = Status::Cancelled;
            return Ok(record);
        }
        let fresh = self.get(app, id).await?;
        Err(EngineError::Closed(fresh.status))
    }
}
