//! An app's history: a filter form (a plain GET form), one page of verifications newest
//! first with their addresses masked, links to each timeline, to older pages, and to the
//! CSV of everything the filters match.

use super::{AppRow, BUTTON, INPUT};
use leptos::prelude::*;

/// One verification's line.
#[derive(Debug, Clone)]
pub struct HistoryLine {
    pub id: String,
    /// Its timeline.
    pub href: String,
    /// `YYYY-MM-DD HH:MM:SS` UTC.
    pub created: String,
    pub status: String,
    pub channel: String,
    pub provider: String,
    /// Masked.
    pub to: String,
    pub attempts: u32,
    pub sends: u32,
}

/// The filters as typed, to fill the form and the links again.
#[derive(Debug, Clone, Default)]
pub struct HistoryFields {
    pub status: String,
    pub channel: String,
    pub provider: String,
    pub from: String,
    pub to: String,
    pub q: String,
}

#[derive(Debug, Clone)]
pub struct HistoryView {
    pub app: AppRow,
    pub fields: HistoryFields,
    pub statuses: Vec<&'static str>,
    pub channels: Vec<&'static str>,
    pub error: Option<String>,
    pub lines: Vec<HistoryLine>,
    /// The filters as a query string (`status=verified&q=…`), for links.
    pub query: String,
    /// The next (older) page's link, when there is one; whether this is the first page.
    pub older: Option<String>,
    pub first_page: bool,
}

/// A select of `options` (with "Any" first) named `name`, `selected` chosen.
fn choice(
    id: &'static str,
    label: &'static str,
    options: Vec<&'static str>,
    selected: String,
) -> impl IntoView {
    view! {
        <div>
            <label for=id class="block text-sm font-medium">{label}</label>
            <select id=id name=id class=INPUT>
                <option value="" selected=selected.is_empty()>"Any"</option>
                {options.into_iter().map(|o| view! {
                    <option value=o selected=selected == o>{o}</option>
                }).collect_view()}
            </select>
        </div>
    }
}

#[component]
pub(super) fn History(view: HistoryView) -> impl IntoView {
    let HistoryView {
        app,
        fields,
        statuses,
        channels,
        error,
        lines,
        query,
        older,
        first_page,
    } = view;
    let base = format!("/dashboard/apps/{}", app.namespace);
    let empty = lines.is_empty();
    let csv = format!("{base}/history.csv?{query}");
    let newest = format!("{base}/history?{query}");
    let form = view! {
        <form method="get" action=format!("{base}/history") class="mt-4 grid grid-cols-2 gap-3 sm:grid-cols-3" aria-label="Filters">
            <div class="col-span-2 sm:col-span-3">
                <label for="q" class="block text-sm font-medium">"Verification id or address"</label>
                <input id="q" name="q" value=fields.q autocomplete="off" aria-describedby="q-hint" class=INPUT/>
                <p id="q-hint" class="mt-1 text-xs text-zinc-600">"A full address, or one as listed here, such as jo**@example.com."</p>
            </div>
            {choice("status", "Status", statuses, fields.status)}
            {choice("channel", "Channel", channels, fields.channel)}
            <div>
                <label for="provider" class="block text-sm font-medium">"Provider"</label>
                <input id="provider" name="provider" value=fields.provider class=INPUT/>
            </div>
            <div>
                <label for="from" class="block text-sm font-medium">"Started from"</label>
                <input id="from" name="from" type="date" value=fields.from class=INPUT/>
            </div>
            <div>
                <label for="to" class="block text-sm font-medium">"Started until"</label>
                <input id="to" name="to" type="date" value=fields.to class=INPUT/>
            </div>
            <div class="flex items-end">
                <button type="submit" class=BUTTON>"Filter"</button>
            </div>
        </form>
    }
    .into_any();
    let table = view! {
        <div hidden=empty class="mt-4 overflow-x-auto rounded-xl bg-white ring-1 ring-zinc-200" tabindex="0" role="region" aria-label="Verifications">
            <table class="min-w-full text-left text-sm">
                <thead class="bg-zinc-100 text-zinc-700"><tr>
                    <th scope="col" class="px-3 py-2">"Started (UTC)"</th>
                    <th scope="col" class="px-3 py-2">"Id"</th>
                    <th scope="col" class="px-3 py-2">"Status"</th>
                    <th scope="col" class="px-3 py-2">"Channel"</th>
                    <th scope="col" class="px-3 py-2">"Provider"</th>
                    <th scope="col" class="px-3 py-2">"To"</th>
                    <th scope="col" class="px-3 py-2">"Wrong codes"</th>
                    <th scope="col" class="px-3 py-2">"Sends"</th>
                </tr></thead>
                <tbody>
                    {lines.into_iter().map(|l| {
                        let href = l.href.clone();
                        view! {
                            <tr class="border-t border-zinc-100" data-history=l.id.clone()>
                                <td class="px-3 py-2 whitespace-nowrap">{l.created}</td>
                                <td class="px-3 py-2 font-mono"><a class="underline" href=href>{l.id.clone()}</a></td>
                                <td class="px-3 py-2" data-col="status">{l.status}</td>
                                <td class="px-3 py-2">{l.channel}</td>
                                <td class="px-3 py-2 font-mono">{l.provider}</td>
                                <td class="px-3 py-2 font-mono" data-col="to">{l.to}</td>
                                <td class="px-3 py-2">{l.attempts}</td>
                                <td class="px-3 py-2">{l.sends}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any();
    view! {
        <h1 class="text-2xl font-semibold">{format!("{}: history", app.name)}</h1>
        {form}
        {error.map(|e| view! { <p role="alert" class=super::ALERT>{e}</p> })}
        <p class="mt-4 flex flex-wrap gap-4 text-sm">
            <a class="underline" href=csv download="">"Download all matching as CSV"</a>
            {(!first_page).then(|| view! { <a class="underline" href=newest.clone()>"Newest"</a> })}
        </p>
        {empty.then(|| view! { <p class="mt-4 text-sm text-zinc-600">"No verifications match."</p> })}
        {table}
        {older.map(|href| view! { <p class="mt-4"><a class="underline" href=href rel="next">"Older"</a></p> })}
        <p class="mt-6"><a class="underline" href=base>"Back to the app"</a></p>
    }
}
