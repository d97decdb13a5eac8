//! An app's fraud-guard page: spend against its budgets, the countries it sends to, the
//! pumping detector's holds (owners lift them) and the sends refused in the last day.

use super::{AppRow, ALERT, BUTTON};
use leptos::prelude::*;

/// A hold as the page lists it.
#[derive(Debug, Clone)]
pub struct HoldRow {
    pub id: i64,
    /// `Numbers of JM`, `Numbers +1876555010xx`.
    pub what: String,
    /// Why, in words.
    pub why: String,
    /// The window's figures: sent, verified.
    pub figures: String,
    pub started: String,
    /// `YYYY-MM-DD HH:MM:SS by who` once lifted.
    pub lifted: Option<String>,
}

/// One line of spend or refusals: what, and how much.
#[derive(Debug, Clone)]
pub struct SpendLine {
    pub label: String,
    pub spent: String,
    pub sends: i64,
}

#[derive(Debug, Clone)]
pub struct GuardPageView {
    pub app: AppRow,
    /// Whether the member may lift holds (owners).
    pub owner: bool,
    /// `Any country`, or the allow- and block-lists in effect.
    pub countries: String,
    /// `None`: no budget.
    pub daily_budget: Option<String>,
    pub monthly_budget: Option<String>,
    pub today: SpendLine,
    pub month: SpendLine,
    /// This month's spend per country.
    pub by_country: Vec<SpendLine>,
    pub holds: Vec<HoldRow>,
    /// Refused in the last 24 hours: reason, country, count.
    pub refusals: Vec<(String, String, i64)>,
    pub error: Option<String>,
}

/// The banner an app's pages show while sends are held.
#[component]
pub fn HeldBanner(namespace: String, held: Vec<String>) -> impl IntoView {
    (!held.is_empty()).then(|| {
        view! {
            <div class=ALERT role="alert" data-role="held-banner">
                <p class="font-medium">"Sends held as suspected SMS pumping: "{held.join(", ")}</p>
                <p class="mt-1">
                    "New messages to them are refused with suspected_fraud. "
                    <a class="underline" href=format!("/dashboard/apps/{namespace}/guard")>"Review and lift holds"</a>
                </p>
            </div>
        }
    })
}

/// `0.15 of 0.50 · 3 messages`, or `0.15 · 3 messages · no budget`.
fn spend(line: &SpendLine, budget: Option<String>) -> String {
    match budget {
        Some(budget) => format!("{} of {budget} · {} messages", line.spent, line.sends),
        None => format!("{} · {} messages · no budget", line.spent, line.sends),
    }
}

#[component]
pub(super) fn Guard(view: GuardPageView, csrf: String) -> impl IntoView {
    let GuardPageView {
        app,
        owner,
        countries,
        daily_budget,
        monthly_budget,
        today,
        month,
        by_country,
        holds,
        refusals,
        error,
    } = view;
    let base = format!("/dashboard/apps/{}", app.namespace);
    let held: Vec<String> = holds
        .iter()
        .filter(|h| h.lifted.is_none())
        .map(|h| h.what.clone())
        .collect();
    view! {
        <h1 class="text-2xl font-semibold">{format!("{}: fraud guard", app.name)}</h1>
        <p class="mt-2 text-sm text-zinc-600">
            "Every SMS, WhatsApp and voice message is cleared before it is queued: the number's country, the pumping detector's holds, and the budgets. Countries, budgets and prices are set in the app's settings."
        </p>
        {error.map(|e| view! { <p class=ALERT role="alert">{e}</p> })}
        <HeldBanner namespace=app.namespace.clone() held/>
        <section aria-labelledby="spend" class="mt-6 rounded-xl bg-white p-6 ring-1 ring-zinc-200">
            <h2 id="spend" class="text-lg font-semibold">"Spend"</h2>
            <dl class="mt-4 grid grid-cols-[max-content_1fr] gap-x-6 gap-y-2 text-sm">
                <dt class="text-zinc-600">"Today (UTC)"</dt>
                <dd data-role="spend-today">{spend(&today, daily_budget)}</dd>
                <dt class="text-zinc-600">"This month"</dt>
                <dd data-role="spend-month">{spend(&month, monthly_budget)}</dd>
                <dt class="text-zinc-600">"Countries"</dt>
                <dd data-role="countries">{countries}</dd>
            </dl>
            {(!by_country.is_empty()).then(|| view! {
                <table class="mt-4 text-left text-sm">
                    <caption class="text-left text-zinc-600">"This month by country"</caption>
                    <thead><tr><th scope="col" class="pr-6">"Country"</th><th scope="col" class="pr-6">"Spent"</th><th scope="col">"Messages"</th></tr></thead>
                    <tbody>
                        {by_country.into_iter().map(|l| view! {
                            <tr><td class="pr-6">{l.label}</td><td class="pr-6">{l.spent}</td><td>{l.sends}</td></tr>
                        }).collect_view()}
                    </tbody>
                </table>
            })}
        </section>
        <section aria-labelledby="holds" class="mt-6 rounded-xl bg-white p-6 ring-1 ring-zinc-200">
            <h2 id="holds" class="text-lg font-semibold">"Holds"</h2>
            {if holds.is_empty() {
                view! { <p class="mt-2 text-sm text-zinc-600">"No holds."</p> }.into_any()
            } else {
                view! {
                    <div class="mt-4 overflow-x-auto" tabindex="0" role="region" aria-label="Holds list">
                        <table class="min-w-full text-left text-sm">
                            <thead class="bg-zinc-100 text-zinc-700">
                                <tr>
                                    <th scope="col" class="px-3 py-2">"Held"</th>
                                    <th scope="col" class="px-3 py-2">"Why"</th>
                                    <th scope="col" class="px-3 py-2">"Window"</th>
                                    <th scope="col" class="px-3 py-2">"Since (UTC)"</th>
                                    <th scope="col" class="px-3 py-2">"Lifted"</th>
                                </tr>
                            </thead>
                            <tbody class="divide-y divide-zinc-200">
                                {holds.into_iter().map(|h| {
                                    let lift = (owner && h.lifted.is_none()).then(|| view! {
                                        <form method="post" action=format!("{base}/guard/holds/{}/lift", h.id)>
                                            <input type="hidden" name="csrf" value=csrf.clone()/>
                                            <button type="submit" class=BUTTON>"Lift"</button>
                                        </form>
                                    });
                                    view! {
                                        <tr data-hold=h.id>
                                            <td class="px-3 py-2">{h.what}</td>
                                            <td class="px-3 py-2">{h.why}</td>
                                            <td class="px-3 py-2">{h.figures}</td>
                                            <td class="whitespace-nowrap px-3 py-2">{h.started}</td>
                                            <td class="px-3 py-2" data-role="hold-state">{h.lifted.map_or_else(|| lift.into_any(), |l| l.into_any())}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            }}
        </section>
        <section aria-labelledby="refused" class="mt-6 rounded-xl bg-white p-6 ring-1 ring-zinc-200">
            <h2 id="refused" class="text-lg font-semibold">"Refused in the last 24 hours"</h2>
            {if refusals.is_empty() {
                view! { <p class="mt-2 text-sm text-zinc-600">"None."</p> }.into_any()
            } else {
                view! {
                    <table class="mt-4 text-left text-sm">
                        <thead><tr><th scope="col" class="pr-6">"Reason"</th><th scope="col" class="pr-6">"Country"</th><th scope="col">"Messages"</th></tr></thead>
                        <tbody>
                            {refusals.into_iter().map(|(reason, country, n)| view! {
                                <tr data-refusal=reason.clone()><td class="pr-6">{reason.clone()}</td><td class="pr-6">{country}</td><td>{n}</td></tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
        </section>
        <p class="mt-6"><a class="underline" href=base>"Back to the app"</a></p>
    }
}
