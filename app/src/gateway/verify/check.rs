//! Checking a code: the limits, then one store transaction that counts the attempt,
//! compares the HMAC and settles the verification; and otpgateway's `/status`.

use crate::gateway::{
    code::OtpCode,
    delivery::totp::TOTP_PROVIDER,
    error::EngineError,
    handle::Gateway,
    limits, metrics,
    store::{AppRecord, Attempt, AttemptOutcome, Seen, VerificationRecord},
    verify::read::spec_of,
};
use crate::model::{CheckResult, Status, VerificationId};
use std::net::IpAddr;

/// How a check was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckMode {
    /// The native API: a verified record takes no more checks.
    Native,
    /// The otpgateway API: a verified record is retired unless told not to (`skip_delete`),
    /// and a kept one can be checked again until it expires.
    Otpgateway { retire: bool },
    /// The hosted page's form or JSON check.
    HostedPage,
}

impl Gateway {
    /// Checks a code. The attempt is counted before the comparison, in its own statement,
    /// so parallel guesses cannot exceed the budget.
    #[tracing::instrument(skip(self, app, raw_code), fields(app = %app.namespace, verification = %id))]
    pub async fn check(
        &self,
        app: &AppRecord,
        id: &VerificationId,
        raw_code: &str,
        mode: CheckMode,
    ) -> Result<(CheckResult, VerificationRecord), EngineError> {
        self.check_from(app, id, raw_code, mode, None).await
    }

    /// As [`check`](Self::check), counting against the caller's per-IP limit.
    pub async fn check_from(
        &self,
        app: &AppRecord,
        id: &VerificationId,
        raw_code: &str,
        mode: CheckMode,
        client_ip: Option<IpAddr>,
    ) -> Result<(CheckResult, VerificationRecord), EngineError> {
        self.check_presenting(app, id, raw_code, mode, client_ip, None)
            .await
    }

    /// As [`check_from`](Self::check_from), presenting the caller's session binding: a
    /// verification bound to a session is checked only where its binding is presented
    /// (else refused before the code is looked at, counting nothing).
    pub async fn check_presenting(
        &self,
        app: &AppRecord,
        id: &VerificationId,
        raw_code: &str,
        mode: CheckMode,
        client_ip: Option<IpAddr>,
        binding: Option<&str>,
    ) -> Result<(CheckResult, VerificationRecord), EngineError> {
        let answer = self
            .check_once(app, id, raw_code, mode, client_ip, binding)
            .await;
        let result = match &answer {
            Ok((CheckResult::AlreadyVerified, _)) => "already_verified",
            Ok((result, _)) => result.as_query(),
            Err(EngineError::RateLimited { .. }) => "rate_limited",
            Err(EngineError::NotFound) => "not_found",
            Err(EngineError::BindingMismatch) => "unbound",
            Err(_) => "error",
        };
        metrics::check(&app.namespace, result);
        answer
    }

    async fn check_once(
        &self,
        app: &AppRecord,
        id: &VerificationId,
        raw_code: &str,
        mode: CheckMode,
        client_ip: Option<IpAddr>,
        binding: Option<&str>,
    ) -> Result<(CheckResult, VerificationRecord), EngineError> {
        let l = &self.inner.settings.limits;
        self.limit_ip("check_ip", app, client_ip, l.check_per_ip)
            .await?;
        self.limit(limits::key("check_app", app.app_id, "all"), l.check_per_app)
            .await?;
        let store = &self.inner.store;
        let mut record = match mode {
            CheckMode::Native | CheckMode::Otpgateway { .. } => self.get(app, id).await?,
            CheckMode::HostedPage => store
                .find_verification(app.app_id, id.as_str())
                .await?
                .ok_or(EngineError::NotFound)?,
        };
        if !self.presents_binding(&app.namespace, &record, binding) {
            return Err(EngineError::BindingMismatch);
        }
        let now = self.inner.clock.now_ms();
        // otpgateway's `skip_delete` keeps a verified record checkable until it expires.
        let reconfirm = matches!(mode, CheckMode::Otpgateway { .. })
            && record.status == Status::Verified
            && record.expires_at > now;
        if reconfirm {
            if record.attempts >= record.max_attempts {
                return Ok((CheckResult::Locked, record));
            }
        } else if let Some(result) = self.settle(app, &mut record, now).await? {
            return Ok((result, record));
        }
        let Ok(code) = OtpCode::parse(raw_code, spec_of(&record)?) else {
            return Ok((CheckResult::Malformed, record));
        };
        // The per-address budget is taken before the comparison (and not spent by a right
        // code), so parallel guesses cannot slip past it either.
        let fail_cap = l.failed_checks_per_address;
        let fail_key = limits::key(
            "fail_addr",
            app.app_id,
            &limits::address_subject(&record.address),
        );
        let (budget_window, retry_after_secs) = fail_cap.window(now);
        let attempt = Attempt {
            verification_id: record.verification_id,
            now,
            budget_key: fail_key,
            budget_window,
            budget_max: fail_cap.max,
            retire: matches!(mode, CheckMode::Otpgateway { retire: true }),
            reconfirm,
            seen: Seen {
                attempts: record.attempts,
                code_hmac: record.code_hmac.clone(),
                created_at: record.created_at,
            },
        };
        // The code's digests are made before the check takes the writer. An
        // authenticator-app code is compared with its factor's window here, and its time
        // step recorded once; what the store compares then says whether it matched.
        let totp = record.provider == TOTP_PROVIDER;
        let digests = if totp {
            self.totp_digests(app, &record, &code, now).await?
        } else {
            self.inner
                .hasher
                .digests(&app.namespace, id.as_str(), &code)
        };
        match store.attempt(&attempt, &digests).await? {
            AttemptOutcome::OverBudget => Err(EngineError::RateLimited { retry_after_secs }),
            AttemptOutcome::NotOpen => {
                // Someone else moved it (locked, verified, expired or retired) between our
                // read and now.
                let mut fresh = store
                    .find_verification(app.app_id, id.as_str())
                    .await?
                    .ok_or(EngineError::NotFound)?;
                if reconfirm {
                    return match fresh.retired_at {
                        Some(_) => Err(EngineError::NotFound),
                        None if fresh.expires_at <= now => Ok((CheckResult::Expired, fresh)),
                        None => Ok((CheckResult::Locked, fresh)),
                    };
                }
                let result = self
                    .settle(app, &mut fresh, now)
                    .await?
                    .unwrap_or(CheckResult::Locked);
                Ok((result, fresh))
            }
            AttemptOutcome::Verified { attempts } => {
                record.attempts = attempts;
                if totp {
                    self.factor_verified(app, &record, now).await?;
                }
                if !reconfirm {
                    metrics::verification(&app.namespace, &record.channel, "verified");
                    self.guard_verified(app, &record);
                    record.status = Status::Verified;
                    record.verified_at = Some(now);
                }
                Ok((CheckResult::Verified, record))
            }
            AttemptOutcome::Incorrect {
                attempts,
                max_attempts,
                locked,
            } => {
                record.attempts = attempts;
                if locked {
                    metrics::verification(&app.namespace, &record.channel, "locked");
                    record.status = Status::Locked;
                }
                let attempts_left = max_attempts.saturating_sub(attempts);
                Ok((CheckResult::Incorrect { attempts_left }, record))
            }
        }
    }

    /// The verification if it is verified (otpgateway's `/status`: a kept record answers
    /// until it expires); with `retire`, the record is consumed afterwards.
    pub async fn verified_status(
        &self,
        app: &AppRecord,
        id: &VerificationId,
        retire: bool,
    ) -> Result<VerificationRecord, EngineError> {
        let record = self.get(app, id).await?;
        let now = self.inner.clock.now_ms();
        if record.expires_at <= now {
            return Err(EngineError::NotFound);
        }
        if record.status != Status::Verified {
            return Err(EngineError::NotVerified);
        }
        if retire {
            self.inner.store.retire(record.verification_id, now).await?;
            self.inner
                .store
                .record_event(record.verification_id, "retired", "{}", now)
                .await?;
        }
        Ok(record)
    }
}
