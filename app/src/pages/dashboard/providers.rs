//! An app's providers page: its own providers (never a secret's value), adding or
//! changing one through the form of its kind, removing one, and sending a test message.

use super::{AppRow, ALERT, BUTTON, INPUT};
use leptos::prelude::*;

/// One of the app's providers as listed.
#[derive(Debug, Clone)]
pub struct ProviderRow {
    pub id: String,
    pub kind: &'static str,
    pub channel: String,
    /// Its settings that are not secret and not empty, by label.
    pub details: Vec<(&'static str, String)>,
    /// The labels of its secret fields that hold a value.
    pub secrets: Vec<&'static str>,
    pub updated: String,
    /// Why it cannot be used now.
    pub broken: Option<String>,
}

/// One field of a provider's form.
#[derive(Debug, Clone)]
pub struct FormField {
    pub name: &'static str,
    pub label: &'static str,
    pub hint: &'static str,
    pub secret: bool,
    pub required: bool,
    pub lines: bool,
    pub choices: &'static [&'static str],
    pub default: &'static str,
    /// What the field shows: empty for a secret, always.
    pub value: String,
    /// A secret that is stored: empty keeps it.
    pub set: bool,
}

/// The form of one kind, for a new provider or one being changed.
#[derive(Debug, Clone)]
pub struct ProviderForm {
    pub kind: &'static str,
    pub kind_label: &'static str,
    pub summary: &'static str,
    pub id: String,
    /// Changing a stored provider: its id is fixed.
    pub editing: bool,
    pub fields: Vec<FormField>,
}

/// A kind of provider offered.
#[derive(Debug, Clone)]
pub struct KindChoice {
    pub name: &'static str,
    pub label: &'static str,
    pub summary: &'static str,
}

/// How a test message went.
#[derive(Debug, Clone)]
pub struct TestOutcome {
    pub ok: bool,
    pub message: String,
}

/// The providers page.
#[derive(Debug, Clone)]
pub struct ProvidersView {
    pub app: AppRow,
    pub manages: bool,
    pub providers: Vec<ProviderRow>,
    pub kinds: Vec<KindChoice>,
    pub form: Option<ProviderForm>,
    pub tested: Option<TestOutcome>,
    pub error: Option<String>,
    /// The server's providers, which every app may also name.
    pub server: Vec<String>,
}

#[component]
pub(super) fn Providers(view: ProvidersView, csrf: String) -> impl IntoView {
    let ProvidersView {
        app,
        manages,
        providers,
        kinds,
        form,
        tested,
        error,
        server,
    } = view;
    let base = format!("/dashboard/apps/{}/providers", app.namespace);
    let list = if providers.is_empty() {
        view! { <p class="mt-4 text-sm text-zinc-600">"This app has no providers of its own yet."</p> }
            .into_any()
    } else {
        let cards = providers
            .into_iter()
            .map(|p| provider_card(p, manages, &csrf, &base))
            .collect_view();
        view! { <ul class="mt-4 space-y-4">{cards}</ul> }.into_any()
    };
    let adding = manages.then(|| match form {
        Some(form) => {
            view! { <ProviderEditor form csrf=csrf.clone() base=base.clone()/> }.into_any()
        }
        None => view! { <KindPicker kinds base=base.clone()/> }.into_any(),
    });
    let server = if server.is_empty() {
        "none".to_owned()
    } else {
        server.join(", ")
    };
    view! {
        <h1 class="text-2xl font-semibold">{format!("{}: providers", app.name)}</h1>
        <p class="mt-2 text-sm text-zinc-600">
            "The app's own providers carry its messages; an id the server also has means this app's own. Secret fields are stored encrypted and never shown again."
        </p>
        {tested.map(|t| {
            let (role, class) = if t.ok {
                ("status", "mt-4 rounded-lg bg-emerald-50 p-3 text-sm text-emerald-900 ring-1 ring-emerald-200")
            } else {
                ("alert", ALERT)
            };
            view! { <p role=role class=class data-role="test-outcome">{t.message}</p> }
        })}
        {error.map(|e| view! { <p role="alert" class=ALERT data-role="provider-error">{e}</p> })}
        {list}
        {adding}
        <p class="mt-6 text-xs text-zinc-600">{format!("Providers on this server, which every app may also name: {server}.")}</p>
        <p class="mt-6"><a class="underline" href=format!("/dashboard/apps/{}", app.namespace)>"Back to the app"</a></p>
    }
}

fn provider_card(p: ProviderRow, manages: bool, csrf: &str, base: &str) -> impl IntoView {
    let test_id = format!("test-to-{}", p.id);
    let actions = manages.then(|| {
        view! {
            <div class="mt-4 flex flex-wrap items-end gap-3">
                <a class="rounded-lg px-3 py-1.5 text-sm ring-1 ring-zinc-300 hover:bg-zinc-50" href=format!("{base}?edit={}", p.id)>
                    {format!("Change {}", p.id)}
                </a>
                <form method="post" action=format!("{base}/test") class="flex flex-wrap items-end gap-2">
                    <input type="hidden" name="csrf" value=csrf.to_owned()/>
                    <input type="hidden" name="id" value=p.id.clone()/>
                    <div>
                        <label for=test_id.clone() class="block text-xs text-zinc-700">"Send a test message to"</label>
                        <input id=test_id name="to" required autocomplete="off" class="mt-1 rounded-lg border border-zinc-300 bg-white px-2 py-1 text-sm"/>
                    </div>
                    <button type="submit" class="rounded-lg px-3 py-1.5 text-sm ring-1 ring-zinc-300 hover:bg-zinc-50">"Send test"</button>
                </form>
                <form method="post" action=format!("{base}/delete")>
                    <input type="hidden" name="csrf" value=csrf.to_owned()/>
                    <input type="hidden" name="id" value=p.id.clone()/>
                    <button type="submit" class="rounded-lg px-3 py-1.5 text-sm text-red-800 ring-1 ring-red-300 hover:bg-red-50">{format!("Remove {}", p.id)}</button>
                </form>
            </div>
        }
    });
    let secrets = if p.secrets.is_empty() {
        "none".to_owned()
    } else {
        format!("{} (stored, never shown)", p.secrets.join(", "))
    };
    view! {
        <li class="rounded-xl bg-white p-4 ring-1 ring-zinc-200" data-provider=p.id.clone()>
            <p class="flex flex-wrap items-baseline gap-3">
                <span class="font-mono font-medium">{p.id.clone()}</span>
                <span class="text-sm text-zinc-600">{format!("{} · {}", p.kind, p.channel)}</span>
                <span class="ml-auto text-xs text-zinc-600">{format!("changed {} UTC", p.updated)}</span>
            </p>
            {p.broken.map(|b| view! {
                <p role="alert" class=ALERT>{format!("Cannot be used now: {b}")}</p>
            })}
            <dl class="mt-3 grid grid-cols-[max-content_1fr] gap-x-6 gap-y-1 text-sm">
                {p.details.into_iter().map(|(label, value)| view! {
                    <dt class="text-zinc-600">{label}</dt>
                    <dd class="break-all font-mono text-xs">{value}</dd>
                }).collect_view()}
                <dt class="text-zinc-600">"Secrets"</dt>
                <dd data-role="secrets-set">{secrets}</dd>
            </dl>
            {actions}
        </li>
    }
}

/// Chooses the kind of a new provider (a plain GET form).
#[component]
fn KindPicker(kinds: Vec<KindChoice>, base: String) -> impl IntoView {
    view! {
        <section aria-labelledby="add-provider" class="mt-8 rounded-xl bg-white p-6 ring-1 ring-zinc-200">
            <h2 id="add-provider" class="text-lg font-semibold">"Add a provider"</h2>
            <form method="get" action=base class="mt-4 flex flex-wrap items-end gap-3">
                <div>
                    <label for="provider-kind" class="block text-sm font-medium">"Kind"</label>
                    <select id="provider-kind" name="kind" class=INPUT>
                        {kinds.iter().map(|k| view! {
                            <option value=k.name>{format!("{}: {}", k.label, k.summary)}</option>
                        }).collect_view()}
                    </select>
                </div>
                <button type="submit" class=BUTTON>"Continue"</button>
            </form>
        </section>
    }
}

/// The form of one provider.
#[component]
fn ProviderEditor(form: ProviderForm, csrf: String, base: String) -> impl IntoView {
    let title = if form.editing {
        format!("Change {}", form.id)
    } else {
        format!("Add a {} provider", form.kind_label)
    };
    let id_field = if form.editing {
        view! {
            <input type="hidden" name="id" value=form.id.clone()/>
            <p class="text-sm sm:col-span-2">"Id: "<span class="font-mono">{form.id.clone()}</span></p>
        }
        .into_any()
    } else {
        view! {
            <div class="sm:col-span-2">
                <label for="provider-id" class="block text-sm font-medium">"Id"</label>
                <input id="provider-id" name="id" required maxlength="40" pattern="[a-z0-9][a-z0-9_\\-]*" autocomplete="off" value=form.id.clone() aria-describedby="provider-id-hint" class=INPUT/>
                <p id="provider-id-hint" class="mt-1 text-xs text-zinc-600">"What the API names as provider: lower-case letters, digits, _ and -."</p>
            </div>
        }
        .into_any()
    };
    let fields = form.fields.into_iter().map(field).collect_view();
    let cancel = base.clone();
    view! {
        <section aria-labelledby="provider-form" class="mt-8 rounded-xl bg-white p-6 ring-1 ring-zinc-200">
            <h2 id="provider-form" class="text-lg font-semibold">{title}</h2>
            <p class="mt-1 text-sm text-zinc-600">{form.summary}</p>
            <form method="post" action=base.clone() class="mt-4 grid gap-4 sm:grid-cols-2">
                <input type="hidden" name="csrf" value=csrf/>
                <input type="hidden" name="kind" value=form.kind/>
                {id_field}
                {fields}
                <div class="flex gap-3 sm:col-span-2">
                    <button type="submit" class=BUTTON>"Save provider"</button>
                    <a class="rounded-lg px-4 py-2 text-sm ring-1 ring-zinc-300 hover:bg-zinc-50" href=cancel>"Cancel"</a>
                </div>
            </form>
        </section>
    }
}

fn field(f: FormField) -> AnyView {
    let id = format!("provider-{}", f.name);
    let hint_id = format!("{id}-hint");
    let hint = match (f.secret && f.set, f.default.is_empty()) {
        (true, _) => "Stored. Leave empty to keep it; type to replace it.".to_owned(),
        (false, false) => format!("{} Empty: {}.", f.hint, f.default)
            .trim()
            .to_owned(),
        (false, true) => f.hint.to_owned(),
    };
    let label = if f.required && !(f.secret && f.set) {
        format!("{} (required)", f.label)
    } else {
        f.label.to_owned()
    };
    let wide = if f.lines { "sm:col-span-2" } else { "" };
    let input = if !f.choices.is_empty() {
        let value = f.value.clone();
        view! {
            <select id=id.clone() name=f.name aria-describedby=hint_id.clone() class=INPUT>
                {f.choices.iter().map(|c| view! { <option value=*c selected=value == *c>{*c}</option> }).collect_view()}
            </select>
        }
        .into_any()
    } else if f.lines {
        view! { <textarea id=id.clone() name=f.name rows="4" aria-describedby=hint_id.clone() class=INPUT>{f.value}</textarea> }
            .into_any()
    } else if f.secret {
        view! { <input id=id.clone() name=f.name type="password" autocomplete="new-password" aria-describedby=hint_id.clone() class=INPUT/> }
            .into_any()
    } else {
        view! { <input id=id.clone() name=f.name value=f.value autocomplete="off" aria-describedby=hint_id.clone() class=INPUT/> }
            .into_any()
    };
    view! {
        <div class=wide>
            <label for=id class="block text-sm font-medium">{label}</label>
            {input}
            <p id=hint_id class="mt-1 text-xs text-zinc-600">{hint}</p>
        </div>
    }
    .into_any()
}
