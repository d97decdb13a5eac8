//! otpgateway's response envelope: `{"status":"success","data":…}` or
//! `{"status":"error","message":"…","data":…}`, always JSON with `charset=utf-8`.

use app::gateway::EngineError;
use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::{json, Value};

/// otpgateway's answer for an id it does not know (or no longer keeps).
pub const NOT_FOUND: &str = "the OTP does not exist";

/// A success answer.
pub struct Success(pub Value);

impl IntoResponse for Success {
    fn into_response(self) -> Response {
        json_response(
            StatusCode::OK,
            json!({ "status": "success", "data": self.0 }),
        )
    }
}

/// An error answer with the exact otpgateway message.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub data: Option<Value>,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            data: None,
            retry_after: None,
        }
    }

    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }

    pub fn too_many(message: String, retry_after: u64) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, message).retry_after(retry_after)
    }

    /// Adds `Retry-After: secs`.
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service temporarily unavailable.",
        )
    }
}

/// The one place the otpgateway API turns an engine error into otpgateway's status and
/// message. Internal detail goes to the log, never to the client.
impl From<EngineError> for ApiError {
    fn from(err: EngineError) -> Self {
        use EngineError as E;
        match err {
            E::Unauthorized => Self::new(StatusCode::UNAUTHORIZED, "Invalid API credentials."),
            E::Forbidden => Self::new(StatusCode::FORBIDDEN, "Not allowed."),
            E::NotFound | E::FactorNotFound | E::Closed(_) => Self::bad_request(NOT_FOUND),
            E::NotVerified => Self::bad_request("OTP not verified."),
            // The otpgateway API cannot present a binding: a bound verification is checked
            // through `/v1` or its hosted page.
            E::BindingMismatch => Self::new(
                StatusCode::FORBIDDEN,
                "This OTP is bound to another session.",
            ),
            E::NoAddress => Self::bad_request("The OTP has no address to send to."),
            E::NothingToSend => Self::bad_request("Authenticator-app OTPs are never sent."),
            E::UnknownProvider => Self::bad_request("Unknown provider."),
            E::InvalidAddress(e) => Self::bad_request(format!("Invalid `to` address: {e}.")),
            E::InvalidInput { field, reason } => {
                Self::bad_request(format!("Invalid `{field}` value: {reason}."))
            }
            E::CountryNotAllowed { .. } => Self::bad_request(
                "Invalid `to` address: numbers of this country are not accepted here.",
            ),
            E::SuspectedFraud => Self::new(
                StatusCode::FORBIDDEN,
                "Sends to this number are held as suspected fraud.",
            ),
            E::BudgetExceeded {
                retry_after_secs, ..
            } => Self::too_many(
                format!("The message budget is spent. Retry after {retry_after_secs} seconds."),
                retry_after_secs,
            ),
            E::RateLimited { retry_after_secs } => Self::too_many(
                format!("Too many requests. Retry after {retry_after_secs} seconds."),
                retry_after_secs,
            ),
            E::Locked {
                retry_after_secs,
                attempts,
                max_attempts,
            }
            | E::SendLimit {
                retry_after_secs,
                attempts,
                max_attempts,
            } => Self::too_many(
                format!("OTP attempts exceeded. Retry after {retry_after_secs} seconds."),
                retry_after_secs,
            )
            .with_data(json!({
                "ttl_seconds": retry_after_secs,
                "attempts": attempts,
                "max_attempts": max_attempts,
            })),
            E::InvalidToken(_)
            | E::TokenMismatch
            | E::ActionMismatch
            | E::TokenReused
            | E::Store(_) => {
                tracing::error!(error = ?err, "request failed");
                Self::unavailable()
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "status": "error", "message": self.message });
        if let Some(data) = self.data {
            body["data"] = data;
        }
        let mut response = json_response(self.status, body);
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"otpgate\""),
            );
        }
        response
    }
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        )],
        body.to_string(),
    )
        .into_response()
}
