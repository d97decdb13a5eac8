//! Native API handlers: authenticate, parse, call one engine method, map the result.

use super::{
    error::{ErrorBody, V1Error},
    types::{
        provider_formats::{InboundMessage, TwilioInboundForm, TwilioStatusForm},
        CheckBody, CheckView, ConfirmBody, ConfirmView, CreateBody, VerificationView,
    },
};
use crate::http::{AppState, ClientIp};
use app::{
    gateway::{
        store::{AppRecord, IdempotentAnswer},
        tokens::issue::Expected,
        CheckMode, CreateRequest, CustomCode, EngineError, Gateway,
    },
    model::{CheckResult, VerificationId},
};
use axum::{
    body::Bytes,
    extract::{FromRequestParts, Path, State},
    http::{header, request::Parts, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use base64::{engine::general_purpose::STANDARD, Engine};
use serde::{de::DeserializeOwned, Deserialize};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// The app authenticated by `Bearer <namespace>:<secret>` or Basic `namespace:secret`.
pub struct V1App(pub(super) AppRecord);

impl FromRequestParts<AppState> for V1App {
    type Rejection = V1Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, V1Error> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(V1Error::unauthorized)?;
        let pair = if let Some(bearer) = value.strip_prefix("Bearer ") {
            bearer.trim().to_owned()
        } else if let Some(basic) = value.strip_prefix("Basic ") {
            let bytes = STANDARD
                .decode(basic.trim())
                .map_err(|_| V1Error::unauthorized())?;
            String::from_utf8(bytes).map_err(|_| V1Error::unauthorized())?
        } else {
            return Err(V1Error::unauthorized());
        };
        let (namespace, secret) = pair.split_once(':').ok_or_else(V1Error::unauthorized)?;
        Ok(V1App(state.gateway.authenticate(namespace, secret).await?))
    }
}

pub(super) fn parse_body<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, V1Error> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("application/json"));
    if !json {
        return Err(V1Error::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request",
            "send the body as application/json",
        ));
    }
    // Serde's messages can quote the input (a code sent as a number, say): never echo them.
    serde_json::from_slice(body).map_err(|_| V1Error::bad_json())
}

/// Query parameters, refused in the API's error body (`422`) when they do not parse.
pub struct V1Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for V1Query<T> {
    type Rejection = V1Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, V1Error> {
        serde_urlencoded::from_str(parts.uri.query().unwrap_or_default())
            .map(V1Query)
            .map_err(|_| V1Error::invalid("the query string has a value of the wrong type"))
    }
}

pub(super) fn parse_id(raw: &str) -> Result<VerificationId, V1Error> {
    VerificationId::parse(raw).map_err(|e| V1Error::invalid(format!("invalid id: {e}")))
}

/// Start a verification; the code is sent unless `to` is empty.
#[utoipa::path(
    post, path = "/v1/verifications", tag = "verifications",
    request_body = CreateBody,
    params(("Idempotency-Key" = Option<String>, Header, pattern = r"^[!-~]{1,255}$", description = "Replays the first answer for a repeated key (same body only), for a day at least")),
    responses(
        (status = 201, description = "Started", body = VerificationView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "`suspected_fraud`: sends to the number are held", body = ErrorBody),
        (status = 422, description = "`invalid_request`, or `country_not_allowed`", body = ErrorBody),
        (status = 429, description = "`rate_limited`, `send_limit`, or `budget_exceeded`", body = ErrorBody),
    )
)]
pub async fn create(
    State(gw): State<Gateway>,
    ClientIp(client): ClientIp,
    V1App(app): V1App,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, V1Error> {
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => {
            let visible =
                |k: &&str| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic());
            let k = v.to_str().ok().filter(visible);
            Some(
                k.ok_or_else(|| {
                    V1Error::invalid("Idempotency-Key must be 1–255 visible ASCII characters")
                })?
                .to_owned(),
            )
        }
    };
    let request_hash = Sha256::digest(&body).to_vec();
    if let Some(key) = &key {
        if let Some(answer) = gw.store().idempotency_get(app.app_id, key).await? {
            return replay(answer, &request_hash);
        }
    }
    let b: CreateBody = parse_body(&headers, &body)?;
    let id = b.id.as_deref().map(parse_id).transpose()?;
    let target = gw
        .target(&app, &b.provider, b.to.as_deref().unwrap_or_default())
        .await?;
    let code = b.code.as_deref().map(CustomCode::parse).transpose()?;
    let created = gw
        .create(
            &app,
            CreateRequest {
                id,
                code,
                ttl_secs: b.ttl,
                max_attempts: b.max_attempts,
                max_sends: b.max_sends,
                extra: b.extra,
                client_ip: Some(client),
                redirect_url: b.redirect_url,
                state: b.state,
                locale: b.locale,
                action: b.action,
                payload_hash: b.payload_hash,
                session_binding: b.session_binding,
                ..CreateRequest::new(target)
            },
        )
        .await?;
    let view = serde_json::to_string(&VerificationView::new(&gw, &app.namespace, &created.record))
        .expect("views serialise");
    if let Some(key) = &key {
        let answer = IdempotentAnswer {
            request_hash,
            status: 201,
            response: view.clone(),
        };
        let store = gw.store();
        if !store
            .idempotency_put(app.app_id, key, &answer, gw.now_ms())
            .await?
        {
            if let Some(first) = store.idempotency_get(app.app_id, key).await? {
                return replay(first, &answer.request_hash);
            }
        }
    }
    Ok(json_text(StatusCode::CREATED, view))
}

fn replay(answer: IdempotentAnswer, request_hash: &[u8]) -> Result<Response, V1Error> {
    if answer.request_hash != request_hash {
        return Err(V1Error::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_conflict",
            "this Idempotency-Key was used with a different request",
        ));
    }
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    let mut response = json_text(status, answer.response);
    response.headers_mut().insert(
        "idempotent-replayed",
        header::HeaderValue::from_static("true"),
    );
    Ok(response)
}

fn json_text(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// A verification's current state.
#[utoipa::path(
    get, path = "/v1/verifications/{id}", tag = "verifications",
    params(("id" = String, Path, pattern = r"^[A-Za-z0-9._-]{1,128}$")),
    responses((status = 200, body = VerificationView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn fetch(
    State(gw): State<Gateway>,
    V1App(app): V1App,
    Path(id): Path<String>,
) -> Result<Json<VerificationView>, V1Error> {
    let record = gw.fetch(&app, &parse_id(&id)?).await?;
    Ok(Json(VerificationView::new(&gw, &app.namespace, &record)))
}

/// Check a code. A wrong code is `200` with `verified: false`.
#[utoipa::path(
    post, path = "/v1/verifications/{id}/check", tag = "verifications",
    params(("id" = String, Path, pattern = r"^[A-Za-z0-9._-]{1,128}$")), request_body = CheckBody,
    responses(
        (status = 200, body = CheckView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "Bound to a session whose `session_binding` was not presented", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody),
    )
)]
pub async fn check(
    State(gw): State<Gateway>,
    ClientIp(client): ClientIp,
    V1App(app): V1App,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<CheckView>, V1Error> {
    let id = parse_id(&id)?;
    let b: CheckBody = parse_body(&headers, &body)?;
    let (result, record) = gw
        .check_presenting(
            &app,
            &id,
            &b.code,
            CheckMode::Native,
            Some(client),
            b.session_binding.as_deref(),
        )
        .await?;
    let reason = match result {
        CheckResult::Verified => None,
        CheckResult::Incorrect { .. } => Some("incorrect_code"),
        CheckResult::Malformed => Some("malformed_code"),
        CheckResult::Expired => Some("expired"),
        CheckResult::Locked => Some("locked"),
        CheckResult::AlreadyVerified => Some("already_verified"),
        CheckResult::Cancelled => Some("cancelled"),
    };
    let verified = result == CheckResult::Verified;
    Ok(Json(CheckView {
        verified,
        status: record.status.as_str().to_owned(),
        attempts_left: record.max_attempts.saturating_sub(record.attempts),
        reason,
        verification_token: verified.then(|| gw.issue_token(&app, &record)),
    }))
}

/// Send the same code again (after a cooldown, within the send cap).
#[utoipa::path(
    post, path = "/v1/verifications/{id}/resend", tag = "verifications",
    params(("id" = String, Path, pattern = r"^[A-Za-z0-9._-]{1,128}$")),
    responses(
        (status = 200, body = VerificationView),
        (status = 403, description = "`suspected_fraud`: sends to the number are held", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, description = "`country_not_allowed`", body = ErrorBody),
        (status = 429, description = "`rate_limited`, `send_limit`, or `budget_exceeded`", body = ErrorBody),
    )
)]
pub async fn resend(
    State(gw): State<Gateway>,
    ClientIp(client): ClientIp,
    V1App(app): V1App,
    Path(id): Path<String>,
) -> Result<Json<VerificationView>, V1Error> {
    let record = gw.resend(&app, &parse_id(&id)?, Some(client)).await?;
    Ok(Json(VerificationView::new(&gw, &app.namespace, &record)))
}

/// Cancel an open verification.
#[utoipa::path(
    post, path = "/v1/verifications/{id}/cancel", tag = "verifications",
    params(("id" = String, Path, pattern = r"^[A-Za-z0-9._-]{1,128}$")),
    responses((status = 200, body = VerificationView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody))
)]
pub async fn cancel(
    State(gw): State<Gateway>,
    V1App(app): V1App,
    Path(id): Path<String>,
) -> Result<Json<VerificationView>, V1Error> {
    let record = gw.cancel(&app, &parse_id(&id)?).await?;
    Ok(Json(VerificationView::new(&gw, &app.namespace, &record)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WaitQuery {
    /// Seconds to wait for a terminal state (default 25).
    #[param(minimum = 1, maximum = 60, nullable = false)]
    timeout: Option<u64>,
}

/// Long-poll: answers as soon as the verification is verified, expired, locked or
/// cancelled, or with its pending state when the timeout passes.
#[utoipa::path(
    get, path = "/v1/verifications/{id}/wait", tag = "verifications",
    params(("id" = String, Path, pattern = r"^[A-Za-z0-9._-]{1,128}$"), WaitQuery),
    responses((status = 200, body = VerificationView), (status = 404, body = ErrorBody))
)]
pub async fn wait(
    State(gw): State<Gateway>,
    V1App(app): V1App,
    Path(id): Path<String>,
    V1Query(q): V1Query<WaitQuery>,
) -> Result<Json<VerificationView>, V1Error> {
    let id = parse_id(&id)?;
    let timeout = q.timeout.unwrap_or(25);
    if !(1..=60).contains(&timeout) {
        return Err(V1Error::invalid("timeout must be between 1 and 60 seconds"));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    loop {
        let record = gw.fetch(&app, &id).await?;
        if record.status.is_terminal() || tokio::time::Instant::now() >= deadline {
            return Ok(Json(VerificationView::new(&gw, &app.namespace, &record)));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Exchange a verification token once; a second use is refused.
#[utoipa::path(
    post, path = "/v1/tokens/confirm", tag = "tokens",
    request_body = ConfirmBody,
    responses((status = 200, body = ConfirmView), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn confirm_token(
    State(gw): State<Gateway>,
    V1App(app): V1App,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<ConfirmView>, V1Error> {
    let b: ConfirmBody = parse_body(&headers, &body)?;
    let claims = gw
        .confirm_token(
            &app,
            &b.token,
            Expected {
                address: b.expected_address.as_deref(),
                action: b.action.as_deref(),
                payload_hash: b.payload_hash.as_deref(),
            },
        )
        .await?;
    Ok(Json(ConfirmView {
        confirmed: true,
        id: claims.sub,
        address: claims.address,
        channel: claims.channel,
        verified_at: claims.iat,
        action: claims.act,
        payload_hash: claims.payload_hash,
    }))
}

/// The public keys that verify tokens (Ed25519, JWK set).
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "tokens", security(()), responses((status = 200, description = "JWK set")))]
pub async fn jwks(State(gw): State<Gateway>) -> Json<serde_json::Value> {
    Json(gw.jwks())
}

/// A provider's delivery receipt, in the provider's own format (Twilio's `StatusCallback`
/// form), authenticated by the provider's signature rather than an app secret.
#[utoipa::path(
    post, path = "/v1/providers/{provider}/status", tag = "providers", security(()),
    params(
        ("provider" = String, Path, description = "The provider id the receipt is for"),
        ("X-Twilio-Signature" = String, Header, description = "Twilio's signature of the URL and form"),
    ),
    request_body(content = TwilioStatusForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 204, description = "Recorded (or already recorded)"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn provider_status(
    State(gw): State<Gateway>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, V1Error> {
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
        .map_err(|_| V1Error::invalid("the body is not a form"))?;
    match gw.record_receipt(&provider, &headers, &form).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(EngineError::UnknownProvider) => Err(V1Error::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no provider with receipts by this id",
        )),
        Err(e) => Err(e.into()),
    }
}

/// A delivery receipt for a message an app sent through one of its own providers (added
/// in the dashboard), authenticated by that provider's signature.
#[utoipa::path(
    post, path = "/v1/apps/{app}/providers/{provider}/status", tag = "providers", security(()),
    params(
        ("app" = String, Path, description = "The app's number, as in the callback URL otpgate gave the provider"),
        ("provider" = String, Path, description = "The app's provider id"),
        ("X-Twilio-Signature" = String, Header, description = "Twilio's signature of the URL and form"),
    ),
    request_body(content = TwilioStatusForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 204, description = "Recorded (or already recorded)"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn app_provider_status(
    State(gw): State<Gateway>,
    Path((app, provider)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, V1Error> {
    let unknown = || {
        V1Error::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no provider with receipts by this id",
        )
    };
    let app_id: i64 = app.parse().map_err(|_| unknown())?;
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
        .map_err(|_| V1Error::invalid("the body is not a form"))?;
    match gw
        .record_app_receipt(app_id, &provider, &headers, &form)
        .await
    {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(EngineError::UnknownProvider) => Err(unknown()),
        Err(e) => Err(e.into()),
    }
}

/// An SMS that reached the app's number (inbound verification). `generic`: JSON
/// `{"id", "from", "to", "body"}` with Standard Webhooks signature headers; a Twilio
/// provider id: Twilio's incoming-message form with `X-Twilio-Signature`. Each message id
/// counts once. Answers an empty TwiML document, which every caller may ignore.
#[utoipa::path(
    post, path = "/v1/inbound/{provider}", tag = "providers", security(()),
    params(
        ("provider" = String, Path, description = "`generic` or a Twilio provider id"),
        ("webhook-id" = Option<String>, Header, description = "`generic`: Standard Webhooks message id"),
        ("webhook-timestamp" = Option<String>, Header, description = "`generic`: Unix seconds"),
        ("webhook-signature" = Option<String>, Header, description = "`generic`: `v1,<base64 HMAC-SHA256>`"),
        ("X-Twilio-Signature" = Option<String>, Header, description = "Twilio: its signature of the URL and form"),
    ),
    request_body(content(
        (InboundMessage = "application/json"),
        (TwilioInboundForm = "application/x-www-form-urlencoded"),
    )),
    responses((status = 200, description = "Handled (or already handled)"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn inbound(
    State(gw): State<Gateway>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, V1Error> {
    match gw.receive_inbound_request(&provider, &headers, &body).await {
        Ok(matched) => {
            tracing::info!(provider, matched, "inbound message");
            Ok((
                [(header::CONTENT_TYPE, "text/xml")],
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>",
            )
                .into_response())
        }
        Err(EngineError::UnknownProvider) => Err(V1Error::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no inbound route by this id",
        )),
        Err(e) => Err(e.into()),
    }
}
