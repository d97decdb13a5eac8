//! The stats pages: one app's (`/dashboard/apps/{ns}/stats`) and the whole team's
//! (`/dashboard/stats`), over the range the GET form asks for (`?range=7d`, or
//! `?range=custom&from=2026-11-01&to=2026-11-30`).

use super::{failure, nav, page, refusal};
use app::{
    dashboard::{
        charts::{grouped, Bars, Level},
        DashboardPage, ProviderLine, StatsView,
    },
    gateway::{
        clock::utc_timestamp,
        error::EngineError,
        tenants::{
            stats::{Percentile, Range, StatsReport},
            Session,
        },
        Gateway,
    },
};
use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::Response,
};
use leptos::prelude::LeptosOptions;
use serde::Deserialize;

#[derive(Default, Deserialize)]
#[serde(default)]
pub struct Asked {
    range: String,
    from: String,
    to: String,
}

impl Asked {
    /// The range asked for, or the last 24 hours and why not.
    fn range(&self) -> (Range, Option<(StatusCode, String)>) {
        match Range::parse(&self.range, &self.from, &self.to) {
            Ok(range) => (range, None),
            Err(EngineError::InvalidInput { field, reason }) => {
                (Range::Day, Some(refusal(field, &reason)))
            }
            Err(_) => (Range::Day, None),
        }
    }
}

/// A percentile as the table shows it.
fn duration(p: Percentile) -> String {
    let human = |ms: i64| match ms {
        ms if ms < 60_000 => format!("{} s", ms / 1000),
        ms => format!("{} min", ms / 60_000),
    };
    match p {
        Percentile::None => "–".to_owned(),
        Percentile::Within(ms) => format!("≤ {}", human(ms)),
        Percentile::Over(ms) => format!("> {}", human(ms)),
    }
}

/// `1,234 (56.7%)` of `whole`.
fn with_share(n: i64, whole: i64) -> String {
    match StatsReport::percent(n, whole) {
        Some(p) => format!("{} ({p}%)", grouped(n)),
        None => grouped(n),
    }
}

fn view_of(
    title: String,
    base: String,
    app_link: Option<String>,
    asked: &Asked,
    range: Range,
    error: Option<String>,
    r: StatsReport,
) -> StatsView {
    let by_hour = r.bar_ms < 86_400_000;
    let label = |at: i64| {
        let stamp = utc_timestamp(at);
        if by_hour {
            stamp[11..16].to_owned()
        } else {
            stamp[..10].to_owned()
        }
    };
    let mut series: Vec<String> = r
        .volume
        .iter()
        .flat_map(|b| b.by_channel.keys().cloned())
        .collect();
    series.sort();
    series.dedup();
    let busiest = r
        .volume
        .iter()
        .map(|b| (b.by_channel.values().sum::<i64>(), b.at))
        .max_by_key(|(n, at)| (*n, -at));
    let volume = Bars {
        id: "volume".into(),
        title: format!(
            "Verifications started per {}",
            if by_hour { "hour" } else { "day" }
        ),
        description: match busiest {
            Some((n, at)) if n > 0 => format!(
                "{} verifications started in this range; the most, {}, in the {} starting {} UTC.",
                grouped(r.created),
                grouped(n),
                if by_hour { "hour" } else { "day" },
                utc_timestamp(at)
            ),
            _ => "No verifications started in this range.".to_owned(),
        },
        labels: r.volume.iter().map(|b| label(b.at)).collect(),
        values: r
            .volume
            .iter()
            .map(|b| {
                series
                    .iter()
                    .map(|s| b.by_channel.get(s).copied().unwrap_or(0))
                    .collect()
            })
            .collect(),
        series,
    };
    let step = |label: &str, n: i64| Level {
        label: label.to_owned(),
        value: n,
        text: with_share(n, r.created),
    };
    let funnel = vec![
        step("Started", r.created),
        step("Sent", r.sent),
        step("Delivered (receipt)", r.delivered),
        step("Verified", r.verified),
    ];
    let rate =
        |n: i64| StatsReport::percent(n, r.created).map_or("–".into(), |p| format!("{p}%"));
    let figures = vec![
        ("Started", grouped(r.created)),
        ("Verification rate", rate(r.verified)),
        ("Abandoned (expired)", grouped(r.abandoned)),
        ("Locked", grouped(r.locked)),
        ("Cancelled", grouped(r.cancelled)),
        ("Resend rate", rate(r.resent)),
        ("Wrong codes", grouped(r.wrong_codes)),
        ("Failovers taken", grouped(r.failovers)),
        ("Dead letters", grouped(r.dead)),
        ("Suppressed sends", grouped(r.suppressed)),
    ];
    let verified_after: i64 = r.tries.iter().sum();
    let tries = r
        .tries
        .iter()
        .enumerate()
        .map(|(i, n)| Level {
            label: match i {
                0 => "No wrong code".to_owned(),
                1 => "1 wrong code".to_owned(),
                i if i == r.tries.len() - 1 => format!("{i} or more"),
                i => format!("{i} wrong codes"),
            },
            value: *n,
            text: with_share(*n, verified_after),
        })
        .collect();
    StatsView {
        title,
        base,
        app_link,
        range: range.name().to_owned(),
        from: asked.from.clone(),
        to: asked.to.clone(),
        period: format!(
            "{} to {} UTC",
            &utc_timestamp(r.from)[..16],
            &utc_timestamp(r.to)[..16]
        ),
        error,
        volume,
        funnel,
        figures,
        providers: r
            .providers
            .into_iter()
            .map(|p| ProviderLine {
                provider: p.provider,
                sent: p.sent,
                failed: p.failed,
                delivered: p.delivered,
                undelivered: p.undelivered,
                verified: p.verified,
                verify_p50: duration(p.time_to_verify.0),
                verify_p95: duration(p.time_to_verify.1),
                latency_p50: duration(p.delivery_latency.0),
                latency_p95: duration(p.delivery_latency.1),
            })
            .collect(),
        countries: r
            .countries
            .into_iter()
            .map(|c| {
                let name = if c.country.is_empty() {
                    "other".to_owned()
                } else {
                    c.country
                };
                (name, c.created, c.sent, c.verified)
            })
            .collect(),
        failures: r
            .failures
            .into_iter()
            .map(|f| (f.provider, f.error, f.count))
            .collect(),
        tries,
    }
}

fn respond(
    options: &LeptosOptions,
    session: &Session,
    refused: Option<(StatusCode, String)>,
    view: impl FnOnce(Option<String>) -> StatsView,
) -> Response {
    let (status, error) = match refused {
        Some((status, message)) => (status, Some(message)),
        None => (StatusCode::OK, None),
    };
    page(
        options,
        status,
        DashboardPage::Stats {
            nav: nav(session),
            view: Box::new(view(error)),
        },
    )
}

/// One app's stats (every member).
pub async fn app(
    State(gw): State<Gateway>,
    State(options): State<LeptosOptions>,
    super::Member(session): super::Member,
    Path(namespace): Path<String>,
    Query(asked): Query<Asked>,
) -> Response {
    let (range, refused) = asked.range();
    match gw.app_stats(&session, &namespace, range).await {
        Ok((app, report)) => {
            let base = format!("/dashboard/apps/{}", app.namespace);
            respond(&options, &session, refused, |error| {
                view_of(
                    format!("{}: stats", app.name),
                    format!("{base}/stats"),
                    Some(base),
                    &asked,
                    range,
                    error,
                    report,
                )
            })
        }
        Err(e) => failure(&options, &session, e),
    }
}

/// The whole team's stats (every member).
pub async fn team(
    State(gw): State<Gateway>,
    State(options): State<LeptosOptions>,
    super::Member(session): super::Member,
    Query(asked): Query<Asked>,
) -> Response {
    let (range, refused) = asked.range();
    match gw.tenant_stats(&session, range).await {
        Ok(report) => respond(&options, &session, refused, |error| {
            view_of(
                format!("{}: all apps", session.tenant.name),
                "/dashboard/stats".into(),
                None,
                &asked,
                range,
                error,
                report,
            )
        }),
        Err(e) => failure(&options, &session, e),
    }
}
