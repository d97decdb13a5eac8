//! One verification's timeline page, found by its id (`?id=`, a plain GET form on the
//! app's page).

use super::{failure, nav, page, row};
use app::{
    dashboard::{DashboardPage, TimelineRow, TimelineView},
    gateway::{address::mask, clock::utc_timestamp, tenants::timeline::Timeline, Gateway},
};
use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::Response,
};
use leptos::prelude::LeptosOptions;
use serde::Deserialize;

#[derive(Default, Deserialize)]
pub struct Lookup {
    #[serde(default)]
    id: String,
}

fn view_of(t: Timeline) -> TimelineView {
    let r = t.record;
    TimelineView {
        app: row(&t.app),
        id: r.public_id,
        status: r.status.as_str().to_owned(),
        channel: r.channel,
        provider: r.provider,
        to: if r.address.is_empty() {
            "not given yet".to_owned()
        } else {
            mask(&r.address)
        },
        created: utc_timestamp(r.created_at),
        expires: utc_timestamp(r.expires_at),
        attempts: format!("{} of {}", r.attempts, r.max_attempts),
        lines: t
            .lines
            .into_iter()
            .map(|l| TimelineRow {
                at: utc_timestamp(l.at),
                what: l.what,
                detail: l.detail,
            })
            .collect(),
    }
}

pub async fn show(
    State(gw): State<Gateway>,
    State(options): State<LeptosOptions>,
    super::Member(session): super::Member,
    Path(namespace): Path<String>,
    Query(lookup): Query<Lookup>,
) -> Response {
    match gw
        .verification_timeline(&session, &namespace, &lookup.id)
        .await
    {
        Ok(t) => page(
            &options,
            StatusCode::OK,
            DashboardPage::Timeline {
                nav: nav(&session),
                view: Box::new(view_of(t)),
            },
        ),
        Err(e) => failure(&options, &session, e),
    }
}
