//! The otpgateway v3 API under `/api`: Basic auth `namespace:secret`, form or JSON
//! parameters, and the `{status, data | message}` envelope. Handlers only translate.

use super::{
    envelope::{ApiError, Success, NOT_FOUND},
    params::Params,
    AppState, ClientIp,
};
use app::{
    gateway::{
        store::{AppRecord, VerificationRecord},
        CheckMode, CreateRequest, CustomCode, EngineSettings, Gateway,
    },
    model::{CheckResult, Status, VerificationId},
};
use axum::{
    extract::{FromRequestParts, Path, State},
    http::{header, request::Parts, StatusCode},
    routing::{get, put},
    Router,
};
use base64::{engine::general_purpose::STANDARD, Engine};
use serde_json::{json, Value};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/providers", get(providers))
        .route("/otp", put(create))
        .route("/otp/{id}", put(create_with_id).post(check))
        .route(
            "/otp/{id}/status",
            axum::routing::post(status).delete(status_and_close),
        )
}

/// The app whose Basic-auth pair came with the request. Each way the header can be wrong
/// gets otpgateway's own message.
pub struct Authed(AppRecord);

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let unauthorized = |message: &str| ApiError::new(StatusCode::UNAUTHORIZED, message);
        let encoded = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic"))
            .ok_or_else(|| unauthorized("Missing Basic Authorization header."))?;
        let decoded = STANDARD
            .decode(encoded.trim())
            .map_err(|_| unauthorized("Invalid Base64 value in Basic Authorization header."))?;
        let invalid_value = || unauthorized("Invalid value in Basic Authorization header.");
        let pair = String::from_utf8(decoded).map_err(|_| invalid_value())?;
        let (namespace, secret) = pair.split_once(':').ok_or_else(invalid_value)?;
        Ok(Authed(state.gateway.authenticate(namespace, secret).await?))
    }
}

fn parse_id(raw: &str) -> Result<VerificationId, ApiError> {
    VerificationId::parse(raw).map_err(|e| ApiError::bad_request(format!("Invalid `id`: {e}.")))
}

/// otpgateway checks and reads only ids of six characters or more, with these words (the
/// check's message has no full stop, the status's has).
fn parse_checked_id(raw: &str, too_short: &'static str) -> Result<VerificationId, ApiError> {
    if raw.chars().count() < MIN_CHECKED_ID_LEN {
        return Err(ApiError::bad_request(too_short));
    }
    parse_id(raw)
}

const MIN_CHECKED_ID_LEN: usize = 6;

/// otpgateway's `max_generate` counts re-sends after the first; the engine counts sends.
fn max_sends_of(max_generate: Option<u64>) -> Result<Option<u32>, ApiError> {
    let most = u64::from(EngineSettings::MAX_SENDS - 1);
    max_generate
        .map(|n| match u32::try_from(n) {
            Ok(n) if u64::from(n) <= most => Ok(n + 1),
            _ => Err(ApiError::bad_request(format!(
                "Invalid `max_generate` value: must be between 1 and {most}."
            ))),
        })
        .transpose()
}

/// The otpgateway OTP object. `otp` is empty unless the app enabled the echo.
fn otp_object(
    gw: &Gateway,
    app: &AppRecord,
    r: &VerificationRecord,
    code: Option<&str>,
    with_url: bool,
) -> Value {
    let mut obj = json!({
        "namespace": app.namespace,
        "id": r.public_id,
        "to": r.address,
        "channel_description": r.channel_description,
        "address_description": r.address_description,
        "extra": serde_json::from_str::<Value>(&r.extra).unwrap_or_else(|_| json!({})),
        "provider": r.provider,
        "otp": code.unwrap_or(""),
        "max_attempts": r.max_attempts,
        "attempts": r.attempts,
        "generate": r.sends,
        "max_generate": r.max_sends.saturating_sub(1),
        "closed": r.status == Status::Verified,
        "ttl": gw.ttl_remaining(r),
    });
    if with_url {
        obj["url"] = Value::String(gw.page_url(&app.namespace, &r.public_id));
    }
    obj
}

async fn health(State(gw): State<Gateway>) -> Result<Success, ApiError> {
    gw.ping().await.map_err(|e| {
        tracing::error!(error = ?e, "health check failed");
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "Unable to reach store.")
    })?;
    Ok(Success(json!("OK")))
}

async fn providers(State(gw): State<Gateway>, _auth: Authed) -> Success {
    Success(json!(gw.providers().ids().collect::<Vec<_>>()))
}

async fn create(
    state: State<Gateway>,
    client: ClientIp,
    auth: Authed,
    params: Params,
) -> Result<Success, ApiError> {
    create_inner(state, client, auth, None, params).await
}

async fn create_with_id(
    state: State<Gateway>,
    client: ClientIp,
    auth: Authed,
    Path(id): Path<String>,
    params: Params,
) -> Result<Success, ApiError> {
    create_inner(state, client, auth, Some(parse_id(&id)?), params).await
}

async fn create_inner(
    State(gw): State<Gateway>,
    ClientIp(client): ClientIp,
    Authed(app): Authed,
    id: Option<VerificationId>,
    p: Params,
) -> Result<Success, ApiError> {
    let provider = p.text("provider")?.unwrap_or_default();
    let target = gw
        .target(&app, provider, p.text("to")?.unwrap_or_default())
        .await?;
    let request = CreateRequest {
        id,
        channel_description: p
            .text("channel_description")?
            .unwrap_or_default()
            .to_owned(),
        address_description: p
            .text("address_description")?
            .unwrap_or_default()
            .to_owned(),
        code: p
            .text("otp")?
            .filter(|c| !c.is_empty())
            .map(CustomCode::parse)
            .transpose()?,
        ttl_secs: p.positive("ttl")?,
        max_attempts: p
            .positive("max_attempts")?
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
        max_sends: max_sends_of(p.positive("max_generate")?)?,
        extra: p.json("extra")?,
        client_ip: Some(client),
        ..CreateRequest::new(target)
    };
    let created = gw.create(&app, request).await?;
    let code = created.echoed_code.as_deref();
    Ok(Success(otp_object(&gw, &app, &created.record, code, true)))
}

async fn check(
    State(gw): State<Gateway>,
    ClientIp(client): ClientIp,
    Authed(app): Authed,
    Path(id): Path<String>,
    p: Params,
) -> Result<Success, ApiError> {
    let id = parse_checked_id(&id, "ID should be min 6 chars")?;
    let code = p.text("otp")?.unwrap_or_default();
    if code.is_empty() {
        return Err(ApiError::bad_request("`otp` is empty."));
    }
    let retire = !p.flag("skip_delete")?;
    let mode = CheckMode::Otpgateway { retire };
    let (result, record) = gw.check_from(&app, &id, code, mode, Some(client)).await?;
    // As otpgateway: refusals of a record that is still open are 400; of a verified record
    // kept by `skip_delete`, 429.
    let refused = |message: String| {
        let status = if record.status == Status::Verified {
            StatusCode::TOO_MANY_REQUESTS
        } else {
            StatusCode::BAD_REQUEST
        };
        ApiError::new(status, message).with_data(otp_object(&gw, &app, &record, None, false))
    };
    match result {
        CheckResult::Verified => Ok(Success(otp_object(&gw, &app, &record, None, false))),
        CheckResult::Incorrect { .. } | CheckResult::Malformed => {
            Err(refused("Incorrect OTP".into()))
        }
        CheckResult::Locked => {
            let secs = gw.ttl_remaining(&record).max(1);
            Err(refused(format!(
                "Too many attempts. Please retry after {secs} seconds."
            ))
            .retry_after(secs))
        }
        CheckResult::Expired | CheckResult::AlreadyVerified | CheckResult::Cancelled => {
            Err(ApiError::bad_request(NOT_FOUND))
        }
    }
}

async fn status(
    state: State<Gateway>,
    auth: Authed,
    Path(id): Path<String>,
) -> Result<Success, ApiError> {
    status_inner(state, auth, id, false).await
}

async fn status_and_close(
    state: State<Gateway>,
    auth: Authed,
    Path(id): Path<String>,
) -> Result<Success, ApiError> {
    status_inner(state, auth, id, true).await
}

async fn status_inner(
    State(gw): State<Gateway>,
    Authed(app): Authed,
    id: String,
    retire: bool,
) -> Result<Success, ApiError> {
    let id = parse_checked_id(&id, "ID should be min 6 chars.")?;
    let record = gw.verified_status(&app, &id, retire).await?;
    Ok(Success(otp_object(&gw, &app, &record, None, false)))
}
