//! Reading a verification as the APIs see it, and settling one that can take no more
//! checks (an overdue one is marked expired when it is read).

use crate::gateway::{
    clock::secs_until,
    code::{Alphabet, CodeSpec},
    error::EngineError,
    handle::Gateway,
    metrics,
    store::{AppRecord, StoreError, VerificationRecord},
};
use crate::model::{CheckResult, Status, VerificationId};

pub(crate) fn spec_of(record: &VerificationRecord) -> Result<CodeSpec, EngineError> {
    let alphabet = Alphabet::parse(&record.code_alphabet)
        .ok_or(StoreError::Corrupt("verification.code_alphabet"))?;
    CodeSpec::new(record.code_length, alphabet)
        .map_err(|_| StoreError::Corrupt("verification.code_length").into())
}

impl Gateway {
    /// The current verification with this id, hidden once the otpgateway API retired it.
    pub async fn get(
        &self,
        app: &AppRecord,
        id: &VerificationId,
    ) -> Result<VerificationRecord, EngineError> {
        match self
            .inner
            .store
            .find_verification(app.app_id, id.as_str())
            .await?
        {
            Some(r) if r.retired_at.is_none() => Ok(r),
            _ => Err(EngineError::NotFound),
        }
    }

    /// As [`get`](Self::get), with an overdue verification marked expired first.
    pub async fn fetch(
        &self,
        app: &AppRecord,
        id: &VerificationId,
    ) -> Result<VerificationRecord, EngineError> {
        let mut record = self.get(app, id).await?;
        self.settle(app, &mut record, self.inner.clock.now_ms())
            .await?;
        Ok(record)
    }

    /// For a verification that can take no more checks, the answer to give; marks an
    /// overdue one expired. `None` while it is open.
    pub(crate) async fn settle(
        &self,
        app: &AppRecord,
        record: &mut VerificationRecord,
        now: i64,
    ) -> Result<Option<CheckResult>, EngineError> {
        Ok(Some(match record.status {
            Status::Verified => CheckResult::AlreadyVerified,
            Status::Locked => CheckResult::Locked,
            Status::Expired => CheckResult::Expired,
            Status::Cancelled => CheckResult::Cancelled,
            Status::Pending if record.expires_at <= now => {
                if self
                    .inner
                    .store
                    .finish(record.verification_id, Status::Expired, now)
                    .await?
                {
                    self.inner
                        .store
                        .record_event(record.verification_id, "expired", "{}", now)
                        .await?;
                    metrics::verification(&app.namespace, &record.channel, "expired");
                }
                record.status = Status::Expired;
                CheckResult::Expired
            }
            Status::Pending if record.attempts >= record.max_attempts => CheckResult::Locked,
            Status::Pending => return Ok(None),
        }))
    }

    /// Seconds until the record expires, at least zero.
    pub fn ttl_remaining(&self, record: &VerificationRecord) -> u64 {
        secs_until(record.expires_at, self.inner.clock.now_ms())
    }

    /// Event kinds of a verification, oldest first.
    pub async fn event_kinds(
        &self,
        record: &VerificationRecord,
    ) -> Result<Vec<String>, EngineError> {
        Ok(self.inner.store.event_kinds(record.verification_id).await?)
    }

    /// The outbox rows of a verification: (status, provider, attempts), oldest first.
    pub async fn deliveries(
        &self,
        record: &VerificationRecord,
    ) -> Result<Vec<(String, String, u32)>, EngineError> {
        Ok(self
            .inner
            .store
            .deliveries_of(record.verification_id)
            .await?)
    }
}
