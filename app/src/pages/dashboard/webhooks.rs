//! An app's event webhooks page: its endpoints, adding one (its secret shown once),
//! removing one, and the delivery log with a replay button per message.

use super::{AppRow, ALERT, BUTTON, INPUT};
use leptos::prelude::*;

#[derive(Debug, Clone)]
pub struct EndpointRow {
    pub id: i64,
    pub url: String,
    pub events: Vec<String>,
    pub created: String,
}

/// One message of the delivery log.
#[derive(Debug, Clone)]
pub struct WebhookLogRow {
    pub id: i64,
    pub url: String,
    /// `verification.sent`, ...; empty before the first try.
    pub event: String,
    /// `pending`, `delivered` or `dead`.
    pub status: String,
    pub attempts: u32,
    /// The endpoint's last answer: a status code, or why there was none.
    pub response: String,
    /// `YYYY-MM-DD HH:MM:SS` UTC of the last change.
    pub at: String,
    pub replayable: bool,
}

#[derive(Debug, Clone)]
pub struct WebhooksView {
    pub app: AppRow,
    pub manages: bool,
    pub endpoints: Vec<EndpointRow>,
    pub log: Vec<WebhookLogRow>,
    /// Every event an endpoint may ask for.
    pub events: Vec<&'static str>,
    /// A secret just made, shown this once.
    pub fresh: Option<String>,
    pub error: Option<String>,
    /// What the add form holds (after a refusal).
    pub url: String,
    pub chosen: Vec<String>,
}

#[component]
pub(super) fn Webhooks(view: WebhooksView, csrf: String) -> impl IntoView {
    let WebhooksView {
        app,
        manages,
        endpoints,
        log,
        events,
        fresh,
        error,
        url,
        chosen,
    } = view;
    let base = format!("/dashboard/apps/{}/webhooks", app.namespace);
    let endpoint_list = if endpoints.is_empty() {
        view! { <p class="mt-4 text-sm text-zinc-600">"No endpoints yet."</p> }.into_any()
    } else {
        let items = endpoints
            .into_iter()
            .map(|e| {
                let remove = manages.then(|| view! {
                    <form method="post" action=format!("{base}/remove")>
                        <input type="hidden" name="csrf" value=csrf.clone()/>
                        <input type="hidden" name="id" value=e.id/>
                        <button type="submit" class="rounded-lg px-2 py-1 text-sm text-red-800 ring-1 ring-red-300 hover:bg-red-50">{format!("Remove {}", e.url)}</button>
                    </form>
                });
                view! {
                    <li class="flex flex-wrap items-center gap-3 px-4 py-3" data-endpoint=e.url.clone()>
                        <span class="break-all font-mono text-sm">{e.url.clone()}</span>
                        <span class="text-sm text-zinc-600">{e.events.join(", ")}</span>
                        <span class="text-xs text-zinc-600">{format!("added {} UTC", e.created)}</span>
                        <span class="ml-auto">{remove}</span>
                    </li>
                }
            })
            .collect_view();
        view! { <ul class="mt-4 divide-y divide-zinc-200 rounded-xl bg-white ring-1 ring-zinc-200">{items}</ul> }
            .into_any()
    };
    let add = manages.then(|| {
        view! {
            <section aria-labelledby="add-endpoint" class="mt-8 rounded-xl bg-white p-6 ring-1 ring-zinc-200">
                <h2 id="add-endpoint" class="text-lg font-semibold">"Add an endpoint"</h2>
                <form method="post" action=base.clone() class="mt-4 grid gap-4">
                    <input type="hidden" name="csrf" value=csrf.clone()/>
                    <div>
                        <label for="webhook-url" class="block text-sm font-medium">"URL"</label>
                        <input id="webhook-url" name="url" type="url" required value=url autocomplete="off" class=INPUT/>
                    </div>
                    <fieldset>
                        <legend class="text-sm font-medium">"Events"</legend>
                        <div class="mt-2 flex flex-wrap gap-4">
                            {events.iter().map(|e| {
                                let on = chosen.iter().any(|c| c == e);
                                view! {
                                    <label class="flex items-center gap-2 text-sm">
                                        <input type="checkbox" name=format!("event_{e}") value="on" checked=on class="h-4 w-4"/>
                                        {*e}
                                    </label>
                                }
                            }).collect_view()}
                        </div>
                    </fieldset>
                    <div><button type="submit" class=BUTTON>"Add endpoint"</button></div>
                </form>
            </section>
        }
    });
    let empty_log = log.is_empty();
    let rows = log
        .into_iter()
        .map(|m| {
            let replay = (manages && m.replayable).then(|| view! {
                <form method="post" action=format!("{base}/replay")>
                    <input type="hidden" name="csrf" value=csrf.clone()/>
                    <input type="hidden" name="id" value=m.id/>
                    <button type="submit" class="rounded-lg px-2 py-1 text-sm ring-1 ring-zinc-300 hover:bg-zinc-50">{format!("Replay message {}", m.id)}</button>
                </form>
            });
            view! {
                <tr data-message=m.id data-status=m.status.clone()>
                    <td class="whitespace-nowrap px-3 py-2">{m.at}</td>
                    <td class="px-3 py-2 font-mono text-xs">{m.event}</td>
                    <td class="break-all px-3 py-2 text-xs">{m.url}</td>
                    <td class="px-3 py-2">{m.status.clone()}</td>
                    <td class="px-3 py-2">{m.attempts}</td>
                    <td class="px-3 py-2 text-xs" data-role="response">{m.response}</td>
                    <td class="px-3 py-2">{replay}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <h1 class="text-2xl font-semibold">{format!("{}: event webhooks", app.name)}</h1>
        <p class="mt-2 text-sm text-zinc-600">
            "Each event is posted as JSON with Standard Webhooks headers (webhook-id, webhook-timestamp, webhook-signature: v1 and an HMAC-SHA256 of id.timestamp.body under the endpoint's secret). Until the endpoint answers 2xx it is tried again after 5 s, 30 s, 2 min, 10 min, 30 min, 1 h and 3 h; every try of a message carries the same webhook-id."
        </p>
        {fresh.map(|secret| view! {
            <div role="status" class="mt-4 rounded-xl bg-emerald-50 p-4 ring-1 ring-emerald-200">
                <p class="font-medium">"Endpoint added. Its signing secret, shown this once:"</p>
                <p class="mt-2 break-all font-mono text-sm" data-role="webhook-secret">{secret}</p>
            </div>
        })}
        {error.map(|e| view! { <p role="alert" class=ALERT data-role="webhook-error">{e}</p> })}
        {endpoint_list}
        {add}
        <h2 class="mt-8 text-lg font-semibold">"Delivery log"</h2>
        {empty_log.then(|| view! { <p class="mt-2 text-sm text-zinc-600">"No messages yet."</p> })}
        <div hidden=empty_log class="mt-4 overflow-x-auto rounded-xl bg-white ring-1 ring-zinc-200" tabindex="0" role="region" aria-label="Webhook delivery log">
            <table class="min-w-full text-left text-sm">
                <thead class="bg-zinc-100 text-zinc-700">
                    <tr>
                        <th scope="col" class="px-3 py-2">"When (UTC)"</th>
                        <th scope="col" class="px-3 py-2">"Event"</th>
                        <th scope="col" class="px-3 py-2">"Endpoint"</th>
                        <th scope="col" class="px-3 py-2">"Status"</th>
                        <th scope="col" class="px-3 py-2">"Tries"</th>
                        <th scope="col" class="px-3 py-2">"Last answer"</th>
                        <th scope="col" class="px-3 py-2"><span class="sr-only">"Actions"</span></th>
                    </tr>
                </thead>
                <tbody class="divide-y divide-zinc-200">{rows}</tbody>
            </table>
        </div>
        <p class="mt-6"><a class="underline" href=format!("/dashboard/apps/{}", app.namespace)>"Back to the app"</a></p>
    }
}
