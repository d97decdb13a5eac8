//! Hosted-page endpoints: the code page (`GET /otp/{namespace}/{id}`, rendered by the
//! app crate outside the router), the form post that works without JavaScript
//! (`POST` to the same URL), the status poll, and readiness.

use super::{envelope::ApiError, envelope::Success, AppState, ClientIp};
use app::{
    gateway::{EngineError, Gateway, Read},
    model::CheckResult,
};
use axum::{
    extract::{Path, Query, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{Html, IntoResponse, Redirect, Response},
    routing::get,
    Form, Router,
};
use leptos::prelude::LeptosOptions;
use serde::Deserialize;
use serde_json::json;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/otp/{namespace}/{id}", get(page).post(submit))
        .route("/otp/{namespace}/{id}/status", get(closed))
}

/// What the page's URL carries that its answer must keep.
#[derive(Deserialize)]
pub struct PageQuery {
    lang: Option<String>,
    origin: Option<String>,
}

/// What the page's own URL may carry besides [`PageQuery`]: the outcome of the form post
/// that led here, and the code of an e-mail link.
#[derive(Deserialize)]
pub struct PageLink {
    #[serde(flatten)]
    keep: PageQuery,
    result: Option<String>,
    code: Option<String>,
    /// The verification's session binding, given once by the integrator's redirect: kept
    /// in a cookie of this browser when it is right, then dropped from the URL.
    binding: Option<String>,
}

/// The cookie that holds a verification's session binding in the browser it was given to.
fn binding_cookie_name(id: &str) -> String {
    format!("otpgate_bind_{id}")
}

/// The session binding this browser holds for verification `id`, if any.
pub fn binding_cookie(headers: &HeaderMap, id: &str) -> Option<String> {
    super::cookie(headers, &binding_cookie_name(id)).map(str::to_owned)
}

/// The code page. Its state comes from the view cache, except right after one of its form
/// posts (`result` in the query), which may have been answered by another instance whose
/// change has not reached this one's cache yet: that view reads the database.
async fn page(
    State(gw): State<Gateway>,
    State(options): State<LeptosOptions>,
    Path((namespace, id)): Path<(String, String)>,
    Query(link): Query<PageLink>,
    headers: HeaderMap,
) -> Response {
    if let Some(binding) = &link.binding {
        return bind_browser(&gw, &namespace, &id, binding, &link.keep).await;
    }
    let read = if link.result.is_some() {
        Read::Fresh
    } else {
        Read::Viewed
    };
    let accept_language = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let state = app::api::page_state(
        &gw,
        &namespace,
        &id,
        link.keep.origin,
        link.keep.lang.as_deref(),
        accept_language,
        read,
    )
    .await;
    let page = app::render_code_page(&options, state, link.result, link.code);
    let mut response = (page.status, Html(page.html)).into_response();
    if let Ok(policy) = HeaderValue::from_str(&page.content_security_policy) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    response
}

/// The page opened with `?binding=`: when it is the verification's, this browser keeps it
/// in a cookie (HttpOnly, for this verification's lifetime) that the page's checks and live
/// updates present; either way the browser goes on to the page's URL without it, so the
/// binding is not left in the address bar or a referrer.
async fn bind_browser(
    gw: &Gateway,
    namespace: &str,
    id: &str,
    binding: &str,
    keep: &PageQuery,
) -> Response {
    if app::model::Namespace::parse(namespace).is_err()
        || app::model::VerificationId::parse(id).is_err()
    {
        return StatusCode::NOT_FOUND.into_response();
    }
    let mut pairs = Vec::new();
    if let Some(lang) = &keep.lang {
        pairs.push(("lang", lang.as_str()));
    }
    if let Some(origin) = &keep.origin {
        pairs.push(("origin", origin.as_str()));
    }
    let encoded = serde_urlencoded::to_string(&pairs).unwrap_or_default();
    let page = match encoded.as_str() {
        "" => format!("/otp/{namespace}/{id}"),
        query => format!("/otp/{namespace}/{id}?{query}"),
    };
    let mut response = Redirect::to(&page).into_response();
    if let Some(max_age) = gw.binding_lifetime(namespace, id, binding).await {
        let secure = if gw.settings().root_url.starts_with("https://") {
            "; Secure"
        } else {
            ""
        };
        let cookie = format!(
            "{}={binding}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}",
            binding_cookie_name(id)
        );
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().insert(header::SET_COOKIE, value);
        }
    }
    response
}

#[derive(Deserialize)]
pub struct PageForm {
    #[serde(default)]
    action: String,
    #[serde(default)]
    otp: String,
    #[serde(default)]
    address: String,
    /// The phone number picker's country (ISO 3166), empty for "in the number".
    #[serde(default)]
    country: String,
    /// The provider "didn't get it?" switches to.
    #[serde(default)]
    provider: String,
}

/// Handles the page's forms (`check`, `resend`, `address`, `switch`), then sends the browser back to
/// the page with the outcome in `result` (post/redirect/get), or on to the app's
/// `redirect_url` when a check completed the verification.
async fn submit(
    State(gw): State<Gateway>,
    ClientIp(client): ClientIp,
    Path((namespace, id)): Path<(String, String)>,
    Query(keep): Query<PageQuery>,
    headers: HeaderMap,
    Form(form): Form<PageForm>,
) -> Response {
    // A relative redirect built only from parsed ids: no open redirect, no Host header.
    if app::model::Namespace::parse(&namespace).is_err()
        || app::model::VerificationId::parse(&id).is_err()
    {
        return StatusCode::NOT_FOUND.into_response();
    }
    // Back to the page, keeping its language and, for an allowed site, the embed modal.
    let mut query = Vec::new();
    if let Some(lang) = keep.lang.filter(|l| app::i18n::Lang::from_tag(l).is_some()) {
        query.push(("lang", lang));
    }
    if let Some(origin) = keep.origin {
        if gw.embed_origins(&namespace).await.contains(&origin) {
            query.push(("origin", origin));
        }
    }
    let page_with = |result: Option<&str>| {
        let mut pairs: Vec<(&str, &str)> = result.map(|r| ("result", r)).into_iter().collect();
        pairs.extend(query.iter().map(|(k, v)| (*k, v.as_str())));
        let encoded = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        let base = format!("/otp/{namespace}/{id}");
        if encoded.is_empty() {
            base
        } else {
            format!("{base}?{encoded}")
        }
    };
    let page = page_with(None);
    let back = |result: &str| Redirect::to(&page_with(Some(result))).into_response();
    let failed = |e: EngineError| match Failure::from(e) {
        Failure::NotFound => StatusCode::NOT_FOUND.into_response(),
        Failure::Closed => Redirect::to(&page).into_response(),
        Failure::Outcome(result) => back(result),
    };
    let ip = Some(client);
    // The hydrated page checks codes in place: the same check, answered as JSON.
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let binding = binding_cookie(&headers, &id);
    let binding = binding.as_deref();
    // A bound verification's page acts only for the browser that holds its binding.
    if matches!(form.action.as_str(), "resend" | "address" | "switch") {
        if let Err(e) = gw.page_bound(&namespace, &id, binding).await {
            return failed(e);
        }
    }
    match form.action.as_str() {
        "check" | "" if wants_json => check_json(
            gw.check_from_page(&namespace, &id, form.otp.trim(), ip, binding)
                .await,
        ),
        "check" | "" => match gw
            .check_from_page(&namespace, &id, form.otp.trim(), ip, binding)
            .await
        {
            // The redirect target is the app's own allow-listed URL, fixed at creation.
            Ok(reply) => match (reply.result, reply.redirect) {
                (_, Some(target)) => Redirect::to(&target).into_response(),
                (CheckResult::Verified | CheckResult::AlreadyVerified, None) => {
                    Redirect::to(&page).into_response()
                }
                (result, None) => back(result.as_query()),
            },
            Err(e) => failed(e),
        },
        "resend" => match gw.resend_from_page(&namespace, &id, ip).await {
            Ok(()) => back("resent"),
            Err(e) => failed(e),
        },
        "address" => match gw
            .set_address_from_page(
                &namespace,
                &id,
                &form.address,
                Some(form.country.as_str()).filter(|c| !c.is_empty()),
                ip,
            )
            .await
        {
            Ok(()) => back("sent"),
            Err(e) => failed(e),
        },
        "switch" => match gw
            .switch_from_page(&namespace, &id, &form.provider, ip)
            .await
        {
            Ok(true) => back("sent"),
            Ok(false) => Redirect::to(&page).into_response(),
            Err(e) => failed(e),
        },
        _ => (StatusCode::BAD_REQUEST, "unknown action").into_response(),
    }
}

/// How a page action's engine error reaches the page: the hosted forms' one mapping.
enum Failure {
    /// No such app or verification: 404.
    NotFound,
    /// Closed meanwhile: the page shows it as it is now.
    Closed,
    /// One of the page's outcomes: `limited`, `invalid_address`, `unbound`, `country`,
    /// `refused` or `unavailable`.
    Outcome(&'static str),
}

impl From<EngineError> for Failure {
    fn from(err: EngineError) -> Self {
        match err {
            EngineError::NotFound => Self::NotFound,
            EngineError::Closed(_) => Self::Closed,
            EngineError::BindingMismatch => Self::Outcome("unbound"),
            EngineError::CountryNotAllowed { .. } => Self::Outcome("country"),
            EngineError::SuspectedFraud | EngineError::BudgetExceeded { .. } => {
                Self::Outcome("refused")
            }
            EngineError::RateLimited { .. }
            | EngineError::SendLimit { .. }
            | EngineError::Locked { .. } => Self::Outcome("limited"),
            EngineError::InvalidAddress(_)
            | EngineError::InvalidInput { .. }
            | EngineError::NoAddress => Self::Outcome("invalid_address"),
            e => {
                tracing::error!(error = ?e, "hosted page action failed");
                Self::Outcome("unavailable")
            }
        }
    }
}

/// A check for the hydrated page: `{"result", "attempts_left"?, "redirect"?}`, where
/// `result` is one of the form's outcomes (`verified`, `incorrect`, `locked`, `expired`,
/// `cancelled`, `malformed`, `limited`, `unavailable`, `closed`).
fn check_json(reply: Result<app::model::CheckReply, EngineError>) -> Response {
    let body = match reply {
        Ok(reply) => {
            let mut body = json!({ "result": reply.result.as_query() });
            if let CheckResult::Incorrect { attempts_left } = reply.result {
                body["attempts_left"] = json!(attempts_left);
            }
            if let Some(target) = reply.redirect {
                body["redirect"] = json!(target);
            }
            body
        }
        Err(e) => match Failure::from(e) {
            Failure::NotFound => return StatusCode::NOT_FOUND.into_response(),
            Failure::Closed => json!({ "result": "closed" }),
            Failure::Outcome(result) => json!({ "result": result }),
        },
    };
    axum::Json(body).into_response()
}

/// `{"status":"success","data":{"closed":bool}}`, as otpgateway's page poll expects.
async fn closed(
    State(gw): State<Gateway>,
    Path((namespace, id)): Path<(String, String)>,
) -> Result<Success, ApiError> {
    match gw.page_view(&namespace, &id, Read::Viewed).await {
        Ok(view) => Ok(Success(
            json!({ "closed": view.status == app::model::Status::Verified }),
        )),
        // otpgateway's words for an id it no longer keeps.
        Err(EngineError::NotFound) => Err(ApiError::bad_request("Session expired.")),
        Err(e) => {
            tracing::error!(error = ?e, "status poll failed");
            Err(ApiError::unavailable())
        }
    }
}

/// Ready when storage answers.
pub async fn ready(State(gw): State<Gateway>) -> Response {
    match gw.ping().await {
        Ok(()) => "ready".into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "storage unavailable").into_response(),
    }
}
