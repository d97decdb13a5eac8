//! The native API's one error body: `{"error": {"code": "...", "message": "..."}}`.
//! `code` is stable and meant for programs; `message` is for people. Neither ever carries
//! an internal detail, a code or a secret.

use app::gateway::{store::StoreError, EngineError};
use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `unauthorized`, `invalid_request`, `not_found`,
    /// `rate_limited`, `locked`, `send_limit`, `closed`, `no_address`, `invalid_token`,
    /// `token_used`, `idempotency_conflict`, `country_not_allowed`, `suspected_fraud`,
    /// `budget_exceeded`, `unavailable`.
    pub code: &'static str,
    pub message: String,
}

/// An error answer of the native API.
#[derive(Debug)]
pub struct V1Error {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<u64>,
}

impl V1Error {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", message)
    }

    pub fn bad_json() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the body is not a JSON object of the expected shape",
        )
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "invalid or missing credentials",
        )
    }

    fn retry(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }
}

impl From<EngineError> for V1Error {
    fn from(err: EngineError) -> Self {
        use EngineError as E;
        match err {
            E::Unauthorized => Self::unauthorized(),
            E::Forbidden => Self::new(StatusCode::FORBIDDEN, "forbidden", "not allowed"),
            E::NotFound => Self::new(StatusCode::NOT_FOUND, "not_found", "no such verification"),
            E::FactorNotFound => Self::new(StatusCode::NOT_FOUND, "not_found", "no such factor"),
            E::UnknownProvider => Self::invalid("unknown provider"),
            E::InvalidAddress(e) => Self::invalid(format!("invalid `to`: {e}")),
            E::InvalidInput { field, reason } => {
                Self::invalid(format!("invalid `{field}`: {reason}"))
            }
            E::Locked {
                retry_after_secs, ..
            } => Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "locked",
                "too many wrong codes",
            )
            .retry(retry_after_secs),
            E::SendLimit {
                retry_after_secs, ..
            } => Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "send_limit",
                "no sends left for this verification",
            )
            .retry(retry_after_secs),
            E::RateLimited { retry_after_secs } => Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many requests",
            )
            .retry(retry_after_secs),
            E::CountryNotAllowed { country } => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "country_not_allowed",
                format!("this app does not send to numbers of {country}"),
            ),
            E::SuspectedFraud => Self::new(
                StatusCode::FORBIDDEN,
                "suspected_fraud",
                "sends to these numbers are held as suspected SMS pumping; another channel \
                 may be used, or the app's owner can lift the hold",
            ),
            E::BudgetExceeded {
                period,
                retry_after_secs,
            } => Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "budget_exceeded",
                format!("the app's {period} message budget is spent"),
            )
            .retry(retry_after_secs),
            E::Closed(status) => Self::new(
                StatusCode::CONFLICT,
                "closed",
                format!("the verification is {}", status.as_str()),
            ),
            E::NoAddress => Self::new(
                StatusCode::CONFLICT,
                "no_address",
                "the verification has no address to send to yet",
            ),
            E::NothingToSend => Self::new(
                StatusCode::CONFLICT,
                "nothing_to_send",
                "authenticator-app verifications send nothing: the code is in the app",
            ),
            E::NotVerified => Self::new(
                StatusCode::CONFLICT,
                "closed",
                "the verification is not verified",
            ),
            E::InvalidToken(_) | E::TokenMismatch => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_token",
                "the token is not valid here",
            ),
            E::ActionMismatch => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "action_mismatch",
                "the token is for another action or payload",
            ),
            E::BindingMismatch => Self::new(
                StatusCode::FORBIDDEN,
                "binding_mismatch",
                "this verification is bound to another session; present its session_binding",
            ),
            E::TokenReused => Self::new(
                StatusCode::CONFLICT,
                "token_used",
                "the token was already confirmed",
            ),
            E::Store(e) => {
                tracing::error!(error = ?e, "storage failed");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "temporarily unavailable; retry",
                )
            }
        }
    }
}

impl From<StoreError> for V1Error {
    fn from(err: StoreError) -> Self {
        EngineError::from(err).into()
    }
}

impl IntoResponse for V1Error {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"otpgate\""),
            );
        }
        response
    }
}
