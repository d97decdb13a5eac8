//! Authenticator-app (TOTP) factors under `/v1/factors`: enrol one for a user (with the
//! verification whose hosted page shows its QR code), list, read and delete them. Their
//! codes are checked as verifications with `provider: "totp"` and `to: <factor id>`.

use super::{
    error::{ErrorBody, V1Error},
    handlers::{parse_body, V1App, V1Query},
    types::{whole_number, VerificationView},
};
use crate::http::ClientIp;
use app::gateway::{factors::EnrolRequest, store::FactorRecord, CreateRequest, Gateway};
use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Enrols a factor for one of your users.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrolBody {
    /// Your id for the user (1–128 printable characters, not only spaces).
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    pub user: String,
    /// What the authenticator app shows beside the codes; the user id when absent.
    #[schema(max_length = 128, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")]
    pub label: Option<String>,
    /// The issuer the authenticator app shows; the app's name when absent.
    #[schema(max_length = 64, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")]
    pub issuer: Option<String>,
    /// `SHA1` (the default, what every app reads), `SHA256` or `SHA512` (any case, with or
    /// without a dash after `SHA`).
    #[schema(pattern = r"^[Ss][Hh][Aa]-?(1|256|512)$")]
    pub algorithm: Option<String>,
    /// 6 (default) or 8.
    #[schema(minimum = 6, maximum = 8, multiple_of = 2)]
    #[serde(default, deserialize_with = "whole_number")]
    pub digits: Option<u32>,
    /// Seconds per code, 15–120 (default 30).
    #[schema(minimum = 15, maximum = 120)]
    #[serde(default, deserialize_with = "whole_number")]
    pub period: Option<u32>,
    /// Seconds the enrolment verification stays open.
    #[schema(minimum = 1, maximum = 86400)]
    #[serde(default, deserialize_with = "whole_number")]
    pub ttl: Option<u64>,
    /// Where the enrolment page sends the user when done: exactly one of the app's
    /// `redirect_urls`.
    pub redirect_url: Option<String>,
    /// Opaque value returned with the redirect: at most 512 characters, none a control
    /// character.
    #[schema(max_length = 512, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")]
    pub state: Option<String>,
    /// Language tag for the enrolment page, e.g. `en` or `pt-BR`.
    #[schema(max_length = 35, pattern = r"^([A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*)?$")]
    pub locale: Option<String>,
}

/// A factor. Never shows its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct FactorView {
    /// `fa_…`: pass it as `to` with `provider: "totp"` to check a code.
    pub id: String,
    pub user: String,
    pub label: String,
    /// `pending` until its first code is accepted, then `active`.
    pub status: String,
    pub algorithm: String,
    pub digits: u32,
    pub period: u32,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activated_at: Option<i64>,
}

impl From<&FactorRecord> for FactorView {
    fn from(f: &FactorRecord) -> Self {
        Self {
            id: f.public_id.clone(),
            user: f.user_id.clone(),
            label: f.label.clone(),
            status: f.status.clone(),
            algorithm: f.algorithm.clone(),
            digits: f.digits,
            period: f.period,
            created_at: f.created_at / 1000,
            activated_at: f.activated_at.map(|t| t / 1000),
        }
    }
}

/// A new factor, and how its user enrols it: the URI (show it once, as a QR code, or send
/// the user to `verification.url`, which shows it until the first code is accepted).
#[derive(Debug, Serialize, ToSchema)]
pub struct EnrolledView {
    pub factor: FactorView,
    /// `otpauth://totp/…`: holds the secret. Do not store or log it.
    pub uri: String,
    /// The secret in base32, for typing by hand. Do not store or log it.
    pub secret: String,
    /// The verification whose first right code activates the factor; its `url` is the
    /// hosted enrolment page.
    pub verification: VerificationView,
}

/// The app's factors.
#[derive(Debug, Serialize, ToSchema)]
pub struct FactorList {
    pub factors: Vec<FactorView>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this user's factors.
    #[param(nullable = false)]
    user: Option<String>,
}

/// Enrol an authenticator-app factor for a user.
#[utoipa::path(
    post, path = "/v1/factors", tag = "factors",
    request_body = EnrolBody,
    responses(
        (status = 201, description = "Enrolled (pending until its first code)", body = EnrolledView),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody),
    )
)]
pub async fn enrol(
    State(gw): State<Gateway>,
    ClientIp(client): ClientIp,
    V1App(app): V1App,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, V1Error> {
    let b: EnrolBody = parse_body(&headers, &body)?;
    let enrolled = gw
        .enrol_factor(
            &app,
            EnrolRequest {
                user: b.user,
                label: b.label.unwrap_or_default(),
                issuer: b.issuer,
                algorithm: b.algorithm,
                digits: b.digits,
                period: b.period,
            },
        )
        .await?;
    let target = gw
        .target(
            &app,
            app::gateway::delivery::totp::TOTP_PROVIDER,
            &enrolled.factor.public_id,
        )
        .await?;
    let created = gw
        .create(
            &app,
            CreateRequest {
                ttl_secs: b.ttl,
                client_ip: Some(client),
                redirect_url: b.redirect_url,
                state: b.state,
                locale: b.locale,
                ..CreateRequest::new(target)
            },
        )
        .await;
    let created = match created {
        Ok(created) => created,
        Err(e) => {
            // Nothing half-made stays behind: the factor goes with its verification.
            if let Err(undo) = gw.delete_factor(&app, &enrolled.factor.public_id).await {
                tracing::error!(error = ?undo, "could not remove a factor whose enrolment failed");
            }
            return Err(e.into());
        }
    };
    let view = EnrolledView {
        factor: FactorView::from(&enrolled.factor),
        uri: enrolled.uri,
        secret: enrolled.secret,
        verification: VerificationView::new(&gw, &app.namespace, &created.record),
    };
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// List the app's factors (at most 100, oldest first).
#[utoipa::path(
    get, path = "/v1/factors", tag = "factors",
    params(ListQuery),
    responses((status = 200, body = FactorList), (status = 422, body = ErrorBody))
)]
pub async fn list(
    State(gw): State<Gateway>,
    V1App(app): V1App,
    V1Query(q): V1Query<ListQuery>,
) -> Result<Json<FactorList>, V1Error> {
    let factors = gw.factors(&app, q.user.as_deref()).await?;
    Ok(Json(FactorList {
        factors: factors.iter().map(FactorView::from).collect(),
    }))
}

/// One factor.
#[utoipa::path(
    get, path = "/v1/factors/{factor}", tag = "factors",
    params(("factor" = String, Path, pattern = r"^fa_[A-Za-z0-9_-]{1,61}$")),
    responses((status = 200, body = FactorView), (status = 404, body = ErrorBody))
)]
pub async fn fetch(
    State(gw): State<Gateway>,
    V1App(app): V1App,
    Path(factor): Path<String>,
) -> Result<Json<FactorView>, V1Error> {
    let record = gw.factor(&app, &factor).await?;
    Ok(Json(FactorView::from(&record)))
}

/// Delete a factor: its codes are refused from then on.
#[utoipa::path(
    delete, path = "/v1/factors/{factor}", tag = "factors",
    params(("factor" = String, Path, pattern = r"^fa_[A-Za-z0-9_-]{1,61}$")),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody))
)]
pub async fn delete(
    State(gw): State<Gateway>,
    V1App(app): V1App,
    Path(factor): Path<String>,
) -> Result<StatusCode, V1Error> {
    gw.delete_factor(&app, &factor).await?;
    Ok(StatusCode::NO_CONTENT)
}
