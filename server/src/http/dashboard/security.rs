//! Two-factor sign-in: the second step of a sign-in (its ticket in a short-lived cookie),
//! and the member's security page.

use super::{
    cookie, failure, nav, page, refused, same_origin, secure, session_cookie, signed_in_response,
    with_csrf, Change, CsrfForm, Member,
};
use crate::http::ClientIp;
use app::{
    dashboard::{security::SecurityView, DashboardPage},
    gateway::{
        tenants::{two_factor::TICKET_MS, Session},
        EngineError, Gateway,
    },
    model::EnrolmentView,
};
use axum::{
    extract::State,
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Redirect, Response},
    Form,
};
use leptos::prelude::LeptosOptions;
use serde::Deserialize;

/// The cookie that carries a sign-in's ticket from the password to the second step.
const TICKET_COOKIE: &str = "otpgate_second_step";

fn ticket_cookie(gw: &Gateway, value: &str, max_age_secs: i64) -> HeaderValue {
    let secure = if secure(gw) { "; Secure" } else { "" };
    let cookie = format!(
        "{TICKET_COOKIE}={value}; Path=/dashboard/sign-in; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}"
    );
    HeaderValue::from_str(&cookie).expect("the ticket is base64url and digits")
}

/// After a right password that needs a second step: on to its page, with the ticket.
pub(super) fn to_second_step(gw: &Gateway, ticket: &str) -> Response {
    let mut response = Redirect::to("/dashboard/sign-in/code").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        ticket_cookie(gw, ticket, TICKET_MS / 1000),
    );
    response
}

fn to_sign_in() -> Response {
    Redirect::to("/dashboard/sign-in").into_response()
}

/// The second step's page: the code form, or the enrolment the team requires.
pub(super) async fn code_page(
    State(gw): State<Gateway>,
    State(options): State<LeptosOptions>,
    headers: HeaderMap,
) -> Response {
    let Some(ticket) = cookie(&headers, TICKET_COOKIE) else {
        return to_sign_in();
    };
    second_step(&gw, &options, ticket, StatusCode::OK, None).await
}

async fn second_step(
    gw: &Gateway,
    options: &LeptosOptions,
    ticket: &str,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    match gw.second_step(ticket).await {
        Ok(step) => page(
            options,
            status,
            DashboardPage::SecondStep {
                email: step.email,
                enrolment: step.enrolment,
                error,
            },
        ),
        Err(EngineError::Unauthorized) => to_sign_in(),
        Err(e) => {
            tracing::error!(error = ?e, "the second step of a sign-in failed");
            (StatusCode::SERVICE_UNAVAILABLE, "temporarily unavailable").into_response()
        }
    }
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
}

/// The second step's form: a code (or a recovery code) finishes the sign-in.
pub(super) async fn code(
    State(gw): State<Gateway>,
    State(options): State<LeptosOptions>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Response {
    if !same_origin(&gw, &headers) {
        return refused();
    }
    let Some(ticket) = cookie(&headers, TICKET_COOKIE) else {
        return to_sign_in();
    };
    let ip = client.to_string();
    let (signed, codes) = match gw.finish_sign_in(ticket, &form.code, &ip).await {
        Ok(done) => done,
        Err(EngineError::Unauthorized) => {
            let error = "That code is not right.".to_owned();
            return second_step(&gw, &options, ticket, StatusCode::UNAUTHORIZED, Some(error)).await;
        }
        Err(EngineError::RateLimited { retry_after_secs }) => {
            let error = format!(
                "Too many tries. Try again in {} minutes.",
                retry_after_secs.div_ceil(60)
            );
            return second_step(
                &gw,
                &options,
                ticket,
                StatusCode::TOO_MANY_REQUESTS,
                Some(error),
            )
            .await;
        }
        Err(e) => {
            tracing::error!(error = ?e, "the second step of a sign-in failed");
            return (StatusCode::SERVICE_UNAVAILABLE, "temporarily unavailable").into_response();
        }
    };
    let mut response = match codes {
        None => signed_in_response(&gw, &signed.token),
        // Just enrolled: the recovery codes, this once, in the new session.
        Some(codes) => match gw.session(&signed.token).await {
            Ok(Some(session)) => {
                let mut response = page(
                    &options,
                    StatusCode::OK,
                    DashboardPage::Enrolled {
                        nav: nav(&session),
                        codes,
                    },
                );
                let cookie = session_cookie(
                    &gw,
                    signed.token.expose(),
                    app::gateway::tenants::sessions::IDLE_MS / 1000,
                );
                response.headers_mut().append(header::SET_COOKIE, cookie);
                response
            }
            _ => signed_in_response(&gw, &signed.token),
        },
    };
    response
        .headers_mut()
        .append(header::SET_COOKIE, ticket_cookie(&gw, "", 0));
    response
}

/// The security page, with what the last form made (recovery codes) or why it failed.
async fn render(
    gw: &Gateway,
    options: &LeptosOptions,
    session: &Session,
    codes: Option<Vec<String>>,
    error: Option<String>,
) -> Response {
    match gw.security(session).await {
        Ok(state) => page(
            options,
            if error.is_some() {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::OK
            },
            DashboardPage::Security {
                nav: nav(session),
                view: Box::new(SecurityView {
                    enabled: state.enabled,
                    recovery_left: state.recovery_left,
                    required: state.required,
                    owner: state.owner,
                    enrolment: state.pending.map(|e: EnrolmentView| e),
                    codes,
                    error,
                }),
            },
        ),
        Err(e) => failure(options, session, e),
    }
}

pub(super) async fn show(
    State(gw): State<Gateway>,
    State(options): State<LeptosOptions>,
    Member(session): Member,
) -> Response {
    render(&gw, &options, &session, None, None).await
}

/// Starts an enrolment: the page shows its QR code and asks for the first code.
pub(super) async fn enrol(
    State(gw): State<Gateway>,
    State(options): State<LeptosOptions>,
    Change { session, .. }: Change<CsrfForm>,
) -> Response {
    match gw.start_two_factor(&session).await {
        Ok(_) => render(&gw, &options, &session, None, None).await,
        Err(EngineError::InvalidInput { reason, .. }) => {
            render(&gw, &options, &session, None, Some(reason)).await
        }
        Err(e) => failure(&options, &session, e),
    }
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
}

#[derive(Deserialize)]
pub struct RequireForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    on: String,
}

with_csrf!(ConfirmForm, RequireForm);

/// The enrolment's first code: on from now, and the recovery codes shown once.
pub(super) async fn confirm(
    State(gw): State<Gateway>,
    State(options): State<LeptosOptions>,
    Change { session, form, ip }: Change<ConfirmForm>,
) -> Response {
    match gw.confirm_two_factor(&session, &form.code, &ip).await {
        Ok(codes) => render(&gw, &options, &session, Some(codes), None).await,
        Err(EngineError::InvalidInput { reason, .. }) => {
            render(&gw, &options, &session, None, Some(format!("{reason}."))).await
        }
        Err(EngineError::RateLimited { .. }) => {
            let error = "Too many tries. Wait a few minutes.".to_owned();
            render(&gw, &options, &session, None, Some(error)).await
        }
        Err(e) => failure(&options, &session, e),
    }
}

pub(super) async fn disable(
    State(gw): State<Gateway>,
    State(options): State<LeptosOptions>,
    Change { session, ip, .. }: Change<CsrfForm>,
) -> Response {
    match gw.disable_two_factor(&session, &ip).await {
        Ok(()) => Redirect::to("/dashboard/security").into_response(),
        Err(e) => failure(&options, &session, e),
    }
}

/// An owner requires (or stops requiring) a second factor of every member.
pub(super) async fn require(
    State(gw): State<Gateway>,
    State(options): State<LeptosOptions>,
    Change { session, form, ip }: Change<RequireForm>,
) -> Response {
    match gw
        .require_two_factor(&session, form.on == "true", &ip)
        .await
    {
        Ok(()) => Redirect::to("/dashboard/security").into_response(),
        Err(e) => failure(&options, &session, e),
    }
}
