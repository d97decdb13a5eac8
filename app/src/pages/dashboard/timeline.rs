//! One verification's timeline: what it is (masked address, status, channel), and every
//! event and webhook message of it in order.

use super::AppRow;
use leptos::prelude::*;

/// One line of the timeline.
#[derive(Debug, Clone)]
pub struct TimelineRow {
    /// `YYYY-MM-DD HH:MM:SS` UTC.
    pub at: String,
    pub what: String,
    pub detail: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct TimelineView {
    pub app: AppRow,
    pub id: String,
    pub status: String,
    pub channel: String,
    pub provider: String,
    /// The address, masked.
    pub to: String,
    pub created: String,
    pub expires: String,
    pub attempts: String,
    pub lines: Vec<TimelineRow>,
}

#[component]
pub(super) fn Timeline(view: TimelineView) -> impl IntoView {
    let TimelineView {
        app,
        id,
        status,
        channel,
        provider,
        to,
        created,
        expires,
        attempts,
        lines,
    } = view;
    let facts = [
        ("Status", status),
        ("Channel", channel),
        ("Provider", provider),
        ("To", to),
        ("Started (UTC)", created),
        ("Expires (UTC)", expires),
        ("Wrong codes", attempts),
    ];
    view! {
        <h1 class="text-2xl font-semibold">{format!("{}: verification {id}", app.name)}</h1>
        <dl class="mt-4 grid grid-cols-[max-content_1fr] gap-x-6 gap-y-1 text-sm">
            {facts.into_iter().map(|(label, value)| view! {
                <dt class="text-zinc-600">{label}</dt>
                <dd data-fact=label>{value}</dd>
            }).collect_view()}
        </dl>
        <h2 class="mt-8 text-lg font-semibold">"Timeline"</h2>
        <ol class="mt-4 space-y-2">
            {lines.into_iter().map(|l| view! {
                <li class="rounded-xl bg-white p-3 ring-1 ring-zinc-200" data-timeline=l.what.clone()>
                    <p class="flex flex-wrap items-baseline gap-3">
                        <span class="font-mono text-sm font-medium">{l.what.clone()}</span>
                        <span class="text-xs text-zinc-600">{format!("{} UTC", l.at)}</span>
                    </p>
                    {(!l.detail.is_empty()).then(|| view! {
                        <p class="mt-1 break-all font-mono text-xs text-zinc-700">
                            {l.detail.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(" · ")}
                        </p>
                    })}
                </li>
            }).collect_view()}
        </ol>
        <p class="mt-6"><a class="underline" href=format!("/dashboard/apps/{}", app.namespace)>"Back to the app"</a></p>
    }
}
