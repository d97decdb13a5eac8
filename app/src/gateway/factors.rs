//! Authenticator-app (TOTP) factors: enrolling one for an app's user (a pending factor and
//! the verification that activates it), listing and deleting them, and the part of a
//! check that is their own: the typed code against the factor's window, each time step
//! accepted once.

use crate::gateway::{
    code::{CodeDigests, OtpCode},
    delivery::totp::TOTP_PROVIDER,
    error::EngineError,
    handle::Gateway,
    store::{AppRecord, FactorRecord, NewFactor, StoreError, VerificationRecord},
    totp::{new_factor_id, Algorithm, TotpParams, TotpSecret},
};
use crate::model::{EnrolmentView, Status};

/// What a sealed factor secret is for (its key is derived for this purpose alone).
const SEAL_PURPOSE: &str = "totp-factor";

/// The most factors one listing returns.
pub const MAX_LISTED: i64 = 100;

/// A factor to enrol for one of the app's users.
#[derive(Debug, Clone, Default)]
pub struct EnrolRequest {
    /// The integrator's id for its user (1–128 printable characters).
    pub user: String,
    /// What the authenticator app shows beside the codes (e.g. the user's e-mail address).
    pub label: String,
    /// The issuer the authenticator app shows; the app's name when absent.
    pub issuer: Option<String>,
    pub algorithm: Option<String>,
    pub digits: Option<u32>,
    pub period: Option<u32>,
}

/// A new factor: the URI an authenticator app takes (it holds the secret: show it to its
/// user once, never store it), and the secret as text for typing by hand.
#[derive(Debug, Clone)]
pub struct Enrolled {
    pub factor: FactorRecord,
    pub uri: String,
    pub secret: String,
}

impl Gateway {
    /// Stores a pending factor with a new random secret (160 bits), sealed for its row.
    pub async fn enrol_factor(
        &self,
        app: &AppRecord,
        req: EnrolRequest,
    ) -> Result<Enrolled, EngineError> {
        let user = printable("user", &req.user, 128)?;
        let label = match req.label.trim() {
            "" => user.clone(),
            label => printable("label", label, 128)?,
        };
        let issuer = match req.issuer.as_deref().map(str::trim) {
            None | Some("") => app.name.clone(),
            Some(issuer) => printable("issuer", issuer, 64)?,
        };
        let params =
            TotpParams::new(req.algorithm.as_deref(), req.digits, req.period).map_err(|e| {
                let field = match e {
                    crate::gateway::totp::ParamsError::Algorithm => "algorithm",
                    crate::gateway::totp::ParamsError::Digits => "digits",
                    crate::gateway::totp::ParamsError::Period => "period",
                };
                EngineError::invalid(field, e.to_string())
            })?;
        let secret = TotpSecret::generate();
        let public_id = new_factor_id();
        let sealed = self.inner.hasher.seal_for(
            SEAL_PURPOSE,
            &binding(app.app_id, &public_id),
            secret.as_bytes(),
        );
        let factor = self
            .inner
            .store
            .insert_factor(&NewFactor {
                app_id: app.app_id,
                public_id,
                user_id: user,
                label: label.clone(),
                sealed,
                algorithm: params.algorithm.as_str().to_owned(),
                digits: params.digits,
                period: params.period,
                now: self.inner.clock.now_ms(),
            })
            .await?;
        Ok(Enrolled {
            uri: secret.uri(&params, &issuer, &label),
            secret: secret.base32(),
            factor,
        })
    }

    /// One of the app's factors.
    pub async fn factor(&self, app: &AppRecord, id: &str) -> Result<FactorRecord, EngineError> {
        self.inner
            .store
            .find_factor(app.app_id, id)
            .await?
            .ok_or(EngineError::FactorNotFound)
    }

    /// The app's factors (of one user when `user` is given), oldest first.
    pub async fn factors(
        &self,
        app: &AppRecord,
        user: Option<&str>,
    ) -> Result<Vec<FactorRecord>, EngineError> {
        Ok(self
            .inner
            .store
            .list_factors(app.app_id, user, MAX_LISTED)
            .await?)
    }

    /// Deletes a factor; its codes are refused from then on.
    pub async fn delete_factor(&self, app: &AppRecord, id: &str) -> Result<(), EngineError> {
        if self.inner.store.delete_factor(app.app_id, id).await? {
            Ok(())
        } else {
            Err(EngineError::FactorNotFound)
        }
    }

    /// The factor a `totp` verification is for, when its app has one by that id.
    pub(crate) async fn factor_of(
        &self,
        app: &AppRecord,
        record: &VerificationRecord,
    ) -> Result<Option<FactorRecord>, EngineError> {
        if record.provider != TOTP_PROVIDER {
            return Ok(None);
        }
        Ok(self
            .inner
            .store
            .find_factor(app.app_id, &record.address)
            .await?)
    }

    /// What a `totp` verification's check compares with its stored value: the digests of
    /// [`OtpCode::totp_accepted`] when `code` is the factor's code for a time step within
    /// the window that was never accepted before (that step is then recorded, in one
    /// conditional statement, so two checks of one code cannot both pass); else the typed
    /// code's own digests, which never match.
    pub(crate) async fn totp_digests(
        &self,
        app: &AppRecord,
        record: &VerificationRecord,
        code: &OtpCode,
        now_ms: i64,
    ) -> Result<CodeDigests, EngineError> {
        let hasher = &self.inner.hasher;
        let typed = hasher.digests(&app.namespace, &record.public_id, code);
        let Some(factor) = self.factor_of(app, record).await? else {
            return Ok(typed);
        };
        let (secret, params) = self.open_factor(&factor)?;
        let step = secret.matching_step(&params, code.expose(), now_ms / 1000, factor.last_step);
        match step {
            Some(step) if self.inner.store.accept_step(factor.factor_id, step).await? => {
                Ok(hasher.digests(&app.namespace, &record.public_id, &OtpCode::totp_accepted()))
            }
            _ => Ok(typed),
        }
    }

    /// After a `totp` verification verified: its factor is active from now on.
    pub(crate) async fn factor_verified(
        &self,
        app: &AppRecord,
        record: &VerificationRecord,
        now_ms: i64,
    ) -> Result<(), EngineError> {
        if let Some(factor) = self.factor_of(app, record).await? {
            if factor.status == "pending" {
                self.inner
                    .store
                    .activate_factor(factor.factor_id, now_ms)
                    .await?;
            }
        }
        Ok(())
    }

    /// The enrolment a hosted page shows for an open `totp` verification whose factor is
    /// still pending: the QR code of its URI, and its secret to type by hand. Nothing once
    /// the factor is active.
    pub(crate) async fn enrolment_view(
        &self,
        app: &AppRecord,
        record: &VerificationRecord,
    ) -> Result<Option<EnrolmentView>, EngineError> {
        if record.status != Status::Pending {
            return Ok(None);
        }
        let Some(factor) = self.factor_of(app, record).await? else {
            return Ok(None);
        };
        if factor.status != "pending" {
            return Ok(None);
        }
        let (secret, params) = self.open_factor(&factor)?;
        Ok(Some(secret.enrolment(&params, &app.name, &factor.label)))
    }

    fn open_factor(&self, factor: &FactorRecord) -> Result<(TotpSecret, TotpParams), EngineError> {
        let plain = self
            .inner
            .hasher
            .open_for(
                SEAL_PURPOSE,
                &binding(factor.app_id, &factor.public_id),
                &factor.sealed,
            )
            .ok_or(StoreError::Corrupt("factor.sealed"))?;
        let params = TotpParams {
            algorithm: Algorithm::parse(&factor.algorithm)
                .ok_or(StoreError::Corrupt("factor.algorithm"))?,
            digits: factor.digits,
            period: factor.period,
        };
        Ok((TotpSecret::from_bytes(plain), params))
    }
}

/// The associated data that ties a sealed secret to its factor.
fn binding(app_id: i64, public_id: &str) -> String {
    format!("{app_id}:{public_id}")
}

/// `raw` trimmed, if it is 1 to `max` printable characters.
fn printable(field: &'static str, raw: &str, max: usize) -> Result<String, EngineError> {
    let value = raw.trim();
    if value.is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(EngineError::invalid(
            field,
            format!("must be 1 to {max} printable characters"),
        ));
    }
    Ok(value.to_owned())
}
