//! An app's event webhooks page: the endpoints, adding one (its secret shown once on the
//! answer), removing one, the delivery log and replaying a message.

use super::{failure, nav, page, refusal, row, with_csrf, Change};
use app::{
    dashboard::{DashboardPage, EndpointRow, WebhookLogRow, WebhooksView},
    gateway::{
        clock::utc_timestamp, outbox::webhooks::WEBHOOK_EVENTS, store::WebhookMessage,
        tenants::Session, EngineError, Gateway,
    },
};
use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use leptos::prelude::LeptosOptions;
use serde::Deserialize;
use std::collections::BTreeMap;

/// What the page shows beside the lists.
#[derive(Default)]
struct Extras {
    fresh: Option<String>,
    error: Option<(StatusCode, String)>,
    url: String,
    chosen: Vec<String>,
}

fn log_row(m: &WebhookMessage) -> WebhookLogRow {
    let response = match (m.last_status, &m.last_error) {
        (Some(status), _) if m.status == "delivered" => status.to_string(),
        (_, Some(error)) => error.clone(),
        (Some(status), None) => status.to_string(),
        (None, None) => "not tried yet".to_owned(),
    };
    WebhookLogRow {
        id: m.message_id,
        url: m.url.clone(),
        event: m.event_type.clone().unwrap_or_default(),
        status: m.status.clone(),
        attempts: m.attempts,
        response,
        at: utc_timestamp(m.updated_at),
        replayable: matches!(m.status.as_str(), "delivered" | "dead"),
    }
}

async fn webhooks_page(
    gw: &Gateway,
    options: &LeptosOptions,
    session: &Session,
    namespace: &str,
    extras: Extras,
) -> Response {
    let found = match gw.app_webhooks(session, namespace).await {
        Ok(found) => found,
        Err(e) => return failure(options, session, e),
    };
    let status = extras.error.as_ref().map_or(StatusCode::OK, |(s, _)| *s);
    let view = WebhooksView {
        app: row(&found.app),
        manages: session.member.role.manages_apps() && !found.app.declared,
        endpoints: found
            .endpoints
            .iter()
            .map(|w| EndpointRow {
                id: w.webhook_id,
                url: w.url.clone(),
                events: w.events.clone(),
                created: utc_timestamp(w.created_at),
            })
            .collect(),
        log: found.log.iter().map(log_row).collect(),
        events: WEBHOOK_EVENTS.iter().map(|(name, _)| *name).collect(),
        fresh: extras.fresh,
        error: extras.error.map(|(_, message)| message),
        url: extras.url,
        chosen: extras.chosen,
    };
    page(
        options,
        status,
        DashboardPage::Webhooks {
            nav: nav(session),
            view: Box::new(view),
        },
    )
}

pub async fn show(
    State(gw): State<Gateway>,
    State(options): State<LeptosOptions>,
    super::Member(session): super::Member,
    Path(namespace): Path<String>,
) -> Response {
    webhooks_page(&gw, &options, &session, &namespace, Extras::default()).await
}

#[derive(Deserialize)]
pub struct AddForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    url: String,
    /// `event_<name> = on` for each event ticked.
    #[serde(flatten)]
    ticked: BTreeMap<String, String>,
}

pub async fn add(
    State(gw): State<Gateway>,
    State(options): State<LeptosOptions>,
    Path(namespace): Path<String>,
    Change { session, form, ip }: Change<AddForm>,
) -> Response {
    let events: Vec<String> = form
        .ticked
        .keys()
        .filter_map(|k| k.strip_prefix("event_"))
        .map(str::to_owned)
        .collect();
    let extras = match gw
        .add_app_webhook(&session, &namespace, &form.url, &events, &ip)
        .await
    {
        Ok(secret) => Extras {
            fresh: Some(secret),
            ..Extras::default()
        },
        Err(EngineError::InvalidInput { field, reason }) => Extras {
            error: Some(refusal(field, &reason)),
            url: form.url,
            chosen: events,
            ..Extras::default()
        },
        Err(e) => return failure(&options, &session, e),
    };
    webhooks_page(&gw, &options, &session, &namespace, extras).await
}

#[derive(Deserialize)]
pub struct OneForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    id: String,
}

/// Back to the webhooks page after a change to endpoint or message `form.id`, or the
/// page that says why not.
async fn change<F>(
    options: &LeptosOptions,
    session: &Session,
    namespace: &str,
    form: &OneForm,
    act: impl FnOnce(i64) -> F,
) -> Response
where
    F: std::future::Future<Output = Result<(), EngineError>>,
{
    let done = match form.id.parse() {
        Ok(id) => act(id).await,
        Err(_) => Err(EngineError::NotFound),
    };
    match done {
        Ok(()) => Redirect::to(&format!("/dashboard/apps/{namespace}/webhooks")).into_response(),
        Err(e) => failure(options, session, e),
    }
}

pub async fn remove(
    State(gw): State<Gateway>,
    State(options): State<LeptosOptions>,
    Path(namespace): Path<String>,
    Change { session, form, ip }: Change<OneForm>,
) -> Response {
    let act = |id| gw.delete_app_webhook(&session, &namespace, id, &ip);
    change(&options, &session, &namespace, &form, act).await
}

pub async fn replay(
    State(gw): State<Gateway>,
    State(options): State<LeptosOptions>,
    Path(namespace): Path<String>,
    Change { session, form, ip }: Change<OneForm>,
) -> Response {
    let act = |id| gw.replay_webhook(&session, &namespace, id, &ip);
    change(&options, &session, &namespace, &form, act).await
}

with_csrf!(AddForm, OneForm);
