//! An app's providers page: the list, the form of one kind (add or change), removal and
//! the test message. No value of a secret field is ever put in a page.

use super::{failure, nav, page, row, with_csrf, Change};
use app::{
    dashboard::{
        DashboardPage, FormField, KindChoice, ProviderForm, ProviderRow, ProvidersView, TestOutcome,
    },
    gateway::{
        clock::utc_timestamp,
        delivery::catalogue::{self, KindSpec},
        tenants::{
            providers::{ProviderDraft, ProviderListing},
            Session,
        },
        EngineError, Gateway,
    },
};
use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use leptos::prelude::LeptosOptions;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Default, Deserialize)]
pub struct Which {
    /// A new provider of this kind.
    kind: Option<String>,
    /// Changing the provider with this id.
    edit: Option<String>,
}

/// What the form on the page holds.
enum Editing {
    Nothing,
    /// A new provider's empty form.
    New(&'static KindSpec),
    /// A stored provider's values (its secrets only as "set").
    Stored(String),
    /// A form as sent back, with the reason it was refused; secrets are not sent back.
    Sent {
        kind: &'static KindSpec,
        id: String,
        editing: bool,
        values: BTreeMap<String, String>,
    },
}

fn listed(p: &ProviderListing) -> ProviderRow {
    let details = p
        .kind
        .fields
        .iter()
        .filter(|f| !f.secret && f.name != "channel")
        .filter_map(|f| {
            let value = p.fields.get(f.name).filter(|v| !v.is_empty())?;
            Some((f.label, value.clone()))
        })
        .collect();
    let secrets = p
        .kind
        .fields
        .iter()
        .filter(|f| p.secrets_set.contains(&f.name))
        .map(|f| f.label)
        .collect();
    let channel = match p.kind.name {
        "smtp" => "email".to_owned(),
        _ => p
            .fields
            .get("channel")
            .filter(|c| !c.is_empty())
            .cloned()
            .unwrap_or_else(|| {
                p.kind
                    .field("channel")
                    .map_or("", |f| f.choices[0])
                    .to_owned()
            }),
    };
    ProviderRow {
        id: p.id.clone(),
        kind: p.kind.label,
        channel,
        details,
        secrets,
        updated: utc_timestamp(p.updated_at),
        broken: p.broken.clone(),
    }
}

/// The form of `kind` holding `values` (never a secret's), `set` naming stored secrets.
fn form_of(
    kind: &'static KindSpec,
    id: String,
    editing: bool,
    values: &BTreeMap<String, String>,
    set: &[&str],
) -> ProviderForm {
    let fields = kind
        .fields
        .iter()
        .map(|f| FormField {
            name: f.name,
            label: f.label,
            hint: f.hint,
            secret: f.secret,
            required: f.required,
            lines: f.lines,
            choices: f.choices,
            default: f.default,
            value: if f.secret {
                String::new()
            } else {
                values.get(f.name).cloned().unwrap_or_default()
            },
            set: set.contains(&f.name),
        })
        .collect();
    ProviderForm {
        kind: kind.name,
        kind_label: kind.label,
        summary: kind.summary,
        id,
        editing,
        fields,
    }
}

async fn providers_page(
    gw: &Gateway,
    options: &LeptosOptions,
    session: &Session,
    namespace: &str,
    editing: Editing,
    tested: Option<TestOutcome>,
    error: Option<String>,
) -> Response {
    let (app, providers) = match gw.app_providers(session, namespace).await {
        Ok(found) => found,
        Err(e) => return failure(options, session, e),
    };
    let form = match editing {
        Editing::Nothing => None,
        Editing::New(kind) => Some(form_of(kind, String::new(), false, &BTreeMap::new(), &[])),
        Editing::Stored(id) => match providers.iter().find(|p| p.id == id) {
            Some(p) => Some(form_of(
                p.kind,
                p.id.clone(),
                true,
                &p.fields,
                &p.secrets_set,
            )),
            None => return failure(options, session, EngineError::NotFound),
        },
        Editing::Sent {
            kind,
            id,
            editing,
            values,
        } => {
            let set = providers
                .iter()
                .find(|p| p.id == id && p.kind.name == kind.name)
                .map(|p| p.secrets_set.clone())
                .unwrap_or_default();
            Some(form_of(kind, id, editing, &values, &set))
        }
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let view = ProvidersView {
        app: row(&app),
        manages: session.member.role.manages_apps() && !app.declared,
        providers: providers.iter().map(listed).collect(),
        kinds: catalogue::KINDS
            .iter()
            .map(|k| KindChoice {
                name: k.name,
                label: k.label,
                summary: k.summary,
            })
            .collect(),
        form,
        tested,
        error,
        server: gw.providers().ids().map(str::to_owned).collect(),
    };
    page(
        options,
        status,
        DashboardPage::Providers {
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
    Query(which): Query<Which>,
) -> Response {
    let editing = match (which.edit, which.kind) {
        (Some(id), _) => Editing::Stored(id),
        (None, Some(kind)) => match catalogue::kind(&kind) {
            Some(kind) => Editing::New(kind),
            None => Editing::Nothing,
        },
        (None, None) => Editing::Nothing,
    };
    providers_page(&gw, &options, &session, &namespace, editing, None, None).await
}

/// The reason a provider form was refused, naming the field by its label.
fn refusal(kind: Option<&KindSpec>, field: &str, reason: &str) -> String {
    let label = kind
        .and_then(|k| k.field(field))
        .map_or_else(|| field.replace('_', " "), |f| f.label.to_owned());
    let mut message = format!("{label} {reason}.");
    message[..1].make_ascii_uppercase();
    message
}

#[derive(Deserialize)]
pub struct ProviderFormBody {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    kind: String,
    /// Every field of the kind's form, by name.
    #[serde(flatten)]
    values: BTreeMap<String, String>,
}

pub async fn save(
    State(gw): State<Gateway>,
    State(options): State<LeptosOptions>,
    Path(namespace): Path<String>,
    Change { session, form, ip }: Change<ProviderFormBody>,
) -> Response {
    let draft = ProviderDraft {
        id: form.id.clone(),
        kind: form.kind.clone(),
        values: form.values.clone(),
    };
    match gw
        .save_app_provider(&session, &namespace, &draft, &ip)
        .await
    {
        Ok(_) => Redirect::to(&format!("/dashboard/apps/{namespace}/providers")).into_response(),
        Err(EngineError::InvalidInput { field, reason }) => {
            let kind = catalogue::kind(form.kind.trim());
            let error = Some(refusal(kind, field, &reason));
            let editing = match kind {
                Some(kind) => {
                    let stored = gw
                        .app_providers(&session, &namespace)
                        .await
                        .map(|(_, all)| all.iter().any(|p| p.id == form.id.trim()))
                        .unwrap_or(false);
                    Editing::Sent {
                        kind,
                        id: form.id.trim().to_owned(),
                        editing: stored,
                        values: form.values,
                    }
                }
                None => Editing::Nothing,
            };
            providers_page(&gw, &options, &session, &namespace, editing, None, error).await
        }
        Err(e) => failure(&options, &session, e),
    }
}

#[derive(Deserialize)]
pub struct OneProvider {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    id: String,
    /// The test message's address.
    #[serde(default)]
    to: String,
}

pub async fn remove(
    State(gw): State<Gateway>,
    State(options): State<LeptosOptions>,
    Path(namespace): Path<String>,
    Change { session, form, ip }: Change<OneProvider>,
) -> Response {
    match gw
        .delete_app_provider(&session, &namespace, &form.id, &ip)
        .await
    {
        Ok(()) => Redirect::to(&format!("/dashboard/apps/{namespace}/providers")).into_response(),
        Err(EngineError::InvalidInput { field, reason }) => {
            let error = Some(refusal(None, field, &reason));
            let editing = Editing::Nothing;
            providers_page(&gw, &options, &session, &namespace, editing, None, error).await
        }
        Err(e) => failure(&options, &session, e),
    }
}

pub async fn test(
    State(gw): State<Gateway>,
    State(options): State<LeptosOptions>,
    Path(namespace): Path<String>,
    Change { session, form, ip }: Change<OneProvider>,
) -> Response {
    let outcome = gw
        .test_app_provider(&session, &namespace, &form.id, form.to.trim(), &ip)
        .await;
    let tested = match outcome {
        Ok(Ok(sent)) => TestOutcome {
            ok: true,
            message: match sent.message_id {
                Some(id) => format!("{} accepted the test message (its id: {id}).", form.id),
                None => format!("{} accepted the test message.", form.id),
            },
        },
        Ok(Err(e)) => TestOutcome {
            ok: false,
            message: format!("The test message was not sent: {e}."),
        },
        Err(EngineError::InvalidAddress(e)) => TestOutcome {
            ok: false,
            message: format!("{} cannot reach that address: {e}.", form.id),
        },
        Err(EngineError::RateLimited { retry_after_secs }) => TestOutcome {
            ok: false,
            message: format!(
                "This app sent as many test messages as an hour allows; try again in {} minutes.",
                retry_after_secs.div_ceil(60)
            ),
        },
        Err(e) => return failure(&options, &session, e),
    };
    providers_page(
        &gw,
        &options,
        &session,
        &namespace,
        Editing::Nothing,
        Some(tested),
        None,
    )
    .await
}

with_csrf!(ProviderFormBody, OneProvider);
