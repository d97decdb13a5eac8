//! An app's fraud-guard page and the owner's lift of a hold.

use super::{failure, held_label, nav, page, refusal, row, Change, CsrfForm, Member};
use app::{
    dashboard::{DashboardPage, GuardPageView, HoldRow, SpendLine},
    gateway::{
        clock::utc_timestamp,
        fraud::money::{Budgets, Money},
        guard::GuardView,
        store::{HoldRecord, Role, SpendRow},
        tenants::Session,
        EngineError, Gateway,
    },
};
use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use leptos::prelude::LeptosOptions;

/// The page (every member).
pub async fn show(
    State(gw): State<Gateway>,
    State(options): State<LeptosOptions>,
    Member(session): Member,
    Path(namespace): Path<String>,
) -> Response {
    render(&gw, &options, &session, &namespace, None).await
}

/// An owner lifts a hold; back to the page, or the page saying why not.
pub async fn lift(
    State(gw): State<Gateway>,
    State(options): State<LeptosOptions>,
    Path((namespace, hold)): Path<(String, i64)>,
    Change { session, ip, .. }: Change<CsrfForm>,
) -> Response {
    match gw.lift_app_hold(&session, &namespace, hold, &ip).await {
        Ok(()) => Redirect::to(&format!("/dashboard/apps/{namespace}/guard")).into_response(),
        Err(EngineError::InvalidInput { field, reason }) => {
            let error = Some(refusal(field, &reason));
            render(&gw, &options, &session, &namespace, error).await
        }
        Err(e) => failure(&options, &session, e),
    }
}

async fn render(
    gw: &Gateway,
    options: &LeptosOptions,
    session: &Session,
    namespace: &str,
    error: Option<(StatusCode, String)>,
) -> Response {
    let (app, view) = match gw.app_guard(session, namespace).await {
        Ok(found) => found,
        Err(e) => return failure(options, session, e),
    };
    let status = error.as_ref().map_or(StatusCode::OK, |(status, _)| *status);
    let countries = {
        let c = &app.settings.guard.countries.over(&gw.settings().guard.geo);
        let allowed = if c.allowed.is_empty() {
            "any country".to_owned()
        } else {
            c.allowed.join(" ")
        };
        if c.blocked.is_empty() {
            allowed
        } else {
            format!("{allowed}; refused: {}", c.blocked.join(" "))
        }
    };
    page(
        options,
        status,
        DashboardPage::Guard {
            nav: nav(session),
            view: Box::new(page_view(
                row(&app),
                session.member.role == Role::Owner,
                countries,
                view,
                error.map(|(_, m)| m),
            )),
        },
    )
}

fn page_view(
    app: app::dashboard::AppRow,
    owner: bool,
    countries: String,
    view: GuardView,
    error: Option<String>,
) -> GuardPageView {
    let GuardView {
        budgets,
        today,
        month,
        holds,
        refusals,
    } = view;
    let Budgets { daily, monthly } = budgets;
    let limit = |b: Option<Money>| b.map(|m| m.to_string());
    let total = |rows: &[SpendRow]| {
        rows.iter().find(|r| r.country.is_empty()).map_or_else(
            || SpendLine {
                label: String::new(),
                spent: "0".to_owned(),
                sends: 0,
            },
            line,
        )
    };
    GuardPageView {
        app,
        owner,
        countries,
        daily_budget: limit(daily),
        monthly_budget: limit(monthly),
        today: total(&today),
        by_country: month
            .iter()
            .filter(|r| !r.country.is_empty())
            .map(line)
            .collect(),
        month: total(&month),
        holds: holds.iter().map(hold_row).collect(),
        refusals,
        error,
    }
}

fn line(r: &SpendRow) -> SpendLine {
    SpendLine {
        label: r.country.clone(),
        spent: Money(r.spent).to_string(),
        sends: r.sends,
    }
}

fn hold_row(h: &HoldRecord) -> HoldRow {
    let figures: serde_json::Value = serde_json::from_str(&h.detail).unwrap_or_default();
    let why = match h.reason.as_str() {
        "low_conversion" => "few of the codes sent were entered",
        "surge" => "far more sends than usual, few codes entered",
        "sequential_numbers" => "many sends to neighbouring numbers, few codes entered",
        other => other,
    };
    HoldRow {
        id: h.hold_id,
        what: held_label(h),
        why: why.to_owned(),
        figures: format!(
            "{} sent, {} verified in {} min",
            figures["sent"].as_i64().unwrap_or(0),
            figures["verified"].as_i64().unwrap_or(0),
            figures["window_secs"].as_i64().unwrap_or(0) / 60,
        ),
        started: utc_timestamp(h.started_at),
        lifted: h.lifted_at.map(|at| {
            format!(
                "{} by {}",
                utc_timestamp(at),
                h.lifted_by.clone().unwrap_or_default()
            )
        }),
    }
}
