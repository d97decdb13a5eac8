//! An app's history (`/dashboard/apps/{ns}/history`, filters in the query string, older
//! pages by `before=`) and its CSV export (`history.csv`, same filters), streamed a page
//! at a time so memory stays flat whatever the number of rows.

use super::{failure, nav, page, refusal, row};
use app::{
    dashboard::{DashboardPage, HistoryFields, HistoryLine, HistoryView},
    gateway::{
        address::{mask, Channel},
        clock::utc_timestamp,
        error::EngineError,
        store::HistoryRow,
        tenants::history::{Cursor, HistoryFilter},
        Gateway,
    },
    model::Status,
};
use axum::{
    body::Body,
    extract::{Path, Query, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
};
use leptos::prelude::LeptosOptions;
use serde::Deserialize;

/// Rows read per database round trip while exporting.
const EXPORT_PAGE: u32 = 1000;

#[derive(Default, Deserialize)]
#[serde(default)]
pub struct Asked {
    #[serde(flatten)]
    filter: HistoryFilter,
    before: String,
}

fn shown_address(address: &str) -> String {
    if address.is_empty() {
        "not given yet".to_owned()
    } else {
        mask(address)
    }
}

pub async fn show(
    State(gw): State<Gateway>,
    State(options): State<LeptosOptions>,
    super::Member(session): super::Member,
    Path(namespace): Path<String>,
    Query(asked): Query<Asked>,
) -> Response {
    let app = match gw.tenant_app(&session, &namespace).await {
        Ok(app) => app,
        Err(e) => return failure(&options, &session, e),
    };
    let before = match asked.before.as_str() {
        "" => Ok(None),
        raw => Cursor::parse(raw).map(Some),
    };
    let listed = match before {
        Ok(before) => match gw.history_query(&session, &namespace, &asked.filter).await {
            Ok((_, query)) => gw.history_page(&query, before).await,
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    let (status, error, page_rows) = match listed {
        Ok(p) => (StatusCode::OK, None, Some(p)),
        Err(EngineError::InvalidInput { field, reason }) => {
            let (status, message) = refusal(field, &reason);
            (status, Some(message), None)
        }
        Err(e) => return failure(&options, &session, e),
    };
    let query = serde_urlencoded::to_string(&asked.filter).unwrap_or_default();
    let base = format!("/dashboard/apps/{}", app.namespace);
    let (lines, next) = match page_rows {
        Some(p) => (p.rows, p.next),
        None => (Vec::new(), None),
    };
    let f = asked.filter;
    let view = HistoryView {
        app: row(&app),
        fields: HistoryFields {
            status: f.status,
            channel: f.channel,
            provider: f.provider,
            from: f.from,
            to: f.to,
            q: f.q,
        },
        statuses: [
            Status::Pending,
            Status::Verified,
            Status::Expired,
            Status::Locked,
            Status::Cancelled,
        ]
        .iter()
        .map(|s| s.as_str())
        .collect(),
        channels: Channel::ALL.iter().map(|c| c.as_str()).collect(),
        error,
        lines: lines
            .into_iter()
            .map(|r| HistoryLine {
                href: format!(
                    "{base}/verifications?{}",
                    serde_urlencoded::to_string([("id", &r.public_id)]).unwrap_or_default()
                ),
                id: r.public_id,
                created: utc_timestamp(r.created_at),
                status: r.status.as_str().to_owned(),
                channel: r.channel,
                provider: r.provider,
                to: shown_address(&r.address),
                attempts: r.attempts,
                sends: r.sends,
            })
            .collect(),
        older: next.map(|c| format!("{base}/history?{query}&before={c}")),
        first_page: asked.before.is_empty(),
        query,
    };
    page(
        &options,
        status,
        DashboardPage::History {
            nav: nav(&session),
            view: Box::new(view),
        },
    )
}

/// The columns of the export, in order.
const CSV_HEADER: &str =
    "id,started_utc,status,channel,provider,to,wrong_codes,sends,last_change_utc\r\n";

/// One field of a CSV line: quoted when it holds a comma, quote or line break, and led
/// by `'` when a spreadsheet would read it as a formula.
fn field(out: &mut String, value: &str) {
    let formula = value.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quoted = value.contains([',', '"', '\n', '\r']);
    if quoted {
        out.push('"');
    }
    if formula {
        out.push('\'');
    }
    out.push_str(&value.replace('"', "\"\""));
    if quoted {
        out.push('"');
    }
}

fn csv_line(out: &mut String, r: &HistoryRow) {
    let fields = [
        r.public_id.clone(),
        utc_timestamp(r.created_at),
        r.status.as_str().to_owned(),
        r.channel.clone(),
        r.provider.clone(),
        shown_address(&r.address),
        r.attempts.to_string(),
        r.sends.to_string(),
        utc_timestamp(r.updated_at),
    ];
    for (i, value) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        field(out, value);
    }
    out.push_str("\r\n");
}

pub async fn export(
    State(gw): State<Gateway>,
    State(options): State<LeptosOptions>,
    super::Member(session): super::Member,
    Path(namespace): Path<String>,
    Query(asked): Query<Asked>,
) -> Response {
    let (app, mut query) = match gw.history_query(&session, &namespace, &asked.filter).await {
        Ok(found) => found,
        Err(EngineError::InvalidInput { field, reason }) => {
            return refusal(field, &reason).into_response();
        }
        Err(e) => return failure(&options, &session, e),
    };
    query.limit = EXPORT_PAGE;
    type State = (
        Gateway,
        app::gateway::store::HistoryQuery,
        Option<Cursor>,
        bool,
    );
    let start: Option<State> = Some((gw, query, None, true));
    let chunks = futures_util::stream::unfold(start, |state| async move {
        let (gw, query, before, first) = state?;
        let mut out = String::new();
        if first {
            out.push_str(CSV_HEADER);
        }
        match gw.history_page(&query, before).await {
            Ok(page) => {
                for r in &page.rows {
                    csv_line(&mut out, r);
                }
                let rest = page.next.map(|next| (gw, query, Some(next), false));
                Some((Ok::<_, std::io::Error>(out), rest))
            }
            Err(e) => {
                tracing::error!(error = ?e, "history export stopped");
                Some((Err(std::io::Error::other("history export stopped")), None))
            }
        }
    });
    let filename = format!("{}-verifications.csv", app.namespace);
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        Body::from_stream(chunks),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        let mut out = String::new();
        for v in [
            "plain",
            "a,b",
            "say \"hi\"",
            "+49*******123",
            "=1+1",
            "-x,y",
        ] {
            field(&mut out, v);
            out.push('|');
        }
        assert_eq!(
            out,
            "plain|\"a,b\"|\"say \"\"hi\"\"\"|'+49*******123|'=1+1|\"'-x,y\"|"
        );
    }
}
