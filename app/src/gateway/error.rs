//! The engine's error type. Each variant is something a caller can act on; storage detail
//! stays inside `Store` and is logged by the adapter, never shown.

use super::{address::AddressError, store::StoreError, tokens::TokenError};
use crate::model::Status;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("invalid credentials")]
    Unauthorized,
    #[error("the member's role does not allow this")]
    Forbidden,
    #[error("the verification does not exist")]
    NotFound,
    #[error("the factor does not exist")]
    FactorNotFound,
    #[error("unknown provider")]
    UnknownProvider,
    #[error("invalid address: {0}")]
    InvalidAddress(#[from] AddressError),
    #[error("invalid `{field}`: {reason}")]
    InvalidInput { field: &'static str, reason: String },
    #[error("too many attempts")]
    Locked {
        retry_after_secs: u64,
        attempts: u32,
        max_attempts: u32,
    },
    /// No sends left; carries the attempt counters, which otpgateway reports with it.
    #[error("send limit reached")]
    SendLimit {
        retry_after_secs: u64,
        attempts: u32,
        max_attempts: u32,
    },
    #[error("the verification is not verified")]
    NotVerified,
    #[error("the verification has no address to send to yet")]
    NoAddress,
    #[error("authenticator-app verifications send nothing")]
    NothingToSend,
    #[error("rate limited")]
    RateLimited { retry_after_secs: u64 },
    /// The app does not send to numbers of this country (`ZZ`: of no country).
    #[error("numbers of {country} are not accepted")]
    CountryNotAllowed { country: String },
    /// Sends to this country or range of numbers are held by the pumping detector.
    #[error("suspected fraud")]
    SuspectedFraud,
    /// The app's daily or monthly budget would be exceeded.
    #[error("budget exceeded")]
    BudgetExceeded {
        period: &'static str,
        retry_after_secs: u64,
    },
    #[error("the verification is closed ({})", .0.as_str())]
    Closed(Status),
    #[error("invalid token: {0}")]
    InvalidToken(TokenError),
    #[error("the token was already used")]
    TokenReused,
    #[error("the token is for another address")]
    TokenMismatch,
    #[error("the token is for another action or payload")]
    ActionMismatch,
    #[error("the verification is bound to another session")]
    BindingMismatch,
    #[error("storage unavailable")]
    Store(#[from] StoreError),
}

/// A provider callback that cannot be accepted: unknown kind, forged, or malformed.
impl From<super::delivery::ReceiptError> for EngineError {
    fn from(err: super::delivery::ReceiptError) -> Self {
        use super::delivery::ReceiptError as R;
        match err {
            R::Unsupported => EngineError::UnknownProvider,
            R::Unauthenticated => EngineError::Unauthorized,
            R::Malformed(field) => EngineError::invalid(field, "is missing or malformed"),
        }
    }
}

impl EngineError {
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidInput {
            field,
            reason: reason.into(),
        }
    }
}
