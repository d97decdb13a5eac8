//! The tenant dashboard's HTTP side: the session cookie, the CSRF check of every form, and
//! one handler per page or form, each reading or changing through one gateway call and
//! rendering with `app::dashboard`. Forms answer with a redirect (or, when something must
//! be shown once, the page itself), so the dashboard works without JavaScript.

mod guard;
mod history;
mod providers;
mod security;
mod settings;
mod stats;
mod templates;
mod timeline;
mod webhooks;

use super::{cookie, AppState, ClientIp};
use app::{
    dashboard::{
        render_dashboard, AppRow, AuditRow, DashboardPage, FactorRow, InboxRow, MemberRow, Nav,
        SecretRow, SettingsFields,
    },
    gateway::{
        clock::utc_timestamp,
        store::{AppRecord, Role, SecretRecord},
        tenants::{
            sessions::IDLE_MS, two_factor::PasswordOutcome, Session, SessionToken, AUDIT_ACTIONS,
            AUDIT_PAGE,
        },
        EngineError, Gateway,
    },
};
use axum::{
    extract::{FromRequest, FromRequestParts, Path, Query, Request, State},
    http::{header, request::Parts, HeaderMap, HeaderValue, StatusCode},
    response::{Html, IntoResponse, Redirect, Response},
    routing::{get, post},
    Form, Router,
};
use leptos::prelude::LeptosOptions;
use serde::{de::DeserializeOwned, Deserialize};

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
        .route(
            "/dashboard/sign-in/code",
            get(security::code_page).post(security::code),
        )
        .route("/dashboard/security", get(security::show))
        .route("/dashboard/security/enrol", post(security::enrol))
        .route("/dashboard/security/confirm", post(security::confirm))
        .route("/dashboard/security/disable", post(security::disable))
        .route("/dashboard/security/require", post(security::require))
        .route("/dashboard/sign-up", get(sign_up_page).post(sign_up))
        .route("/dashboard/apps", post(create_app))
        .route("/dashboard/apps/{namespace}", get(app_page))
        .route("/dashboard/apps/{namespace}/rename", post(rename_app))
        .route("/dashboard/apps/{namespace}/delete", post(delete_app))
        .route("/dashboard/apps/{namespace}/settings", post(save_settings))
        .route("/dashboard/apps/{namespace}/inbox", get(inbox))
        .route("/dashboard/apps/{namespace}/factors", get(factors))
        .route("/dashboard/apps/{namespace}/guard", get(guard::show))
        .route(
            "/dashboard/apps/{namespace}/guard/holds/{hold}/lift",
            post(guard::lift),
        )
        .route(
            "/dashboard/apps/{namespace}/templates",
            get(templates::show).post(templates::submit),
        )
        .route(
            "/dashboard/apps/{namespace}/templates/delete",
            post(templates::remove),
        )
        .route(
            "/dashboard/apps/{namespace}/templates/preview",
            post(templates::live_preview),
        )
        .route(
            "/dashboard/apps/{namespace}/providers",
            get(providers::show).post(providers::save),
        )
        .route(
            "/dashboard/apps/{namespace}/providers/delete",
            post(providers::remove),
        )
        .route(
            "/dashboard/apps/{namespace}/providers/test",
            post(providers::test),
        )
        .route(
            "/dashboard/apps/{namespace}/verifications",
            get(timeline::show),
        )
        .route(
            "/dashboard/apps/{namespace}/webhooks",
            get(webhooks::show).post(webhooks::add),
        )
        .route(
            "/dashboard/apps/{namespace}/webhooks/remove",
            post(webhooks::remove),
        )
        .route(
            "/dashboard/apps/{namespace}/webhooks/replay",
            post(webhooks::replay),
        )
        .route("/dashboard/apps/{namespace}/secrets", post(add_secret))
        .route(
            "/dashboard/apps/{namespace}/secrets/{id}/revoke",
            post(revoke_secret),
        )
        .route(
            "/dashboard/apps/{namespace}/secrets/{id}/rotate",
            post(rotate_secret),
        )
        .route("/dashboard/apps/{namespace}/stats", get(stats::app))
        .route("/dashboard/apps/{namespace}/history", get(history::show))
        .route(
            "/dashboard/apps/{namespace}/history.csv",
            get(history::export),
        )
        .route("/dashboard/stats", get(stats::team))
        .route("/dashboard/audit", get(audit))
        .route("/dashboard/members", get(members).post(invite))
        .route("/dashboard/members/{id}/role", post(change_role))
        .route("/dashboard/members/{id}/remove", post(remove_member))
        .route(
            "/dashboard/invite/{token}",
            get(invite_form).post(accept_invite),
        )
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
        declared: app.declared,
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

fn session_cookie(gw: &Gateway, value: &str, max_age_secs: i64) -> HeaderValue {
    let secure = if secure(gw) { "; Secure" } else { "" };
    let cookie = format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}",
        cookie_name(gw)
    );
    HeaderValue::from_str(&cookie).expect("the token is base64url")
}

/// A form that carries the session's CSRF token in its `csrf` field.
pub trait WithCsrf {
    fn csrf(&self) -> &str;
}

macro_rules! with_csrf {
    ($($form:ty),*) => {$(
        impl $crate::http::dashboard::WithCsrf for $form {
            fn csrf(&self) -> &str {
                &self.csrf
            }
        }
    )*};
}
with_csrf!(
    CsrfForm,
    RoleForm,
    NewAppForm,
    SecretForm,
    InviteForm,
    AppChangeForm,
    SettingsForm
);
pub(crate) use with_csrf;

/// A signed-in member's form, with the client's IP for the audit log. Accepted only with
/// the session's CSRF token and only from this server's own pages; anything else is
/// refused (403) before a handler runs.
pub struct Change<T> {
    session: Session,
    form: T,
    ip: String,
}

impl<T: DeserializeOwned + WithCsrf + Send> FromRequest<AppState> for Change<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let Member(session) = Member::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let ip = parts
            .extensions
            .get::<ClientIp>()
            .map(|c| c.0.to_string())
            .unwrap_or_default();
        let from_here = same_origin(&state.gateway, &parts.headers);
        let Form(form) = Form::<T>::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        if !from_here || !session.csrf_matches(form.csrf()) {
            return Err(refused());
        }
        Ok(Change { session, form, ip })
    }
}

/// Whether the browser says the request comes from this server's own pages: by
/// `Sec-Fetch-Site` where it sends one, else by `Origin` (which is `null` for a form of a
/// page with `Referrer-Policy: no-referrer`, as all of ours are, so it proves nothing).
fn same_origin(gw: &Gateway, headers: &HeaderMap) -> bool {
    let header = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    if let Some(site) = header("sec-fetch-site") {
        return matches!(site, "same-origin" | "none");
    }
    match header(header::ORIGIN.as_str()) {
        None | Some("null") => true,
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
            signup: gw.settings().self_signup,
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
    ClientIp(client): ClientIp,
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
                signup: gw.settings().self_signup,
            },
        )
    };
    match gw.sign_in(&form.email, &form.password, client).await {
        Ok(PasswordOutcome::SignedIn(signed_in)) => signed_in_response(&gw, &signed_in.token),
        Ok(PasswordOutcome::SecondStep { ticket }) => security::to_second_step(&gw, &ticket),
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

async fn sign_up_page(State(gw): State<Gateway>, State(options): State<LeptosOptions>) -> Response {
    if !gw.settings().self_signup {
        return not_found(&options);
    }
    page(
        &options,
        StatusCode::OK,
        DashboardPage::SignUp {
            team: String::new(),
            email: String::new(),
            error: None,
        },
    )
}

#[derive(Deserialize)]
pub struct SignUpForm {
    #[serde(default)]
    team: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

async fn sign_up(
    State(gw): State<Gateway>,
    State(options): State<LeptosOptions>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    Form(form): Form<SignUpForm>,
) -> Response {
    if !same_origin(&gw, &headers) {
        return refused();
    }
    let again = |status: StatusCode, error: String| {
        page(
            &options,
            status,
            DashboardPage::SignUp {
                team: form.team.clone(),
                email: form.email.clone(),
                error: Some(error),
            },
        )
    };
    match gw
        .sign_up(&form.team, &form.email, &form.password, client)
        .await
    {
        Ok(signed_in) => signed_in_response(&gw, &signed_in.token),
        Err(EngineError::NotFound) => not_found(&options),
        Err(EngineError::InvalidInput { field, reason }) => {
            let (status, message) = refusal(field, &reason);
            again(status, message)
        }
        Err(EngineError::RateLimited { retry_after_secs }) => again(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Too many teams made from here. Try again in {} minutes.",
                retry_after_secs.div_ceil(60)
            ),
        ),
        Err(e) => {
            tracing::error!(error = ?e, "sign-up failed");
            again(
                StatusCode::SERVICE_UNAVAILABLE,
                "Signing up is not possible right now. Try again shortly.".into(),
            )
        }
    }
}

/// To the dashboard, with the new session's cookie.
fn signed_in_response(gw: &Gateway, token: &SessionToken) -> Response {
    let mut response = Redirect::to("/dashboard").into_response();
    let cookie = session_cookie(gw, token.expose(), IDLE_MS / 1000);
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    response
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn sign_out(
    State(gw): State<Gateway>,
    Change { session, ip, .. }: Change<CsrfForm>,
) -> Response {
    if let Err(e) = gw.sign_out(&session, &ip).await {
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
    Change { session, form, ip }: Change<NewAppForm>,
) -> Response {
    match gw
        .create_tenant_app(&session, &form.namespace, &form.name, &ip)
        .await
    {
        Ok((app, secret)) => {
            let extras = AppPageExtras {
                fresh: Some(secret.expose().to_owned()),
                ..AppPageExtras::default()
            };
            app_with_secrets(&gw, &options, &session, &app.namespace, extras).await
        }
        Err(EngineError::InvalidInput { field, reason }) => {
            let error = Some(refusal(field, &reason).1);
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

/// What an app's page shows besides the app: a secret just made (shown this once), the
/// settings form as sent when it was refused, and why a form was refused.
#[derive(Default)]
struct AppPageExtras {
    fresh: Option<String>,
    fields: Option<SettingsFields>,
    error: Option<(StatusCode, String)>,
}

/// An app's page with its secrets and settings.
async fn app_with_secrets(
    gw: &Gateway,
    options: &LeptosOptions,
    session: &Session,
    namespace: &str,
    extras: AppPageExtras,
) -> Response {
    let (app, secrets) = match gw.tenant_app_secrets(session, namespace).await {
        Ok(found) => found,
        Err(e) => return failure(options, session, e),
    };
    let AppPageExtras {
        fresh,
        fields,
        error,
    } = extras;
    let providers = match gw.provider_ids(&app).await {
        Ok(ids) => ids,
        Err(e) => return failure(options, session, e),
    };
    let held = match gw.app_active_holds(&app).await {
        Ok(holds) => holds.iter().map(held_label).collect(),
        Err(e) => return failure(options, session, e),
    };
    let status = error.as_ref().map_or(StatusCode::OK, |(status, _)| *status);
    page(
        options,
        status,
        DashboardPage::App {
            held,
            nav: nav(session),
            app: row(&app),
            secrets: secrets.iter().map(secret_row).collect(),
            settings: Box::new(fields.unwrap_or_else(|| settings::fields_of(&app))),
            defaults: settings::defaults(gw, providers),
            fresh,
            error: error.map(|(_, message)| message),
        },
    )
}

/// What a hold holds, in words: `numbers of JM`, `numbers +1876555010xx`.
pub(super) fn held_label(hold: &app::gateway::store::HoldRecord) -> String {
    use app::gateway::fraud::tally::Scope;
    match hold.scope {
        Scope::Country => format!("numbers of {}", hold.subject),
        Scope::Block => format!("numbers {}xx", hold.subject),
    }
}

/// A refused form's reason, as the page shows it.
fn refusal(field: &str, reason: &str) -> (StatusCode, String) {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        format!("The {} {reason}.", field.replace('_', " ")),
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
    let extras = AppPageExtras::default();
    app_with_secrets(&gw, &options, &session, &namespace, extras).await
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

/// What an app form leads to when it succeeds.
enum Then {
    /// The app's page showing a secret just made, this once.
    ShowSecret(String),
    /// Another page.
    GoTo(String),
}

/// After a form of an app's page: where it leads, or that page with the reason it was
/// refused (and the settings form as sent, when it was that form).
async fn after_app_form(
    gw: &Gateway,
    options: &LeptosOptions,
    session: &Session,
    namespace: &str,
    result: Result<Then, EngineError>,
    fields: Option<SettingsFields>,
) -> Response {
    let extras = match result {
        Ok(Then::ShowSecret(fresh)) => AppPageExtras {
            fresh: Some(fresh),
            ..AppPageExtras::default()
        },
        Ok(Then::GoTo(to)) => return Redirect::to(&to).into_response(),
        Err(EngineError::InvalidInput { field, reason }) => AppPageExtras {
            fields,
            error: Some(refusal(field, &reason)),
            ..AppPageExtras::default()
        },
        Err(e) => return failure(options, session, e),
    };
    app_with_secrets(gw, options, session, namespace, extras).await
}

fn app_page_of(namespace: &str) -> Then {
    Then::GoTo(format!("/dashboard/apps/{namespace}"))
}

async fn add_secret(
    State(gw): State<Gateway>,
    State(options): State<LeptosOptions>,
    Path(namespace): Path<String>,
    Change { session, form, ip }: Change<SecretForm>,
) -> Response {
    let result = gw
        .add_app_secret(&session, &namespace, &form.label, &ip)
        .await
        .map(|s| Then::ShowSecret(s.expose().to_owned()));
    after_app_form(&gw, &options, &session, &namespace, result, None).await
}

async fn revoke_secret(
    State(gw): State<Gateway>,
    State(options): State<LeptosOptions>,
    Path((namespace, id)): Path<(String, i64)>,
    Change { session, ip, .. }: Change<SecretForm>,
) -> Response {
    let result = gw
        .revoke_app_secret(&session, &namespace, id, &ip)
        .await
        .map(|()| app_page_of(&namespace));
    after_app_form(&gw, &options, &session, &namespace, result, None).await
}

async fn rotate_secret(
    State(gw): State<Gateway>,
    State(options): State<LeptosOptions>,
    Path((namespace, id)): Path<(String, i64)>,
    Change { session, form, ip }: Change<SecretForm>,
) -> Response {
    let overlap = form.overlap.unwrap_or(0);
    let result = gw
        .rotate_app_secret(&session, &namespace, id, overlap, &ip)
        .await
        .map(|s| Then::ShowSecret(s.expose().to_owned()));
    after_app_form(&gw, &options, &session, &namespace, result, None).await
}

#[derive(Deserialize)]
pub struct AuditQuery {
    #[serde(default)]
    action: String,
    #[serde(default)]
    actor: String,
    before: Option<i64>,
}

async fn audit(
    State(gw): State<Gateway>,
    State(options): State<LeptosOptions>,
    Member(session): Member,
    Query(query): Query<AuditQuery>,
) -> Response {
    let read = gw.audit_log(&session, &query.action, &query.actor, query.before);
    let found = match read.await {
        Ok(entries) => gw.tenant_members(&session).await.map(|m| (entries, m)),
        Err(e) => Err(e),
    };
    match found {
        Ok((entries, members)) => {
            // A full page may have older lines behind it: link to them, same filters.
            let older = entries
                .last()
                .filter(|_| entries.len() as i64 == AUDIT_PAGE)
                .and_then(|last| {
                    let before = last.audit_id.to_string();
                    let pairs = [
                        ("action", query.action.as_str()),
                        ("actor", query.actor.as_str()),
                        ("before", before.as_str()),
                    ];
                    serde_urlencoded::to_string(pairs).ok()
                })
                .map(|q| format!("/dashboard/audit?{q}"));
            page(
                &options,
                StatusCode::OK,
                DashboardPage::Audit {
                    nav: nav(&session),
                    entries: entries
                        .into_iter()
                        .map(|e| AuditRow {
                            id: e.audit_id,
                            at: utc_timestamp(e.created_at),
                            actor: e.actor.unwrap_or_else(|| "—".into()),
                            action: e.action,
                            detail: e.detail,
                            ip: e.ip,
                        })
                        .collect(),
                    actions: AUDIT_ACTIONS,
                    action: query.action,
                    actors: members.into_iter().map(|m| m.email).collect(),
                    actor: query.actor,
                    older,
                },
            )
        }
        Err(e) => failure(&options, &session, e),
    }
}

async fn members_page(
    gw: &Gateway,
    options: &LeptosOptions,
    session: &Session,
    invite_link: Option<String>,
    error: Option<(StatusCode, String)>,
) -> Response {
    let members = match gw.tenant_members(session).await {
        Ok(members) => members,
        Err(e) => return failure(options, session, e),
    };
    let status = error.as_ref().map_or(StatusCode::OK, |(status, _)| *status);
    page(
        options,
        status,
        DashboardPage::Members {
            nav: nav(session),
            members: members
                .iter()
                .map(|m| MemberRow {
                    id: m.member_id,
                    email: m.email.clone(),
                    role: m.role.as_str(),
                })
                .collect(),
            invite_link,
            error: error.map(|(_, message)| message),
        },
    )
}

async fn members(
    State(gw): State<Gateway>,
    State(options): State<LeptosOptions>,
    Member(session): Member,
) -> Response {
    members_page(&gw, &options, &session, None, None).await
}

#[derive(Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

async fn invite(
    State(gw): State<Gateway>,
    State(options): State<LeptosOptions>,
    Change { session, form, ip }: Change<InviteForm>,
) -> Response {
    let Some(role) = Role::parse(&form.role) else {
        let error = (
            StatusCode::UNPROCESSABLE_ENTITY,
            "Choose a role.".to_owned(),
        );
        return members_page(&gw, &options, &session, None, Some(error)).await;
    };
    match gw.invite_member(&session, &form.email, role, &ip).await {
        Ok(token) => {
            let root = gw.settings().root_url.trim_end_matches('/').to_owned();
            let link = format!("{root}/dashboard/invite/{token}");
            members_page(&gw, &options, &session, Some(link), None).await
        }
        Err(EngineError::InvalidInput { field, reason }) => {
            let error = refusal(field, &reason);
            members_page(&gw, &options, &session, None, Some(error)).await
        }
        Err(e) => failure(&options, &session, e),
    }
}

fn invite_page(
    options: &LeptosOptions,
    status: StatusCode,
    email: String,
    token: String,
    error: Option<String>,
) -> Response {
    page(
        options,
        status,
        DashboardPage::AcceptInvite {
            email,
            token,
            error,
        },
    )
}

/// "Not found" for someone signed out (an unknown invitation, sign-up when it is off).
fn not_found(options: &LeptosOptions) -> Response {
    page(
        options,
        StatusCode::NOT_FOUND,
        DashboardPage::NotFound { nav: None },
    )
}

async fn invite_form(
    State(gw): State<Gateway>,
    State(options): State<LeptosOptions>,
    Path(token): Path<String>,
) -> Response {
    match gw.invitation(&token).await {
        Ok(email) => invite_page(&options, StatusCode::OK, email, token, None),
        Err(EngineError::NotFound) => not_found(&options),
        Err(e) => {
            tracing::error!(error = ?e, "reading an invitation failed");
            (StatusCode::SERVICE_UNAVAILABLE, "temporarily unavailable").into_response()
        }
    }
}

#[derive(Deserialize)]
pub struct AcceptForm {
    #[serde(default)]
    password: String,
}

async fn accept_invite(
    State(gw): State<Gateway>,
    State(options): State<LeptosOptions>,
    ClientIp(client): ClientIp,
    Path(token): Path<String>,
    headers: HeaderMap,
    Form(form): Form<AcceptForm>,
) -> Response {
    if !same_origin(&gw, &headers) {
        return refused();
    }
    match gw.accept_invite(&token, &form.password, client).await {
        Ok(signed_in) => signed_in_response(&gw, &signed_in.token),
        Err(EngineError::InvalidInput { field, reason }) => match gw.invitation(&token).await {
            Ok(email) => invite_page(
                &options,
                StatusCode::UNPROCESSABLE_ENTITY,
                email,
                token,
                Some(refusal(field, &reason).1),
            ),
            Err(_) => not_found(&options),
        },
        Err(EngineError::NotFound) => not_found(&options),
        Err(e) => {
            tracing::error!(error = ?e, "accepting an invitation failed");
            (StatusCode::SERVICE_UNAVAILABLE, "temporarily unavailable").into_response()
        }
    }
}

#[derive(Deserialize)]
pub struct AppChangeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    confirm: String,
}

async fn rename_app(
    State(gw): State<Gateway>,
    State(options): State<LeptosOptions>,
    Path(namespace): Path<String>,
    Change { session, form, ip }: Change<AppChangeForm>,
) -> Response {
    let result = gw
        .rename_tenant_app(&session, &namespace, &form.name, &ip)
        .await
        .map(|_| app_page_of(&namespace));
    after_app_form(&gw, &options, &session, &namespace, result, None).await
}

async fn delete_app(
    State(gw): State<Gateway>,
    State(options): State<LeptosOptions>,
    Path(namespace): Path<String>,
    Change { session, form, ip }: Change<AppChangeForm>,
) -> Response {
    let result = gw
        .delete_tenant_app(&session, &namespace, &form.confirm, &ip)
        .await
        .map(|()| Then::GoTo("/dashboard".into()));
    after_app_form(&gw, &options, &session, &namespace, result, None).await
}

#[derive(Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    csrf: String,
    #[serde(flatten)]
    fields: SettingsFields,
}

async fn save_settings(
    State(gw): State<Gateway>,
    State(options): State<LeptosOptions>,
    Path(namespace): Path<String>,
    Change { session, form, ip }: Change<SettingsForm>,
) -> Response {
    let result = match settings::read(&form.fields) {
        Ok((values, redirect_urls)) => gw
            .set_app_settings(&session, &namespace, values, redirect_urls, &ip)
            .await
            .map(|_| app_page_of(&namespace)),
        Err(e) => Err(e),
    };
    let fields = Some(form.fields);
    after_app_form(&gw, &options, &session, &namespace, result, fields).await
}

async fn inbox(
    State(gw): State<Gateway>,
    State(options): State<LeptosOptions>,
    Member(session): Member,
    Path(namespace): Path<String>,
) -> Response {
    match gw.dev_inbox(&session, &namespace).await {
        Ok((app, messages)) => page(
            &options,
            StatusCode::OK,
            DashboardPage::Inbox {
                nav: nav(&session),
                app: row(&app),
                test_mode: app.settings.test_mode,
                messages: messages
                    .into_iter()
                    .map(|m| InboxRow {
                        at: utc_timestamp(m.created_at),
                        verification: m.public_id,
                        provider: m.provider,
                        to: m.address,
                        subject: m.subject,
                        body: m.body,
                    })
                    .collect(),
            },
        ),
        Err(e) => failure(&options, &session, e),
    }
}

/// An app's authenticator-app factors (every member).
async fn factors(
    State(gw): State<Gateway>,
    State(options): State<LeptosOptions>,
    Member(session): Member,
    Path(namespace): Path<String>,
) -> Response {
    match gw.app_factors(&session, &namespace).await {
        Ok((app, factors)) => page(
            &options,
            StatusCode::OK,
            DashboardPage::Factors {
                nav: nav(&session),
                app: row(&app),
                factors: factors
                    .into_iter()
                    .map(|f| FactorRow {
                        kind: format!("{} · {} digits · {} s", f.algorithm, f.digits, f.period),
                        created: utc_timestamp(f.created_at),
                        activated: f.activated_at.map(utc_timestamp),
                        id: f.public_id,
                        user: f.user_id,
                        label: f.label,
                        status: f.status,
                    })
                    .collect(),
            },
        ),
        Err(e) => failure(&options, &session, e),
    }
}

#[derive(Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    role: String,
}

/// After a form of the members page: back to it, or it with the reason it was refused.
async fn after_member_form(
    gw: &Gateway,
    options: &LeptosOptions,
    session: &Session,
    result: Result<(), EngineError>,
) -> Response {
    match result {
        Ok(()) => Redirect::to("/dashboard/members").into_response(),
        Err(EngineError::InvalidInput { field, reason }) => {
            let error = Some(refusal(field, &reason));
            members_page(gw, options, session, None, error).await
        }
        Err(e) => failure(options, session, e),
    }
}

async fn change_role(
    State(gw): State<Gateway>,
    State(options): State<LeptosOptions>,
    Path(id): Path<i64>,
    Change { session, form, ip }: Change<RoleForm>,
) -> Response {
    let result = match Role::parse(&form.role) {
        Some(role) => gw.change_member_role(&session, id, role, &ip).await,
        None => Err(EngineError::invalid(
            "role",
            "must be viewer, developer or owner",
        )),
    };
    after_member_form(&gw, &options, &session, result).await
}

async fn remove_member(
    State(gw): State<Gateway>,
    State(options): State<LeptosOptions>,
    Path(id): Path<i64>,
    Change { session, ip, .. }: Change<CsrfForm>,
) -> Response {
    let result = gw.remove_member(&session, id, &ip).await;
    after_member_form(&gw, &options, &session, result).await
}
