//! The stats page, for one app or the whole team: a range picker (a plain GET form), the
//! volume chart, the funnel, per-provider delivery and speed, failures, countries, and
//! wrong codes before success.

use super::{
    charts::{grouped, Bars, Level, Levels, StackedBars},
    BUTTON, INPUT,
};
use leptos::prelude::*;

/// One provider's line.
#[derive(Debug, Clone)]
pub struct ProviderLine {
    pub provider: String,
    pub sent: i64,
    pub failed: i64,
    pub delivered: i64,
    pub undelivered: i64,
    pub verified: i64,
    /// `≤ 10 s`, `> 30 min` or `–`.
    pub verify_p50: String,
    pub verify_p95: String,
    pub latency_p50: String,
    pub latency_p95: String,
}

#[derive(Debug, Clone)]
pub struct StatsView {
    /// `Acme: all apps`, or the app's name.
    pub title: String,
    /// Where the range form goes and the app's page, when this is one app.
    pub base: String,
    pub app_link: Option<String>,
    /// `24h`, `7d`, `30d` or `custom`, and the custom dates as typed.
    pub range: String,
    pub from: String,
    pub to: String,
    /// `2026-11-26 00:00 to 2026-12-03 00:00 UTC`.
    pub period: String,
    pub error: Option<String>,
    pub volume: Bars,
    pub funnel: Vec<Level>,
    /// Headline figures: label, value.
    pub figures: Vec<(&'static str, String)>,
    pub providers: Vec<ProviderLine>,
    /// (country prefix or `other`, started, sent, verified)
    pub countries: Vec<(String, i64, i64, i64)>,
    /// (provider, error, count)
    pub failures: Vec<(String, String, i64)>,
    pub tries: Vec<Level>,
}

const TH: &str = "px-3 py-2";
const TD: &str = "px-3 py-2";

#[component]
pub(super) fn Stats(view: StatsView) -> impl IntoView {
    let StatsView {
        title,
        base,
        app_link,
        range,
        from,
        to,
        period,
        error,
        volume,
        funnel,
        figures,
        providers,
        countries,
        failures,
        tries,
    } = view;
    let choices = [
        ("24h", "Last 24 hours"),
        ("7d", "Last 7 days"),
        ("30d", "Last 30 days"),
        ("custom", "Dates"),
    ];
    let no_traffic = funnel.first().is_none_or(|l| l.value == 0);
    let (no_providers, no_failures, no_countries) = (
        providers.is_empty(),
        failures.is_empty(),
        countries.is_empty(),
    );
    let head = view! {
        <h1 class="text-2xl font-semibold">{title}</h1>
        <form method="get" action=base class="mt-4 flex flex-wrap items-end gap-3" aria-label="Range">
            <div>
                <label for="range" class="block text-sm font-medium">"Range"</label>
                <select id="range" name="range" class=INPUT>
                    {choices.into_iter().map(|(value, label)| view! {
                        <option value=value selected=range == value>{label}</option>
                    }).collect_view()}
                </select>
            </div>
            <div>
                <label for="from" class="block text-sm font-medium">"From (for dates)"</label>
                <input id="from" name="from" type="date" value=from class=INPUT/>
            </div>
            <div>
                <label for="to" class="block text-sm font-medium">"To"</label>
                <input id="to" name="to" type="date" value=to class=INPUT/>
            </div>
            <button type="submit" class=BUTTON>"Show"</button>
        </form>
        {error.map(|e| view! { <p role="alert" class=super::ALERT>{e}</p> })}
        <p class="mt-2 text-sm text-zinc-600" data-role="period">{period}</p>
        {no_traffic.then(|| view! { <p class="mt-4 text-sm text-zinc-700">"No verifications started in this range."</p> })}
        <dl class="mt-4 grid grid-cols-2 gap-3 sm:grid-cols-4">
            {figures.into_iter().map(|(label, value)| view! {
                <div class="rounded-xl bg-white p-3 ring-1 ring-zinc-200">
                    <dt class="text-xs text-zinc-600">{label}</dt>
                    <dd class="text-lg font-semibold" data-figure=label>{value}</dd>
                </div>
            }).collect_view()}
        </dl>
    }
    .into_any();
    let charts = view! {
        <StackedBars chart=volume/>
        <Levels id="funnel".into() title="Funnel".into()
            description="Verifications started, sent, delivered by receipt and verified in this range, with the share of those started.".into()
            levels=funnel/>
    }
    .into_any();
    let providers = view! {
        <h2 class="mt-8 text-lg font-semibold">"Providers"</h2>
        {no_providers.then(|| view! { <p class="mt-2 text-sm text-zinc-600">"No messages in this range."</p> })}
        <div hidden=no_providers class="mt-2 overflow-x-auto rounded-xl bg-white ring-1 ring-zinc-200" tabindex="0" role="region" aria-label="Providers">
            <table class="min-w-full text-left text-sm">
                <thead class="bg-zinc-100 text-zinc-700"><tr>
                    <th scope="col" class=TH>"Provider"</th>
                    <th scope="col" class=TH>"Sent"</th>
                    <th scope="col" class=TH>"Failed tries"</th>
                    <th scope="col" class=TH>"Delivered"</th>
                    <th scope="col" class=TH>"Undelivered"</th>
                    <th scope="col" class=TH>"Verified"</th>
                    <th scope="col" class=TH>"Time to verify p50 / p95"</th>
                    <th scope="col" class=TH>"Delivery p50 / p95"</th>
                </tr></thead>
                <tbody>
                    {providers.into_iter().map(|p| view! {
                        <tr class="border-t border-zinc-100" data-provider=p.provider.clone()>
                            <th scope="row" class="px-3 py-2 font-mono font-normal">{p.provider.clone()}</th>
                            <td class=TD data-col="sent">{grouped(p.sent)}</td>
                            <td class=TD data-col="failed">{grouped(p.failed)}</td>
                            <td class=TD data-col="delivered">{grouped(p.delivered)}</td>
                            <td class=TD data-col="undelivered">{grouped(p.undelivered)}</td>
                            <td class=TD data-col="verified">{grouped(p.verified)}</td>
                            <td class=TD>{format!("{} / {}", p.verify_p50, p.verify_p95)}</td>
                            <td class=TD>{format!("{} / {}", p.latency_p50, p.latency_p95)}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any();
    let failures = view! {
        <h2 class="mt-8 text-lg font-semibold">"Delivery failures"</h2>
        {no_failures.then(|| view! { <p class="mt-2 text-sm text-zinc-600">"None in this range."</p> })}
        <div hidden=no_failures class="mt-2 overflow-x-auto rounded-xl bg-white ring-1 ring-zinc-200" tabindex="0" role="region" aria-label="Delivery failures">
            <table class="min-w-full text-left text-sm">
                <thead class="bg-zinc-100 text-zinc-700"><tr>
                    <th scope="col" class=TH>"Provider"</th>
                    <th scope="col" class=TH>"Error"</th>
                    <th scope="col" class=TH>"Tries"</th>
                </tr></thead>
                <tbody>
                    {failures.into_iter().map(|(provider, error, count)| view! {
                        <tr class="border-t border-zinc-100">
                            <td class="px-3 py-2 font-mono">{provider}</td>
                            <td class=TD>{error}</td>
                            <td class=TD>{grouped(count)}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any();
    let countries = view! {
        <h2 class="mt-8 text-lg font-semibold">"Countries"</h2>
        {no_countries.then(|| view! { <p class="mt-2 text-sm text-zinc-600">"No verifications in this range."</p> })}
        <div hidden=no_countries class="mt-2 overflow-x-auto rounded-xl bg-white ring-1 ring-zinc-200" tabindex="0" role="region" aria-label="Countries">
            <table class="min-w-full text-left text-sm">
                <thead class="bg-zinc-100 text-zinc-700"><tr>
                    <th scope="col" class=TH>"Country prefix"</th>
                    <th scope="col" class=TH>"Started"</th>
                    <th scope="col" class=TH>"Sent"</th>
                    <th scope="col" class=TH>"Verified"</th>
                </tr></thead>
                <tbody>
                    {countries.into_iter().map(|(country, created, sent, verified)| view! {
                        <tr class="border-t border-zinc-100" data-country=country.clone()>
                            <th scope="row" class="px-3 py-2 font-normal">{country.clone()}</th>
                            <td class=TD>{grouped(created)}</td>
                            <td class=TD>{grouped(sent)}</td>
                            <td class=TD>{grouped(verified)}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any();
    view! {
        {head}
        {charts}
        {providers}
        {failures}
        {countries}
        <Levels id="tries".into() title="Wrong codes before success".into()
            description="How many verifications succeeded after no wrong code, one, two, and so on.".into()
            levels=tries/>
        {app_link.map(|href| view! { <p class="mt-6"><a class="underline" href=href>"Back to the app"</a></p> })}
    }
}
