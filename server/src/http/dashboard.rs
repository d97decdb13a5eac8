//! The tenant dashboard's HTTP side: the session cookie, the CSRF check of every form, and
//! one handler per page or form, each reading or changing through one gateway call and
//! rendering with `app::dashboard`. Forms answer with a redirect (or, when something must
//! be shown once, the page itself), so the dashboard works without JavaScript.

use super::AppState;
use app::{
    dashboard::{render_dashboard, AppRow, AuditRow, DashboardPage, Nav, SecretRow},
    gateway::{
        clock::utc_timestamp,
        store::{AppRecord, SecretRecord},
        tenants::{sessions::IDLE_MS, Session, SessionToken},
        EngineError, Gateway,
    },
};
use axum::{
    extract::{ConnectInfo, FromRequestParts, Path, State},
    http::{header, request::Parts, HeaderMap, HeaderValue, StatusCode},
    response::{Html, IntoResponse, Redirect, Response},
    routing::{get, post},
    Form, Router,
};
use leptos::prelude::LeptosOptions;
use serde::Deserialize;
use std::net::SocketAddr;

/// The session cookie's name; `__Host-` (Secure, whole site, no Domain) when the root URL
/// is https.
fn cookie_name(gw: &Gateway) -> &'static str {
    if secure(gw) {
        "__Host-otpgate_session"
    } else {
        "otpgate_session"
    }
}

fn secure(gw: &Gateway) -> bool {
    gw.settings().root_url.starts_with("https://")
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/dashboard", get(apps))
        .route("/dashboard/sign-in", get(sign_in_page).post(sign_in))
        .route("/dashboard/sign-out", post(sign_out))
        .route("/dashboard/apps", post(create_app))
        .route("/dashboard/apps/{namespace}", get(app_page))
        .route("/dashboard/apps/{namespace}/secrets", post(add_secret))
        .route(
            "/dashboard/apps/{namespace}/secrets/{id}/revoke",
            post(revoke_secret),
        )
        .route(
            "/dashboard/apps/{namespace}/secrets/{id}/rotate",
            post(rotate_secret),
        )
        .route("/dashboard/audit", get(audit))
}

/// A page or a refusal, rendered.
fn page(options: &LeptosOptions, status: StatusCode, page: DashboardPage) -> Response {
    let rendered = render_dashboard(options, status, page);
    let mut response = (rendered.status, Html(rendered.html)).into_response();
    if let Ok(policy) = HeaderValue::from_str(&rendered.content_security_policy) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    response
}

fn nav(session: &Session) -> Nav {
    Nav {
        tenant: session.tenant.name.clone(),
        email: session.member.email.clone(),
        role: session.member.role.as_str(),
        csrf: session.csrf.clone(),
        manages_apps: session.member.role.manages_apps(),
    }
}

fn row(app: &AppRecord) -> AppRow {
    AppRow {
        namespace: app.namespace.clone(),
        name: app.name.clone(),
    }
}

/// A signed-in member, from the session cookie. Without a live session, pages send the
/// browser to the sign-in form and forms are refused.
pub struct Member(Session);

pub enum NotSignedIn {
    ToSignIn,
    Unavailable,
}

impl IntoResponse for NotSignedIn {
    fn into_response(self) -> Response {
        match self {
            NotSignedIn::ToSignIn => Redirect::to("/dashboard/sign-in").into_response(),
            NotSignedIn::Unavailable => {
                (StatusCode::SERVICE_UNAVAILABLE, "temporarily unavailable").into_response()
            }
        }
    }
}

impl FromRequestParts<AppState> for Member {
    type Rejection = NotSignedIn;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, NotSignedIn> {
        let gw = &state.gateway;
        let token = cookie(&parts.headers, cookie_name(gw)).ok_or(NotSignedIn::ToSignIn)?;
        match gw.session(&SessionToken::from_cookie(token)).await {
            Ok(Some(session)) => Ok(Member(session)),
            Ok(None) => Err(NotSignedIn::ToSignIn),
            Err(e) => {
                tracing::error!(error = ?e, "reading a dashboard session failed");
                Err(NotSignedIn::Unavailable)
            }
        }
    }
}

/// One cookie's value from the `Cookie` header.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

fn session_cookie(gw: &Gateway, value: &str, max_age_secs: i64) -> HeaderValue {
    let secure = if secure(gw) { "; Secure" } else { "" };
    let cookie = format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}",
        cookie_name(gw)
    );
    HeaderValue::from_str(&cookie).expect("the token is base64url")
}

/// A form of a signed-in page is accepted only with the session's CSRF token, and only
/// from this server's own origin when the browser names one.
fn csrf_ok(session: &Session, gw: &Gateway, headers: &HeaderMap, token: &str) -> bool {
    same_origin(gw, headers) && session.csrf_matches(token)
}

fn same_origin(gw: &Gateway, headers: &HeaderMap) -> bool {
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(origin) => gw.settings().root_url.trim_end_matches('/') == origin,
    }
}

fn refused() -> Response {
    (
        StatusCode::FORBIDDEN,
        "This form is out of date or came from another site. Reload the page and try again.",
    )
        .into_response()
}

async fn sign_in_page(
    State(gw): State<Gateway>,
    State(options): State<LeptosOptions>,
    headers: HeaderMap,
) -> Response {
    if let Some(token) = cookie(&headers, cookie_name(&gw)) {
        if let Ok(Some(_)) = gw.session(&SessionToken::from_cookie(token)).await {
            return Redirect::to("/dashboard").into_response();
        }
    }
    page(
        &options,
        StatusCode::OK,
        DashboardPage::SignIn {
            email: String::new(),
            error: None,
        },
    )
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

async fn sign_in(
    State(gw): State<Gateway>,
    State(options): State<LeptosOptions>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    if !same_origin(&gw, &headers) {
        return refused();
    }
    let again = |status: StatusCode, error: String| {
        page(
            &options,
            status,
            DashboardPage::SignIn {
                email: form.email.clone(),
                error: Some(error),
            },
        )
    };
    match gw.sign_in(&form.email, &form.password, client.ip()).await {
        Ok(signed_in) => {
            let mut response = Redirect::to("/dashboard").into_response();
            let cookie = session_cookie(&gw, signed_in.token.expose(), IDLE_MS / 1000);
            response.headers_mut().insert(header::SET_COOKIE, cookie);
            response
        }
        Err(EngineError::Unauthorized) => again(
            StatusCode::UNAUTHORIZED,
            "Wrong e-mail address or password.".into(),
        ),
        Err(EngineError::RateLimited { retry_after_secs }) => again(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Too many sign-in attempts. Try again in {} minutes.",
                retry_after_secs.div_ceil(60)
            ),
        ),
        Err(e) => {
            tracing::error!(error = ?e, "sign-in failed");
            again(
                StatusCode::SERVICE_UNAVAILABLE,
                "Signing in is not possible right now. Try again shortly.".into(),
            )
        }
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn sign_out(
    State(gw): State<Gateway>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Member(session): Member,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !csrf_ok(&session, &gw, &headers, &form.csrf) {
        return refused();
    }
    if let Err(e) = gw.sign_out(&session, &client.ip().to_string()).await {
        tracing::error!(error = ?e, "sign-out failed");
        return (StatusCode::SERVICE_UNAVAILABLE, "temporarily unavailable").into_response();
    }
    let mut response = Redirect::to("/dashboard/sign-in").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session_cookie(&gw, "", 0));
    response
}

/// What a failed read or change shows.
fn failure(options: &LeptosOptions, session: &Session, err: EngineError) -> Response {
    match err {
        EngineError::NotFound => page(
            options,
            StatusCode::NOT_FOUND,
            DashboardPage::NotFound {
                nav: Some(nav(session)),
            },
        ),
        EngineError::Forbidden => page(
            options,
            StatusCode::FORBIDDEN,
            DashboardPage::Forbidden { nav: nav(session) },
        ),
        e => {
            tracing::error!(error = ?e, "dashboard request failed");
            (StatusCode::SERVICE_UNAVAILABLE, "temporarily unavailable").into_response()
        }
    }
}

async fn apps_page(
    gw: &Gateway,
    options: &LeptosOptions,
    session: &Session,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    match gw.tenant_apps(session).await {
        Ok(apps) => page(
            options,
            status,
            DashboardPage::Apps {
                nav: nav(session),
                apps: apps.iter().map(row).collect(),
                error,
            },
        ),
        Err(e) => failure(options, session, e),
    }
}

async fn apps(
    State(gw): State<Gateway>,
    State(options): State<LeptosOptions>,
    Member(session): Member,
) -> Response {
    apps_page(&gw, &options, &session, StatusCode::OK, None).await
}

#[derive(Deserialize)]
pub struct NewAppForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    name: String,
}

async fn create_app(
    State(gw): State<Gateway>,
    State(options): State<LeptosOptions>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Member(session): Member,
    headers: HeaderMap,
    Form(form): Form<NewAppForm>,
) -> Response {
    if !csrf_ok(&session, &gw, &headers, &form.csrf) {
        return refused();
    }
    let ip = client.ip().to_string();
    match gw
        .create_tenant_app(&session, &form.namespace, &form.name, &ip)
        .await
    {
        Ok((app, secret)) => {
            let fresh = Some(secret.expose().to_owned());
            app_with_secrets(&gw, &options, &session, &app.namespace, fresh, None).await
        }
        Err(EngineError::InvalidInput { field, reason }) => {
            let error = Some(format!("The {field} {reason}."));
            apps_page(
                &gw,
                &options,
                &session,
                StatusCode::UNPROCESSABLE_ENTITY,
                error,
            )
            .await
        }
        Err(e) => failure(&options, &session, e),
    }
}

/// An app's page with its secrets; `fresh` is a secret just made, shown this once.
async fn app_with_secrets(
    gw: &Gateway,
    options: &LeptosOptions,
    session: &Session,
    namespace: &str,
    fresh: Option<String>,
    error: Option<(StatusCode, String)>,
) -> Response {
    let (app, secrets) = match gw.tenant_app_secrets(session, namespace).await {
        Ok(found) => found,
        Err(e) => return failure(options, session, e),
    };
    let status = error.as_ref().map_or(StatusCode::OK, |(status, _)| *status);
    page(
        options,
        status,
        DashboardPage::App {
            nav: nav(session),
            app: row(&app),
            secrets: secrets.iter().map(secret_row).collect(),
            fresh,
            error: error.map(|(_, message)| message),
        },
    )
}

fn secret_row(s: &SecretRecord) -> SecretRow {
    let when = |at: Option<i64>, none: &str| at.map_or_else(|| none.to_owned(), utc_timestamp);
    SecretRow {
        id: s.secret_id,
        label: s.label.clone(),
        created: utc_timestamp(s.created_at),
        last_used: when(s.last_used_at, "never"),
        expires: when(s.expires_at, "when revoked"),
    }
}

async fn app_page(
    State(gw): State<Gateway>,
    State(options): State<LeptosOptions>,
    Member(session): Member,
    Path(namespace): Path<String>,
) -> Response {
    app_with_secrets(&gw, &options, &session, &namespace, None, None).await
}

#[derive(Deserialize)]
pub struct SecretForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    overlap: Option<i64>,
}

/// After a secret form: the secret made (shown once), or the reason it was refused.
async fn after_secret_change(
    gw: &Gateway,
    options: &LeptosOptions,
    session: &Session,
    namespace: &str,
    result: Result<Option<String>, EngineError>,
) -> Response {
    match result {
        Ok(Some(fresh)) => {
            app_with_secrets(gw, options, session, namespace, Some(fresh), None).await
        }
        Ok(None) => Redirect::to(&format!("/dashboard/apps/{namespace}")).into_response(),
        Err(EngineError::InvalidInput { field, reason }) => {
            let error = (
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("The {field} {reason}."),
            );
            app_with_secrets(gw, options, session, namespace, None, Some(error)).await
        }
        Err(e) => failure(options, session, e),
    }
}

async fn add_secret(
    State(gw): State<Gateway>,
    State(options): State<LeptosOptions>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Member(session): Member,
    Path(namespace): Path<String>,
    headers: HeaderMap,
    Form(form): Form<SecretForm>,
) -> Response {
    if !csrf_ok(&session, &gw, &headers, &form.csrf) {
        return refused();
    }
    let ip = client.ip().to_string();
    let result = gw
        .add_app_secret(&session, &namespace, &form.label, &ip)
        .await
        .map(|s| Some(s.expose().to_owned()));
    after_secret_change(&gw, &options, &session, &namespace, result).await
}

async fn revoke_secret(
    State(gw): State<Gateway>,
    State(options): State<LeptosOptions>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Member(session): Member,
    Path((namespace, id)): Path<(String, i64)>,
    headers: HeaderMap,
    Form(form): Form<SecretForm>,
) -> Response {
    if !csrf_ok(&session, &gw, &headers, &form.csrf) {
        return refused();
    }
    let ip = client.ip().to_string();
    let result = gw
        .revoke_app_secret(&session, &namespace, id, &ip)
        .await
        .map(|()| None);
    after_secret_change(&gw, &options, &session, &namespace, result).await
}

async fn rotate_secret(
    State(gw): State<Gateway>,
    State(options): State<LeptosOptions>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Member(session): Member,
    Path((namespace, id)): Path<(String, i64)>,
    headers: HeaderMap,
    Form(form): Form<SecretForm>,
) -> Response {
    if !csrf_ok(&session, &gw, &headers, &form.csrf) {
        return refused();
    }
    let ip = client.ip().to_string();
    let overlap = form.overlap.unwrap_or(0);
    let result = gw
        .rotate_app_secret(&session, &namespace, id, overlap, &ip)
        .await
        .map(|s| Some(s.expose().to_owned()));
    after_secret_change(&gw, &options, &session, &namespace, result).await
}

async fn audit(
    State(gw): State<Gateway>,
    State(options): State<LeptosOptions>,
    Member(session): Member,
) -> Response {
    match gw.audit_log(&session).await {
        Ok(entries) => page(
            &options,
            StatusCode::OK,
            DashboardPage::Audit {
                nav: nav(&session),
                entries: entries
                    .into_iter()
                    .map(|e| AuditRow {
                        at: utc_timestamp(e.created_at),
                        actor: e.actor.unwrap_or_else(|| "—".into()),
                        action: e.action,
                        detail: e.detail,
                        ip: e.ip,
                    })
                    .collect(),
            },
        ),
        Err(e) => failure(&options, &session, e),
    }
}
