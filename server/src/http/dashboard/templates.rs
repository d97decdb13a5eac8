//! An app's templates page: the list, the editor (preview or save, one form), removal.

use super::{failure, nav, page, refusal, row, with_csrf, Change};
use app::{
    dashboard::{DashboardPage, PreviewView, TemplateFields, TemplatesView},
    gateway::{
        store::AppTemplate, tenants::templates::TemplateDraft, tenants::Session, EngineError,
        Gateway,
    },
    i18n::Lang,
};
use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    Json,
};
use leptos::prelude::LeptosOptions;
use serde::Deserialize;

#[derive(Default, Deserialize)]
pub struct Which {
    #[serde(default)]
    channel: String,
    #[serde(default)]
    locale: String,
}

fn fields(t: &AppTemplate) -> TemplateFields {
    TemplateFields {
        channel: t.channel.clone(),
        locale: t.locale.clone(),
        subject: t.subject.clone(),
        body: t.body.clone(),
        html: t.html.clone().unwrap_or_default(),
    }
}

fn draft(f: &TemplateFields) -> TemplateDraft {
    TemplateDraft {
        channel: f.channel.clone(),
        locale: f.locale.clone(),
        subject: f.subject.clone(),
        body: f.body.clone(),
        html: f.html.clone(),
    }
}

/// What the editor holds: a draft as sent, or the app's template for a channel and
/// language (a blank SMS one when it has none).
enum Editing {
    Draft(TemplateFields),
    Stored(Which),
}

/// The templates page with the editor, and a preview or a refusal.
async fn templates_page(
    gw: &Gateway,
    options: &LeptosOptions,
    session: &Session,
    namespace: &str,
    editing: Editing,
    preview: Option<PreviewView>,
    error: Option<(StatusCode, String)>,
) -> Response {
    let (app, templates) = match gw.app_templates(session, namespace).await {
        Ok(found) => found,
        Err(e) => return failure(options, session, e),
    };
    let draft = match editing {
        Editing::Draft(fields) => Some(fields),
        Editing::Stored(which) => templates
            .iter()
            .find(|t| t.channel == which.channel && t.locale == which.locale)
            .map(fields),
    };
    let status = error.as_ref().map_or(StatusCode::OK, |(status, _)| *status);
    let view = TemplatesView {
        app: row(&app),
        manages: session.member.role.manages_apps() && !app.declared,
        templates: templates.iter().map(fields).collect(),
        draft: draft.unwrap_or_else(|| TemplateFields {
            channel: "sms".into(),
            ..TemplateFields::default()
        }),
        preview,
        error: error.map(|(_, message)| message),
        locales: Lang::all().iter().map(|l| l.tag()).collect(),
    };
    page(
        options,
        status,
        DashboardPage::Templates {
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
    let editing = Editing::Stored(which);
    templates_page(&gw, &options, &session, &namespace, editing, None, None).await
}

#[derive(Deserialize)]
pub struct TemplateForm {
    #[serde(default)]
    csrf: String,
    /// `preview` or `save`.
    #[serde(default)]
    action: String,
    #[serde(flatten)]
    fields: TemplateFields,
}

#[derive(Deserialize)]
pub struct RemoveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    channel: String,
    #[serde(default)]
    locale: String,
}

pub async fn submit(
    State(gw): State<Gateway>,
    State(options): State<LeptosOptions>,
    Path(namespace): Path<String>,
    Change { session, form, ip }: Change<TemplateForm>,
) -> Response {
    let d = draft(&form.fields);
    let (preview, error) = if form.action == "save" {
        match gw.save_app_template(&session, &namespace, &d, &ip).await {
            Ok(t) => {
                let to = format!(
                    "/dashboard/apps/{namespace}/templates?channel={}&locale={}",
                    t.channel, t.locale
                );
                return Redirect::to(&to).into_response();
            }
            Err(EngineError::InvalidInput { field, reason }) => {
                (None, Some(refusal(field, &reason)))
            }
            Err(e) => return failure(&options, &session, e),
        }
    } else {
        match gw.preview_template(&session, &namespace, &d).await {
            Ok(r) => (
                Some(PreviewView {
                    subject: r.subject,
                    text: r.text,
                    html: r.html,
                }),
                None,
            ),
            Err(EngineError::InvalidInput { field, reason }) => {
                (None, Some(refusal(field, &reason)))
            }
            Err(e) => return failure(&options, &session, e),
        }
    };
    let editing = Editing::Draft(form.fields);
    templates_page(&gw, &options, &session, &namespace, editing, preview, error).await
}

/// The live preview `static/dashboard.js` asks for while a template is typed: the draft
/// rendered with sample values, or why it does not compile, as JSON. Changes nothing.
pub async fn live_preview(
    State(gw): State<Gateway>,
    Path(namespace): Path<String>,
    Change { session, form, .. }: Change<TemplateForm>,
) -> Response {
    match gw
        .preview_template(&session, &namespace, &draft(&form.fields))
        .await
    {
        Ok(r) => Json(serde_json::json!({
            "subject": r.subject, "text": r.text, "html": r.html,
        }))
        .into_response(),
        Err(EngineError::InvalidInput { field, reason }) => {
            let (status, message) = refusal(field, &reason);
            (status, Json(serde_json::json!({ "error": message }))).into_response()
        }
        Err(EngineError::NotFound) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => {
            tracing::error!(error = ?e, "template preview failed");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

pub async fn remove(
    State(gw): State<Gateway>,
    State(options): State<LeptosOptions>,
    Path(namespace): Path<String>,
    Change { session, form, ip }: Change<RemoveForm>,
) -> Response {
    match gw
        .delete_app_template(&session, &namespace, &form.channel, &form.locale, &ip)
        .await
    {
        Ok(()) => Redirect::to(&format!("/dashboard/apps/{namespace}/templates")).into_response(),
        Err(EngineError::InvalidInput { field, reason }) => {
            let error = Some(refusal(field, &reason));
            let editing = Editing::Stored(Which::default());
            templates_page(&gw, &options, &session, &namespace, editing, None, error).await
        }
        Err(e) => failure(&options, &session, e),
    }
}

with_csrf!(TemplateForm, RemoveForm);
