//! The tenant dashboard under `/dashboard`: rendered on the server from what its handler
//! read through the gateway, in one synchronous pass like the code page. Every action is a
//! plain form (with the session's CSRF token), so it all works without JavaScript; the
//! dashboard has no island, so nothing of it reaches the code page's WASM, and its pages
//! load no script at all.

pub mod charts;
mod guard;
mod history;
mod providers;
pub mod security;
mod stats;
mod timeline;
mod webhooks;

pub use guard::{GuardPageView, HoldRow, SpendLine};
pub use history::{HistoryFields, HistoryLine, HistoryView};
pub use providers::{FormField, KindChoice, ProviderForm, ProviderRow, ProvidersView, TestOutcome};
pub use stats::{ProviderLine, StatsView};
pub use timeline::{TimelineRow, TimelineView};
pub use webhooks::{EndpointRow, WebhookLogRow, WebhooksView};

use crate::{i18n::Lang, render_document, RenderedPage, Scripts};
use leptos::prelude::*;

/// Who is signed in, shown in the header, and the token every form of the session carries.
#[derive(Debug, Clone)]
pub struct Nav {
    pub tenant: String,
    pub email: String,
    pub role: &'static str,
    pub csrf: String,
    /// Whether the member may create and change apps.
    pub manages_apps: bool,
}

#[derive(Debug, Clone)]
pub struct AppRow {
    pub namespace: String,
    pub name: String,
    /// Declared in the config file: shown, never changed here.
    pub declared: bool,
}

/// An app's settings as its form shows and sends them: each a text field (empty for the
/// engine's default), lists one entry per line.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct SettingsFields {
    pub ttl_secs: String,
    pub max_attempts: String,
    pub max_sends: String,
    pub code_length: String,
    /// `digits`, `alphanumeric` or empty.
    pub code_alphabet: String,
    pub channel_email: Option<String>,
    pub channel_sms: Option<String>,
    pub channel_whatsapp: Option<String>,
    pub channel_voice: Option<String>,
    pub channel_other: Option<String>,
    pub prefixes: String,
    pub locale: String,
    pub logo_url: String,
    pub accent_color: String,
    pub country: String,
    pub fallbacks: String,
    pub redirect_urls: String,
    pub embed_origins: String,
    pub test_mode: Option<String>,
    /// `address code`, one per line.
    pub test_addresses: String,
    /// `channel [prefix] provider provider…`, one rule per line.
    pub routes: String,
    /// The fraud guard: countries allowed and refused (ISO codes, by spaces), budgets,
    /// and prices (`provider country price`, one per line).
    pub countries: String,
    pub blocked_countries: String,
    pub daily_budget: String,
    pub monthly_budget: String,
    pub prices: String,
}

/// A template as its form shows and sends it.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct TemplateFields {
    pub channel: String,
    /// Empty: every language.
    pub locale: String,
    pub subject: String,
    pub body: String,
    pub html: String,
}

/// A template rendered with sample values.
#[derive(Debug, Clone)]
pub struct PreviewView {
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
}

/// The templates page: the app's templates, the one being edited, its preview.
#[derive(Debug, Clone)]
pub struct TemplatesView {
    pub app: AppRow,
    pub manages: bool,
    pub templates: Vec<TemplateFields>,
    pub draft: TemplateFields,
    pub preview: Option<PreviewView>,
    pub error: Option<String>,
    pub locales: Vec<&'static str>,
}

/// A message of an app's dev inbox.
#[derive(Debug, Clone)]
pub struct InboxRow {
    /// `YYYY-MM-DD HH:MM:SS` UTC.
    pub at: String,
    pub verification: String,
    pub provider: String,
    pub to: String,
    pub subject: String,
    pub body: String,
}

/// An app's authenticator-app factor; its secret is never shown.
#[derive(Debug, Clone)]
pub struct FactorRow {
    pub id: String,
    pub user: String,
    pub label: String,
    /// `pending` or `active`.
    pub status: String,
    /// e.g. `SHA1 · 6 digits · 30 s`.
    pub kind: String,
    /// `YYYY-MM-DD HH:MM:SS` UTC.
    pub created: String,
    pub activated: Option<String>,
}

/// The engine-wide values an app's empty setting falls back to, shown beside the fields.
#[derive(Debug, Clone)]
pub struct SettingsDefaults {
    pub ttl_secs: u64,
    pub max_attempts: u32,
    pub max_sends: u32,
    pub code_length: u32,
    pub code_alphabet: &'static str,
    /// The languages the hosted pages speak.
    pub locales: Vec<&'static str>,
    /// The providers a fallback may name.
    pub providers: Vec<String>,
}

/// One of an app's API secrets as listed (never the secret).
#[derive(Debug, Clone)]
pub struct SecretRow {
    pub id: i64,
    pub label: String,
    pub created: String,
    pub last_used: String,
    /// When a rotated-out secret stops working; empty until revoked.
    pub expires: String,
}

#[derive(Debug, Clone)]
pub struct MemberRow {
    pub id: i64,
    pub email: String,
    pub role: &'static str,
}

#[derive(Debug, Clone)]
pub struct AuditRow {
    pub id: i64,
    /// `YYYY-MM-DD HH:MM:SS` UTC.
    pub at: String,
    pub actor: String,
    pub action: String,
    pub detail: String,
    pub ip: String,
}

/// One dashboard page and what it shows.
#[derive(Debug, Clone)]
pub enum DashboardPage {
    SignIn {
        email: String,
        error: Option<String>,
        /// Whether the operator lets people make a team themselves.
        signup: bool,
    },
    /// The second step of a sign-in: a code, or the enrolment the team requires.
    SecondStep {
        email: String,
        enrolment: Option<crate::model::EnrolmentView>,
        error: Option<String>,
    },
    /// Signed in after enrolling: the recovery codes, shown once.
    Enrolled {
        nav: Nav,
        codes: Vec<String>,
    },
    /// The member's security page (two-factor sign-in).
    Security {
        nav: Nav,
        view: Box<security::SecurityView>,
    },
    /// Making a team: its name, the first owner's address and password.
    SignUp {
        team: String,
        email: String,
        error: Option<String>,
    },
    Apps {
        nav: Nav,
        apps: Vec<AppRow>,
        error: Option<String>,
    },
    /// An app, its secrets and settings; `fresh` is a secret just made, shown this once;
    /// `held` what the fraud guard holds.
    App {
        nav: Nav,
        app: AppRow,
        secrets: Vec<SecretRow>,
        settings: Box<SettingsFields>,
        defaults: SettingsDefaults,
        fresh: Option<String>,
        error: Option<String>,
        held: Vec<String>,
    },
    /// An app's dev inbox.
    Inbox {
        nav: Nav,
        app: AppRow,
        test_mode: bool,
        messages: Vec<InboxRow>,
    },
    /// An app's authenticator-app factors.
    Factors {
        nav: Nav,
        app: AppRow,
        factors: Vec<FactorRow>,
    },
    /// An app's message templates and the editor.
    Templates {
        nav: Nav,
        view: Box<TemplatesView>,
    },
    /// An app's own providers and the form of one.
    Providers {
        nav: Nav,
        view: Box<ProvidersView>,
    },
    /// An app's verifications, a page at a time.
    History {
        nav: Nav,
        view: Box<HistoryView>,
    },
    /// Stats of one app or the whole team over a range.
    Stats {
        nav: Nav,
        view: Box<StatsView>,
    },
    /// One verification's timeline.
    Timeline {
        nav: Nav,
        view: Box<TimelineView>,
    },
    /// An app's event webhooks and their delivery log.
    Webhooks {
        nav: Nav,
        view: Box<WebhooksView>,
    },
    /// An app's fraud guard: spend, holds, refusals.
    Guard {
        nav: Nav,
        view: Box<GuardPageView>,
    },
    /// The audit log, only `action`'s lines when it is not empty.
    Audit {
        nav: Nav,
        entries: Vec<AuditRow>,
        actions: &'static [&'static str],
        action: String,
        /// The members' addresses, and the one whose lines are shown (empty: all).
        actors: Vec<String>,
        actor: String,
        /// The link to the next, older page, when there may be one.
        older: Option<String>,
    },
    /// The tenant's members; `invite_link` is an invitation just made, shown this once.
    Members {
        nav: Nav,
        members: Vec<MemberRow>,
        invite_link: Option<String>,
        error: Option<String>,
    },
    /// Where an invitation link leads: choose a password.
    AcceptInvite {
        email: String,
        token: String,
        error: Option<String>,
    },
    NotFound {
        nav: Option<Nav>,
    },
    Forbidden {
        nav: Nav,
    },
}

/// Renders a dashboard page as a whole document.
pub fn render_dashboard(
    options: &LeptosOptions,
    status: http::StatusCode,
    page: DashboardPage,
) -> RenderedPage {
    let title = match &page {
        DashboardPage::SignIn { .. } => "Sign in".to_owned(),
        DashboardPage::SignUp { .. } => "Make a team".to_owned(),
        DashboardPage::SecondStep { .. } => "Sign in".to_owned(),
        DashboardPage::Enrolled { .. } | DashboardPage::Security { .. } => "Security".to_owned(),
        DashboardPage::Apps { .. } => "Apps".to_owned(),
        DashboardPage::App { app, .. } => app.name.clone(),
        DashboardPage::Inbox { app, .. } => format!("{} · dev inbox", app.name),
        DashboardPage::Factors { app, .. } => format!("{} · authenticator apps", app.name),
        DashboardPage::Templates { view, .. } => format!("{} · templates", view.app.name),
        DashboardPage::Providers { view, .. } => format!("{} · providers", view.app.name),
        DashboardPage::Webhooks { view, .. } => format!("{} · webhooks", view.app.name),
        DashboardPage::Guard { view, .. } => format!("{} · fraud guard", view.app.name),
        DashboardPage::Timeline { view, .. } => format!("{} · {}", view.app.name, view.id),
        DashboardPage::Stats { view, .. } => view.title.clone(),
        DashboardPage::History { view, .. } => format!("{} · history", view.app.name),
        DashboardPage::Audit { .. } => "Audit log".to_owned(),
        DashboardPage::Members { .. } => "Members".to_owned(),
        DashboardPage::AcceptInvite { .. } => "Join".to_owned(),
        DashboardPage::NotFound { .. } => "Not found".to_owned(),
        DashboardPage::Forbidden { .. } => "Not allowed".to_owned(),
    };
    // Two pages load a small script (no WASM): the templates page its live preview, the
    // stats pages their charts' tooltips. Both work without.
    let script = match page {
        DashboardPage::Templates { .. } => Some("/static/dashboard.js"),
        DashboardPage::Stats { .. } => Some("/static/charts.js"),
        _ => None,
    };
    render_document(
        options,
        status,
        Lang::EN,
        Scripts::None,
        move |nonce| {
            let nonce = nonce.to_string();
            view! {
                <title>{format!("{title} · otpgate dashboard")}</title>
                {script.map(|src| view! { <script nonce=nonce src=src defer></script> })}
            }
        },
        move || body(page),
    )
}

fn body(page: DashboardPage) -> AnyView {
    match page {
        DashboardPage::SignIn {
            email,
            error,
            signup,
        } => view! { <SignIn email error signup/> }.into_any(),
        DashboardPage::SecondStep {
            email,
            enrolment,
            error,
        } => view! { <security::SecondStep email enrolment error/> }.into_any(),
        DashboardPage::Enrolled { nav, codes } => view! {
            <Frame nav>
                <h1 class="text-2xl font-semibold">"Your authenticator app is on"</h1>
                <security::RecoveryCodes codes/>
                <p class="mt-6"><a class="underline" href="/dashboard">"Continue to the dashboard"</a></p>
            </Frame>
        }
        .into_any(),
        DashboardPage::Security { nav, view } => {
            let csrf = nav.csrf.clone();
            view! { <Frame nav><security::Security view=*view csrf/></Frame> }.into_any()
        }
        DashboardPage::SignUp { team, email, error } => {
            view! { <SignUp team email error/> }.into_any()
        }
        DashboardPage::Apps { nav, apps, error } => {
            let manages = nav.manages_apps;
            let csrf = nav.csrf.clone();
            view! {
                <Frame nav>
                    <h1 class="text-2xl font-semibold">"Apps"</h1>
                    <AppList apps/>
                    {manages.then(|| view! { <NewApp csrf error/> })}
                </Frame>
            }
            .into_any()
        }
        DashboardPage::App {
            nav,
            app,
            secrets,
            settings,
            defaults,
            fresh,
            error,
            held,
        } => {
            let manages = nav.manages_apps && !app.declared;
            let csrf = nav.csrf.clone();
            let base = format!("/dashboard/apps/{}", app.namespace);
            view! {
                <Frame nav>
                    <h1 class="text-2xl font-semibold">{app.name.clone()}</h1>
                    <dl class="mt-4 grid grid-cols-[max-content_1fr] gap-x-6 gap-y-2 text-sm">
                        <dt class="text-zinc-600">"Namespace"</dt>
                        <dd class="font-mono" data-role="namespace">{app.namespace.clone()}</dd>
                        <dt class="text-zinc-600">"History"</dt>
                        <dd><a class="underline" href=format!("{base}/history")>"Every verification, filtered, searched and exported"</a></dd>
                        <dt class="text-zinc-600">"Stats"</dt>
                        <dd><a class="underline" href=format!("{base}/stats")>"Volume, funnel, providers and speed"</a></dd>
                        <dt class="text-zinc-600">"Dev inbox"</dt>
                        <dd><a class="underline" href=format!("{base}/inbox")>"Messages kept instead of sent"</a></dd>
                        <dt class="text-zinc-600">"Templates"</dt>
                        <dd><a class="underline" href=format!("{base}/templates")>"The wording of its messages"</a></dd>
                        <dt class="text-zinc-600">"Providers"</dt>
                        <dd><a class="underline" href=format!("{base}/providers")>"Its own SMS, e-mail and webhook accounts"</a></dd>
                        <dt class="text-zinc-600">"Authenticator apps"</dt>
                        <dd><a class="underline" href=format!("{base}/factors")>"The TOTP factors its users enrolled"</a></dd>
                        <dt class="text-zinc-600">"Event webhooks"</dt>
                        <dd><a class="underline" href=format!("{base}/webhooks")>"Events posted to your servers, and their delivery log"</a></dd>
                        <dt class="text-zinc-600">"Fraud guard"</dt>
                        <dd><a class="underline" href=format!("{base}/guard")>"Spend against budgets, pumping holds and refused sends"</a></dd>
                    </dl>
                    <guard::HeldBanner namespace=app.namespace.clone() held/>
                    <form method="get" action=format!("{base}/verifications") class="mt-4 flex flex-wrap items-end gap-3">
                        <div>
                            <label for="find-verification" class="block text-sm font-medium">"Find a verification by its id"</label>
                            <input id="find-verification" name="id" required autocomplete="off" class=INPUT/>
                        </div>
                        <button type="submit" class=BUTTON>"Show its timeline"</button>
                    </form>
                    {app.declared.then(|| view! {
                        <p class="mt-4 rounded-lg bg-amber-50 p-3 text-sm text-amber-900 ring-1 ring-amber-200" data-role="declared">
                            "This app is declared in the config file: it is shown here read-only and changed there."
                        </p>
                    })}
                    {fresh.map(|secret| view! { <FreshSecret namespace=app.namespace.clone() secret/> })}
                    {error.map(|e| view! {
                        <p role="alert" class=ALERT>{e}</p>
                    })}
                    <Secrets secrets manages csrf=csrf.clone() base=base.clone()/>
                    <Settings fields=*settings defaults manages csrf=csrf.clone() base=base.clone()/>
                    {manages.then(|| view! { <AppChanges csrf base name=app.name.clone() namespace=app.namespace.clone()/> })}
                    <p class="mt-6"><a class="underline" href="/dashboard">"Back to the apps"</a></p>
                </Frame>
            }
            .into_any()
        }
        DashboardPage::Inbox {
            nav,
            app,
            test_mode,
            messages,
        } => view! {
            <Frame nav>
                <h1 class="text-2xl font-semibold">{format!("{}: dev inbox", app.name)}</h1>
                <p class="mt-2 text-sm text-zinc-600">
                    {if test_mode {
                        "Test mode is on: every message of this app is kept here and none is sent."
                    } else {
                        "Messages to this app's test addresses are kept here and never sent. Turn on test mode in the app's settings to keep all of them."
                    }}
                </p>
                <Inbox messages/>
                <p class="mt-6"><a class="underline" href=format!("/dashboard/apps/{}", app.namespace)>"Back to the app"</a></p>
            </Frame>
        }
        .into_any(),
        DashboardPage::Factors { nav, app, factors } => view! {
            <Frame nav>
                <h1 class="text-2xl font-semibold">{format!("{}: authenticator apps", app.name)}</h1>
                <p class="mt-2 text-sm text-zinc-600">
                    "Factors are enrolled and deleted through the API (/v1/factors). Their secrets are sealed and never shown again."
                </p>
                <Factors factors/>
                <p class="mt-6"><a class="underline" href=format!("/dashboard/apps/{}", app.namespace)>"Back to the app"</a></p>
            </Frame>
        }
        .into_any(),
        DashboardPage::Templates { nav, view } => {
            let csrf = nav.csrf.clone();
            view! { <Frame nav><Templates view=*view csrf/></Frame> }.into_any()
        }
        DashboardPage::Providers { nav, view } => {
            let csrf = nav.csrf.clone();
            view! { <Frame nav><providers::Providers view=*view csrf/></Frame> }.into_any()
        }
        DashboardPage::History { nav, view } => {
            view! { <Frame nav><history::History view=*view/></Frame> }.into_any()
        }
        DashboardPage::Stats { nav, view } => {
            view! { <Frame nav><stats::Stats view=*view/></Frame> }.into_any()
        }
        DashboardPage::Timeline { nav, view } => {
            view! { <Frame nav><timeline::Timeline view=*view/></Frame> }.into_any()
        }
        DashboardPage::Guard { nav, view } => {
            let csrf = nav.csrf.clone();
            view! { <Frame nav><guard::Guard view=*view csrf/></Frame> }.into_any()
        }
        DashboardPage::Webhooks { nav, view } => {
            let csrf = nav.csrf.clone();
            view! { <Frame nav><webhooks::Webhooks view=*view csrf/></Frame> }.into_any()
        }
        DashboardPage::Audit {
            nav,
            entries,
            actions,
            action,
            actors,
            actor,
            older,
        } => view! {
            <Frame nav>
                <h1 class="text-2xl font-semibold">"Audit log"</h1>
                <form method="get" action="/dashboard/audit" class="mt-4 flex flex-wrap items-end gap-3">
                    <div>
                        <label for="audit-action" class="block text-sm font-medium">"Action"</label>
                        <select id="audit-action" name="action" class=INPUT>
                            <option value="" selected=action.is_empty()>"All"</option>
                            {actions.iter().map(|a| view! {
                                <option value=*a selected=*a == action>{*a}</option>
                            }).collect_view()}
                        </select>
                    </div>
                    <div>
                        <label for="audit-actor" class="block text-sm font-medium">"Member"</label>
                        <select id="audit-actor" name="actor" class=INPUT>
                            <option value="" selected=actor.is_empty()>"All"</option>
                            {actors.into_iter().map(|a| {
                                let selected = a == actor;
                                view! { <option value=a.clone() selected=selected>{a.clone()}</option> }
                            }).collect_view()}
                        </select>
                    </div>
                    <button type="submit" class=BUTTON>"Filter"</button>
                </form>
                <AuditTable entries/>
                {older.map(|href| view! {
                    <p class="mt-4"><a class="underline" href=href data-role="older">"Older entries"</a></p>
                })}
            </Frame>
        }
        .into_any(),
        DashboardPage::Members {
            nav,
            members,
            invite_link,
            error,
        } => {
            let owner = nav.role == "owner";
            let csrf = nav.csrf.clone();
            view! {
                <Frame nav>
                    <h1 class="text-2xl font-semibold">"Members"</h1>
                    {invite_link.map(|link| view! {
                        <div role="status" class="mt-4 rounded-xl bg-emerald-50 p-4 ring-1 ring-emerald-200">
                            <p class="font-medium">"Invitation made. Send this link, shown this once; it works once, for 7 days:"</p>
                            <p class="mt-2 break-all font-mono text-sm" data-role="invite-link">{link}</p>
                        </div>
                    })}
                    {error.map(|e| view! {
                        <p role="alert" class=ALERT>{e}</p>
                    })}
                    <Members members owner csrf/>
                </Frame>
            }
            .into_any()
        }
        DashboardPage::AcceptInvite {
            email,
            token,
            error,
        } => view! { <AcceptInvite email token error/> }.into_any(),
        DashboardPage::NotFound { nav } => {
            let message = view! {
                <h1 class="text-2xl font-semibold">"Not found"</h1>
                <p class="mt-2 text-sm text-zinc-600">"There is nothing here for your team."</p>
            };
            match nav {
                Some(nav) => view! { <Frame nav>{message}</Frame> }.into_any(),
                None => {
                    view! { <main class="mx-auto max-w-md px-4 py-12">{message}</main> }.into_any()
                }
            }
        }
        DashboardPage::Forbidden { nav } => view! {
            <Frame nav>
                <h1 class="text-2xl font-semibold">"Not allowed"</h1>
                <p class="mt-2 text-sm text-zinc-600">"Your role does not allow this change."</p>
            </Frame>
        }
        .into_any(),
    }
}

const INPUT: &str = "mt-1 block w-full rounded-lg border border-zinc-300 bg-white px-3 py-2 text-base focus:border-zinc-900 focus:outline-none focus:ring-2 focus:ring-zinc-900";
/// Why a form was refused, above the page's content.
const ALERT: &str = "mt-4 rounded-lg bg-red-50 p-3 text-sm text-red-800 ring-1 ring-red-200";
const BUTTON: &str = "rounded-lg bg-zinc-900 px-4 py-2 text-sm font-medium text-white hover:bg-zinc-700 focus:outline-none focus:ring-2 focus:ring-zinc-900 focus:ring-offset-2";

/// The signed-in layout: header with the tenant, the member, the sections and sign-out.
#[component]
fn Frame(nav: Nav, children: Children) -> impl IntoView {
    view! {
        <header class="border-b border-zinc-200 bg-white">
            <div class="mx-auto flex max-w-4xl flex-wrap items-center gap-x-6 gap-y-2 px-4 py-3">
                <a href="/dashboard" class="font-semibold">{nav.tenant.clone()}</a>
                <nav aria-label="Dashboard" class="flex gap-4 text-sm">
                    <a class="underline-offset-4 hover:underline" href="/dashboard">"Apps"</a>
                    <a class="underline-offset-4 hover:underline" href="/dashboard/stats">"Stats"</a>
                    <a class="underline-offset-4 hover:underline" href="/dashboard/members">"Members"</a>
                    <a class="underline-offset-4 hover:underline" href="/dashboard/audit">"Audit log"</a>
                    <a class="underline-offset-4 hover:underline" href="/dashboard/security">"Security"</a>
                </nav>
                <div class="ml-auto flex items-center gap-3 text-sm text-zinc-700">
                    <span data-role="member">{format!("{} ({})", nav.email, nav.role)}</span>
                    <form method="post" action="/dashboard/sign-out">
                        <input type="hidden" name="csrf" value=nav.csrf.clone()/>
                        <button type="submit" class="underline underline-offset-4">"Sign out"</button>
                    </form>
                </div>
            </div>
        </header>
        <main class="mx-auto max-w-4xl px-4 py-8">{children()}</main>
    }
}

#[component]
fn SignUp(team: String, email: String, error: Option<String>) -> impl IntoView {
    view! {
        <main class="mx-auto flex min-h-screen max-w-md items-center px-4 py-12">
            <div class="w-full rounded-2xl bg-white p-8 shadow-sm ring-1 ring-zinc-200">
                <h1 class="text-xl font-semibold">"Make a team"</h1>
                <p class="mt-2 text-sm text-zinc-600">"You will be its owner, and can invite others once signed in."</p>
                {error.map(|e| view! {
                    <p role="alert" class=ALERT>{e}</p>
                })}
                <form method="post" action="/dashboard/sign-up" class="mt-6 space-y-4">
                    <div>
                        <label for="team" class="block text-sm font-medium">"Team name"</label>
                        <input id="team" name="team" required maxlength="100" value=team autocomplete="organization" class=INPUT/>
                    </div>
                    <div>
                        <label for="email" class="block text-sm font-medium">"E-mail address"</label>
                        <input id="email" name="email" type="email" autocomplete="username" required value=email class=INPUT/>
                    </div>
                    <div>
                        <label for="new-password" class="block text-sm font-medium">"Password (at least 12 characters)"</label>
                        <input id="new-password" name="password" type="password" autocomplete="new-password" minlength="12" required class=INPUT/>
                    </div>
                    <button type="submit" class=BUTTON>"Make the team"</button>
                </form>
                <p class="mt-6 text-sm"><a class="underline" href="/dashboard/sign-in">"Sign in instead"</a></p>
            </div>
        </main>
    }
}

#[component]
fn SignIn(email: String, error: Option<String>, signup: bool) -> impl IntoView {
    view! {
        <main class="mx-auto flex min-h-screen max-w-md items-center px-4 py-12">
            <div class="w-full rounded-2xl bg-white p-8 shadow-sm ring-1 ring-zinc-200">
                <h1 class="text-xl font-semibold">"Sign in to the dashboard"</h1>
                {error.map(|e| view! {
                    <p role="alert" class=ALERT>{e}</p>
                })}
                <form method="post" action="/dashboard/sign-in" class="mt-6 space-y-4">
                    <div>
                        <label for="email" class="block text-sm font-medium">"E-mail address"</label>
                        <input id="email" name="email" type="email" autocomplete="username" required value=email class=INPUT/>
                    </div>
                    <div>
                        <label for="password" class="block text-sm font-medium">"Password"</label>
                        <input id="password" name="password" type="password" autocomplete="current-password" required class=INPUT/>
                    </div>
                    <button type="submit" class=BUTTON>"Sign in"</button>
                </form>
                {signup.then(|| view! {
                    <p class="mt-6 text-sm"><a class="underline" href="/dashboard/sign-up">"Make a team"</a></p>
                })}
            </div>
        </main>
    }
}

#[component]
fn AppList(apps: Vec<AppRow>) -> impl IntoView {
    if apps.is_empty() {
        return view! { <p class="mt-4 text-sm text-zinc-600">"No apps yet."</p> }.into_any();
    }
    view! {
        <ul class="mt-4 divide-y divide-zinc-200 rounded-xl bg-white ring-1 ring-zinc-200">
            {apps.into_iter().map(|app| {
                let href = format!("/dashboard/apps/{}", app.namespace);
                let key = app.namespace.clone();
                view! {
                    <li class="flex items-center justify-between gap-3 px-4 py-3" data-namespace=key>
                        <a class="font-medium underline-offset-4 hover:underline" href=href>{app.name}</a>
                        {app.declared.then(|| view! {
                            <span class="rounded bg-amber-100 px-2 py-0.5 text-xs text-amber-900">"config file, read-only"</span>
                        })}
                        <span class="ml-auto font-mono text-sm text-zinc-600">{app.namespace}</span>
                    </li>
                }
            }).collect_view()}
        </ul>
    }
    .into_any()
}

#[component]
fn NewApp(csrf: String, error: Option<String>) -> impl IntoView {
    view! {
        <section aria-labelledby="new-app" class="mt-8 rounded-xl bg-white p-6 ring-1 ring-zinc-200">
            <h2 id="new-app" class="text-lg font-semibold">"New app"</h2>
            {error.map(|e| view! {
                <p role="alert" class="mt-3 rounded-lg bg-red-50 p-3 text-sm text-red-800 ring-1 ring-red-200">{e}</p>
            })}
            <form method="post" action="/dashboard/apps" class="mt-4 grid gap-4 sm:grid-cols-2">
                <input type="hidden" name="csrf" value=csrf/>
                <div>
                    <label for="app-name" class="block text-sm font-medium">"Name"</label>
                    <input id="app-name" name="name" required maxlength="100" class=INPUT/>
                </div>
                <div>
                    <label for="app-namespace" class="block text-sm font-medium">"Namespace"</label>
                    <input id="app-namespace" name="namespace" required maxlength="64" pattern="[A-Za-z0-9._\\-]+" class=INPUT/>
                </div>
                <div class="sm:col-span-2">
                    <button type="submit" class=BUTTON>"Create app"</button>
                </div>
            </form>
        </section>
    }
}

/// A secret just made: shown this once.
#[component]
fn FreshSecret(namespace: String, secret: String) -> impl IntoView {
    view! {
        <div role="status" class="mt-4 rounded-xl bg-emerald-50 p-4 ring-1 ring-emerald-200">
            <p class="font-medium">"A new API secret, shown this once:"</p>
            <p class="mt-2 break-all font-mono text-sm" data-role="secret">{secret}</p>
            <p class="mt-2 text-sm text-zinc-700">
                "Store it now: only its hash is kept. Use "
                <code class="font-mono">{format!("{namespace}:<secret>")}</code>
                " as Basic or Bearer credentials."
            </p>
        </div>
    }
}

/// The app's secrets, with revoke and rotate for members who manage apps, and a form for
/// a new one.
#[component]
fn Secrets(secrets: Vec<SecretRow>, manages: bool, csrf: String, base: String) -> impl IntoView {
    let rows = secrets
        .into_iter()
        .map(|s| {
            let label = if s.label.is_empty() {
                "(no label)".to_owned()
            } else {
                s.label.clone()
            };
            let actions = manages.then(|| secret_actions(&base, &csrf, s.id));
            view! {
                <tr data-secret=s.id>
                    <td class="px-3 py-2">{label}</td>
                    <td class="whitespace-nowrap px-3 py-2">{s.created}</td>
                    <td class="whitespace-nowrap px-3 py-2">{s.last_used}</td>
                    <td class="whitespace-nowrap px-3 py-2">{s.expires}</td>
                    {actions}
                </tr>
            }
        })
        .collect_view();
    let new_secret = manages.then(|| view! {
        <form method="post" action=format!("{base}/secrets") class="mt-4 flex flex-wrap items-end gap-3">
            <input type="hidden" name="csrf" value=csrf.clone()/>
            <div>
                <label for="secret-label" class="block text-sm font-medium">"Label"</label>
                <input id="secret-label" name="label" maxlength="64" class=INPUT/>
            </div>
            <button type="submit" class=BUTTON>"New secret"</button>
        </form>
    });
    view! {
        <section aria-labelledby="secrets" class="mt-8">
            <h2 id="secrets" class="text-lg font-semibold">"API secrets"</h2>
            <div class="mt-3 overflow-x-auto rounded-xl bg-white ring-1 ring-zinc-200" tabindex="0" role="region" aria-label="API secrets list">
                <table class="min-w-full text-left text-sm">
                    <thead class="bg-zinc-100 text-zinc-700">
                        <tr>
                            <th scope="col" class="px-3 py-2">"Label"</th>
                            <th scope="col" class="px-3 py-2">"Created (UTC)"</th>
                            <th scope="col" class="px-3 py-2">"Last used (UTC)"</th>
                            <th scope="col" class="px-3 py-2">"Stops working (UTC)"</th>
                            {manages.then(|| view! { <th scope="col" class="px-3 py-2">"Actions"</th> })}
                        </tr>
                    </thead>
                    <tbody class="divide-y divide-zinc-200">{rows}</tbody>
                </table>
            </div>
            {new_secret}
        </section>
    }
}

/// Renaming and deleting an app (deleting asks for its namespace again).
#[component]
fn AppChanges(csrf: String, base: String, name: String, namespace: String) -> impl IntoView {
    view! {
        <section aria-labelledby="app-changes" class="mt-8 space-y-6">
            <h2 id="app-changes" class="text-lg font-semibold">"Name and deletion"</h2>
            <form method="post" action=format!("{base}/rename") class="flex flex-wrap items-end gap-3">
                <input type="hidden" name="csrf" value=csrf.clone()/>
                <div>
                    <label for="rename" class="block text-sm font-medium">"Name"</label>
                    <input id="rename" name="name" required maxlength="100" value=name class=INPUT/>
                </div>
                <button type="submit" class=BUTTON>"Rename"</button>
            </form>
            <form method="post" action=format!("{base}/delete") class="rounded-xl bg-red-50 p-4 ring-1 ring-red-200">
                <input type="hidden" name="csrf" value=csrf/>
                <p class="text-sm text-red-900">
                    "Deleting the app removes its secrets, verifications, messages and events. Its API calls stop at once."
                </p>
                <label for="confirm-delete" class="mt-3 block text-sm font-medium">
                    {format!("Type {namespace} to confirm")}
                </label>
                <div class="mt-1 flex flex-wrap items-end gap-3">
                    <input id="confirm-delete" name="confirm" required autocomplete="off" class=INPUT/>
                    <button type="submit" class="rounded-lg bg-red-700 px-4 py-2 text-sm font-medium text-white hover:bg-red-800 focus:outline-none focus:ring-2 focus:ring-red-700 focus:ring-offset-2">"Delete app"</button>
                </div>
            </form>
        </section>
    }
}

/// An app's settings: a form for members who manage it, the same fields disabled for
/// the others (and for apps of the config file).
#[component]
fn Settings(
    fields: SettingsFields,
    defaults: SettingsDefaults,
    manages: bool,
    csrf: String,
    base: String,
) -> impl IntoView {
    let d = defaults;
    let number = move |id: &'static str,
                       label: &'static str,
                       value: String,
                       default: String,
                       [min, max]: [&'static str; 2]| {
        view! {
            <div>
                <label for=id class="block text-sm font-medium">{label}</label>
                <input id=id name=id type="number" min=min max=max value=value placeholder=format!("{default} (default)") disabled=!manages class=INPUT/>
            </div>
        }
    };
    let text = move |id: &'static str, label: &'static str, value: String, hint: &'static str| {
        let hint_id = format!("{id}-hint");
        view! {
            <div>
                <label for=id class="block text-sm font-medium">{label}</label>
                <input id=id name=id value=value aria-describedby=hint_id.clone() disabled=!manages class=INPUT/>
                <p id=hint_id class="mt-1 text-xs text-zinc-600">{hint}</p>
            </div>
        }
    };
    let lines = move |id: &'static str, label: &'static str, value: String, hint: &'static str| {
        let hint_id = format!("{id}-hint");
        view! {
            <div class="sm:col-span-2">
                <label for=id class="block text-sm font-medium">{label}</label>
                <textarea id=id name=id rows="3" aria-describedby=hint_id.clone() disabled=!manages class=INPUT>{value}</textarea>
                <p id=hint_id class="mt-1 text-xs text-zinc-600">{hint}</p>
            </div>
        }
    };
    let channels = [
        ("channel_email", "E-mail", fields.channel_email.is_some()),
        ("channel_sms", "SMS", fields.channel_sms.is_some()),
        (
            "channel_whatsapp",
            "WhatsApp",
            fields.channel_whatsapp.is_some(),
        ),
        (
            "channel_voice",
            "Phone call",
            fields.channel_voice.is_some(),
        ),
        (
            "channel_other",
            "Other (webhook)",
            fields.channel_other.is_some(),
        ),
    ];
    let alphabet = fields.code_alphabet.clone();
    let test_mode = fields.test_mode.is_some();
    let locale = fields.locale.clone();
    let providers = d.providers.join(", ");
    view! {
        <section aria-labelledby="settings" class="mt-8 rounded-xl bg-white p-6 ring-1 ring-zinc-200">
            <h2 id="settings" class="text-lg font-semibold">"Settings"</h2>
            <p class="mt-1 text-sm text-zinc-600">"Empty fields keep the server's defaults. A request to the API may still name its own TTL, attempts and sends."</p>
            <form method="post" action=format!("{base}/settings") class="mt-4 grid gap-4 sm:grid-cols-2">
                <input type="hidden" name="csrf" value=csrf/>
                {number("ttl_secs", "Code lifetime (seconds)", fields.ttl_secs, d.ttl_secs.to_string(), ["1", "86400"])}
                {number("max_attempts", "Wrong codes allowed", fields.max_attempts, d.max_attempts.to_string(), ["1", "10"])}
                {number("max_sends", "Messages per verification", fields.max_sends, d.max_sends.to_string(), ["1", "10"])}
                {number("code_length", "Code length", fields.code_length, d.code_length.to_string(), ["4", "16"])}
                <div>
                    <label for="code_alphabet" class="block text-sm font-medium">"Code characters"</label>
                    <select id="code_alphabet" name="code_alphabet" disabled=!manages class=INPUT>
                        <option value="" selected=alphabet.is_empty()>{format!("{} (default)", d.code_alphabet)}</option>
                        <option value="digits" selected=alphabet == "digits">"digits"</option>
                        <option value="alphanumeric" selected=alphabet == "alphanumeric">"letters and digits"</option>
                    </select>
                </div>
                <div>
                    <label for="locale" class="block text-sm font-medium">"Pages' language"</label>
                    <select id="locale" name="locale" disabled=!manages class=INPUT>
                        <option value="" selected=locale.is_empty()>"the visitor's"</option>
                        {d.locales.iter().map(|l| view! {
                            <option value=*l selected=locale == *l>{*l}</option>
                        }).collect_view()}
                    </select>
                </div>
                <fieldset class="sm:col-span-2">
                    <legend class="text-sm font-medium">"Channels (none ticked: all)"</legend>
                    <div class="mt-2 flex flex-wrap gap-4">
                        {channels.into_iter().map(|(name, label, on)| view! {
                            <label class="flex items-center gap-2 text-sm">
                                <input type="checkbox" name=name value="on" checked=on disabled=!manages class="h-4 w-4"/>
                                {label}
                            </label>
                        }).collect_view()}
                    </div>
                </fieldset>
                {text("prefixes", "Phone number prefixes", fields.prefixes, "Country codes such as +91 +44, separated by spaces; empty: any number.")}
                {text("fallbacks", "\u{201C}Didn\u{2019}t get it?\u{201D} providers", fields.fallbacks, "In order, separated by spaces.")}
                {text("logo_url", "Logo URL", fields.logo_url, "An https URL or a path such as /static/logo.svg.")}
                {text("accent_color", "Accent colour", fields.accent_color, "#rrggbb")}
                {text("country", "Phone picker starts on", fields.country, "A country code such as IN or DE.")}
                {lines("redirect_urls", "Redirect URLs", fields.redirect_urls, "Exact http(s) URLs the pages may send people back to, one per line.")}
                {lines("routes", "Failover routes", fields.routes, "One rule per line: a channel, a number prefix if any, then the providers to try in order, such as sms +91 kaleyra_sms twilio.")}
                {lines("embed_origins", "Embed origins", fields.embed_origins, "Sites that may frame the pages (otp.js modal), such as https://shop.example, one per line.")}
                <div class="sm:col-span-2">
                    <label class="flex items-center gap-2 text-sm font-medium">
                        <input type="checkbox" name="test_mode" value="on" checked=test_mode disabled=!manages class="h-4 w-4"/>
                        "Test mode: keep every message in the dev inbox instead of sending it"
                    </label>
                </div>
                {text("countries", "Countries it sends to", fields.countries, "Country codes such as IN US DE, separated by spaces; empty: the server's list, or any.")}
                {text("blocked_countries", "Countries refused", fields.blocked_countries, "Country codes refused even when listed above (the server's are refused too).")}
                {text("daily_budget", "Daily message budget", fields.daily_budget, "The most its priced messages may cost per UTC day, such as 25 or 12.50; empty: the server's, or none.")}
                {text("monthly_budget", "Monthly message budget", fields.monthly_budget, "The same per UTC month.")}
                {lines("prices", "Prices", fields.prices, "One per line: a provider, a country code or * for any, and the price of one message, such as sms IN 0.0045.")}
                {lines("test_addresses", "Test addresses", fields.test_addresses, "An address, a space and its fixed code on each line, such as +15005550006 123456: their messages stay in the dev inbox.")}
                <p class="text-xs text-zinc-600 sm:col-span-2">{format!("Providers this app may name: {providers}.")}</p>
                {manages.then(|| view! {
                    <div class="sm:col-span-2"><button type="submit" class=BUTTON>"Save settings"</button></div>
                })}
            </form>
        </section>
    }
}

/// Revoke and rotate forms of one secret.
fn secret_actions(base: &str, csrf: &str, id: i64) -> impl IntoView {
    let overlap_id = format!("overlap-{id}");
    view! {
        <td class="px-3 py-2">
            <div class="flex flex-wrap items-end gap-2">
                <form method="post" action=format!("{base}/secrets/{id}/revoke")>
                    <input type="hidden" name="csrf" value=csrf.to_owned()/>
                    <button type="submit" class="rounded-lg px-2 py-1 text-sm text-red-800 ring-1 ring-red-300 hover:bg-red-50">"Revoke"</button>
                </form>
                <form method="post" action=format!("{base}/secrets/{id}/rotate") class="flex items-end gap-2">
                    <input type="hidden" name="csrf" value=csrf.to_owned()/>
                    <label for=overlap_id.clone() class="text-xs text-zinc-700">"Old one works for"</label>
                    <select id=overlap_id name="overlap" class="rounded-lg border border-zinc-300 bg-white px-2 py-1 text-sm">
                        <option value="0">"no longer"</option>
                        <option value="3600" selected>"1 hour"</option>
                        <option value="86400">"1 day"</option>
                        <option value="604800">"7 days"</option>
                    </select>
                    <button type="submit" class="rounded-lg px-2 py-1 text-sm ring-1 ring-zinc-300 hover:bg-zinc-50">"Rotate"</button>
                </form>
            </div>
        </td>
    }
}

/// The tenant's members, and for owners the form that invites one.
#[component]
fn Members(members: Vec<MemberRow>, owner: bool, csrf: String) -> impl IntoView {
    let invite = owner.then(|| view! {
        <section aria-labelledby="invite" class="mt-8 rounded-xl bg-white p-6 ring-1 ring-zinc-200">
            <h2 id="invite" class="text-lg font-semibold">"Invite a member"</h2>
            <form method="post" action="/dashboard/members" class="mt-4 grid gap-4 sm:grid-cols-[1fr_auto_auto] sm:items-end">
                <input type="hidden" name="csrf" value=csrf.clone()/>
                <div>
                    <label for="invite-email" class="block text-sm font-medium">"E-mail address"</label>
                    <input id="invite-email" name="email" type="email" required class=INPUT/>
                </div>
                <div>
                    <label for="invite-role" class="block text-sm font-medium">"Role"</label>
                    <select id="invite-role" name="role" class=INPUT>
                        <option value="viewer">"Viewer (reads)"</option>
                        <option value="developer">"Developer (manages apps)"</option>
                        <option value="owner">"Owner (everything)"</option>
                    </select>
                </div>
                <button type="submit" class=BUTTON>"Invite"</button>
            </form>
        </section>
    });
    let rows = members
        .into_iter()
        .map(|m| {
            let manage = owner.then(|| member_actions(&csrf, &m));
            view! {
                <li class="flex flex-wrap items-center gap-3 px-4 py-3" data-member=m.email.clone()>
                    <span>{m.email.clone()}</span>
                    <span class="text-sm text-zinc-600" data-role="member-role">{m.role}</span>
                    <span class="ml-auto">{manage}</span>
                </li>
            }
        })
        .collect_view();
    view! {
        <ul class="mt-4 divide-y divide-zinc-200 rounded-xl bg-white ring-1 ring-zinc-200">{rows}</ul>
        {invite}
    }
}

/// An owner's forms for one member: another role, or removal.
fn member_actions(csrf: &str, m: &MemberRow) -> impl IntoView {
    let select_id = format!("role-{}", m.id);
    view! {
        <div class="flex flex-wrap items-end gap-2">
            <form method="post" action=format!("/dashboard/members/{}/role", m.id) class="flex items-end gap-2">
                <input type="hidden" name="csrf" value=csrf.to_owned()/>
                <label for=select_id.clone() class="sr-only">{format!("Role of {}", m.email)}</label>
                <select id=select_id name="role" class="rounded-lg border border-zinc-300 bg-white px-2 py-1 text-sm">
                    {["viewer", "developer", "owner"].into_iter().map(|r| view! {
                        <option value=r selected=r == m.role>{r}</option>
                    }).collect_view()}
                </select>
                <button type="submit" class="rounded-lg px-2 py-1 text-sm ring-1 ring-zinc-300 hover:bg-zinc-50">"Change role"</button>
            </form>
            <form method="post" action=format!("/dashboard/members/{}/remove", m.id)>
                <input type="hidden" name="csrf" value=csrf.to_owned()/>
                <button type="submit" class="rounded-lg px-2 py-1 text-sm text-red-800 ring-1 ring-red-300 hover:bg-red-50">"Remove"</button>
            </form>
        </div>
    }
}

/// The page an invitation link opens: choose a password.
#[component]
fn AcceptInvite(email: String, token: String, error: Option<String>) -> impl IntoView {
    view! {
        <main class="mx-auto flex min-h-screen max-w-md items-center px-4 py-12">
            <div class="w-full rounded-2xl bg-white p-8 shadow-sm ring-1 ring-zinc-200">
                <h1 class="text-xl font-semibold">"Join the dashboard"</h1>
                <p class="mt-2 text-sm text-zinc-600">{format!("You were invited as {email}. Choose a password of at least 12 characters.")}</p>
                {error.map(|e| view! {
                    <p role="alert" class=ALERT>{e}</p>
                })}
                <form method="post" action=format!("/dashboard/invite/{token}") class="mt-6 space-y-4">
                    <input type="hidden" name="email" value=email autocomplete="username"/>
                    <div>
                        <label for="new-password" class="block text-sm font-medium">"Password"</label>
                        <input id="new-password" name="password" type="password" autocomplete="new-password" minlength="12" required class=INPUT/>
                    </div>
                    <button type="submit" class=BUTTON>"Join"</button>
                </form>
            </div>
        </main>
    }
}

const CHANNELS: [(&str, &str); 5] = [
    ("sms", "SMS"),
    ("email", "E-mail"),
    ("whatsapp", "WhatsApp"),
    ("voice", "Phone call"),
    ("other", "Other (webhook)"),
];

/// An app's templates, the editor (preview for everyone, save for members who manage the
/// app) and the preview of the draft.
#[component]
fn Templates(view: TemplatesView, csrf: String) -> impl IntoView {
    let TemplatesView {
        app,
        manages,
        templates,
        draft,
        preview,
        error,
        locales,
    } = view;
    let base = format!("/dashboard/apps/{}/templates", app.namespace);
    let language = |l: &str| {
        if l.is_empty() {
            "every language".to_owned()
        } else {
            l.to_owned()
        }
    };
    let rows = templates
        .into_iter()
        .map(|t| {
            let edit = format!("{base}?channel={}&locale={}", t.channel, t.locale);
            let delete = manages.then(|| view! {
                <form method="post" action=format!("{base}/delete")>
                    <input type="hidden" name="csrf" value=csrf.clone()/>
                    <input type="hidden" name="channel" value=t.channel.clone()/>
                    <input type="hidden" name="locale" value=t.locale.clone()/>
                    <button type="submit" class="rounded-lg px-2 py-1 text-sm text-red-800 ring-1 ring-red-300 hover:bg-red-50">"Remove"</button>
                </form>
            });
            view! {
                <li class="flex flex-wrap items-center gap-3 px-4 py-3" data-template=format!("{}/{}", t.channel, t.locale)>
                    <a class="font-medium underline" href=edit>{format!("{} · {}", t.channel, language(&t.locale))}</a>
                    <span class="truncate text-sm text-zinc-600">{t.body.lines().next().unwrap_or_default().to_owned()}</span>
                    <span class="ml-auto">{delete}</span>
                </li>
            }
        })
        .collect_view();
    let channel = draft.channel.clone();
    let locale = draft.locale.clone();
    view! {
        <h1 class="text-2xl font-semibold">{format!("{}: templates", app.name)}</h1>
        <p class="mt-2 text-sm text-zinc-600">
            "An app's own wording replaces its providers' for that channel and language. Write "
            <code class="font-mono">"{{ OTP }}"</code>", "<code class="font-mono">"{{ AppName }}"</code>", "
            <code class="font-mono">"{{ OTPURL }}"</code>", "<code class="font-mono">"{{ OTPLink }}"</code>", "
            <code class="font-mono">"{{ OTPTTL }}"</code>" and "<code class="font-mono">"{{ To }}"</code>" (Jinja, or otpgateway's "
            <code class="font-mono">"{{ .OTP }}"</code>")."
        </p>
        <ul class="mt-4 divide-y divide-zinc-200 rounded-xl bg-white ring-1 ring-zinc-200">{rows}</ul>
        {error.map(|e| view! {
            <p role="alert" data-role="template-error" class="mt-4 whitespace-pre-wrap rounded-lg bg-red-50 p-3 text-sm text-red-800 ring-1 ring-red-200">{e}</p>
        })}
        <p data-role="live-error" hidden class="mt-4 whitespace-pre-wrap rounded-lg bg-red-50 p-3 text-sm text-red-800 ring-1 ring-red-200"></p>
        <section aria-labelledby="editor" class="mt-6 rounded-xl bg-white p-6 ring-1 ring-zinc-200">
            <h2 id="editor" class="text-lg font-semibold">"Edit a template"</h2>
            <form method="post" action=base.clone() data-live-preview=format!("{base}/preview") class="mt-4 grid gap-4 sm:grid-cols-2">
                <input type="hidden" name="csrf" value=csrf.clone()/>
                <div>
                    <label for="template-channel" class="block text-sm font-medium">"Channel"</label>
                    <select id="template-channel" name="channel" class=INPUT>
                        {CHANNELS.iter().map(|(value, label)| view! {
                            <option value=*value selected=channel == *value>{*label}</option>
                        }).collect_view()}
                    </select>
                </div>
                <div>
                    <label for="template-locale" class="block text-sm font-medium">"Language"</label>
                    <select id="template-locale" name="locale" class=INPUT>
                        <option value="" selected=locale.is_empty()>"every language"</option>
                        {locales.iter().map(|l| view! {
                            <option value=*l selected=locale == *l>{*l}</option>
                        }).collect_view()}
                    </select>
                </div>
                <div class="sm:col-span-2">
                    <label for="template-subject" class="block text-sm font-medium">"Subject (e-mail)"</label>
                    <input id="template-subject" name="subject" maxlength="200" value=draft.subject class=INPUT/>
                </div>
                <div class="sm:col-span-2">
                    <label for="template-body" class="block text-sm font-medium">"Text"</label>
                    <textarea id="template-body" name="body" rows="4" class=INPUT>{draft.body}</textarea>
                </div>
                <div class="sm:col-span-2">
                    <label for="template-html" class="block text-sm font-medium">"HTML (e-mail, optional)"</label>
                    <textarea id="template-html" name="html" rows="4" class=INPUT>{draft.html}</textarea>
                </div>
                <div class="flex gap-3 sm:col-span-2">
                    <button type="submit" name="action" value="preview" class="rounded-lg px-4 py-2 text-sm font-medium ring-1 ring-zinc-300 hover:bg-zinc-50">"Preview"</button>
                    {manages.then(|| view! {
                        <button type="submit" name="action" value="save" class=BUTTON>"Save template"</button>
                    })}
                </div>
            </form>
        </section>
        // Filled by the server after "Preview", and by static/dashboard.js while typing.
        {
            let shown = preview.is_some();
            let p = preview.unwrap_or(PreviewView { subject: String::new(), text: String::new(), html: None });
            let no_html = p.html.is_none();
            view! {
                <section aria-labelledby="preview" aria-live="polite" hidden=!shown class="mt-6 rounded-xl bg-white p-6 ring-1 ring-zinc-200" data-role="preview">
                    <h2 id="preview" class="text-lg font-semibold">"Preview, with sample values"</h2>
                    <p class="mt-3 font-medium" data-role="preview-subject">{p.subject}</p>
                    <pre class="mt-3 whitespace-pre-wrap break-words font-mono text-sm" data-role="preview-text">{p.text}</pre>
                    <details class="mt-3" hidden=no_html data-role="preview-html-part">
                        <summary class="cursor-pointer text-sm">"HTML part"</summary>
                        <pre class="mt-2 whitespace-pre-wrap break-words font-mono text-xs" data-role="preview-html">{p.html.unwrap_or_default()}</pre>
                    </details>
                </section>
            }
        }
        <p class="mt-6"><a class="underline" href=format!("/dashboard/apps/{}", app.namespace)>"Back to the app"</a></p>
    }
}

/// The messages of a dev inbox, newest first.
#[component]
fn Inbox(messages: Vec<InboxRow>) -> impl IntoView {
    if messages.is_empty() {
        return view! { <p class="mt-4 text-sm text-zinc-600">"No messages yet."</p> }.into_any();
    }
    view! {
        <ol class="mt-4 space-y-3">
            {messages.into_iter().map(|m| view! {
                <li class="rounded-xl bg-white p-4 ring-1 ring-zinc-200" data-inbox-to=m.to.clone()>
                    <p class="text-sm text-zinc-600">
                        {format!("{} UTC · to {} via {} · verification {}", m.at, m.to, m.provider, m.verification)}
                    </p>
                    {(!m.subject.is_empty()).then(|| view! { <p class="mt-1 font-medium">{m.subject.clone()}</p> })}
                    <pre class="mt-2 whitespace-pre-wrap break-words font-mono text-sm" data-role="inbox-body">{m.body}</pre>
                </li>
            }).collect_view()}
        </ol>
    }
    .into_any()
}

/// An app's factors, oldest first.
#[component]
fn Factors(factors: Vec<FactorRow>) -> impl IntoView {
    if factors.is_empty() {
        return view! { <p class="mt-4 text-sm text-zinc-600">"No factors yet."</p> }.into_any();
    }
    view! {
        <div class="mt-4 overflow-x-auto rounded-xl bg-white ring-1 ring-zinc-200" tabindex="0" role="region" aria-label="Factors">
            <table class="min-w-full text-left text-sm">
                <thead class="bg-zinc-100 text-zinc-700">
                    <tr>
                        <th scope="col" class="px-3 py-2">"Factor"</th>
                        <th scope="col" class="px-3 py-2">"User"</th>
                        <th scope="col" class="px-3 py-2">"Label"</th>
                        <th scope="col" class="px-3 py-2">"Status"</th>
                        <th scope="col" class="px-3 py-2">"Codes"</th>
                        <th scope="col" class="px-3 py-2">"Secret"</th>
                        <th scope="col" class="px-3 py-2">"Enrolled (UTC)"</th>
                        <th scope="col" class="px-3 py-2">"Active since (UTC)"</th>
                    </tr>
                </thead>
                <tbody class="divide-y divide-zinc-200">
                    {factors.into_iter().map(|f| view! {
                        <tr data-factor=f.id.clone()>
                            <td class="px-3 py-2 font-mono text-xs">{f.id.clone()}</td>
                            <td class="px-3 py-2">{f.user}</td>
                            <td class="px-3 py-2">{f.label}</td>
                            <td class="px-3 py-2" data-role="factor-status">{f.status}</td>
                            <td class="whitespace-nowrap px-3 py-2">{f.kind}</td>
                            <td class="px-3 py-2 font-mono" aria-label="hidden">"••••••••"</td>
                            <td class="whitespace-nowrap px-3 py-2">{f.created}</td>
                            <td class="whitespace-nowrap px-3 py-2">{f.activated.unwrap_or_else(|| "—".to_owned())}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

#[component]
fn AuditTable(entries: Vec<AuditRow>) -> impl IntoView {
    view! {
        // Focusable, so a keyboard can scroll a wide log sideways.
        <div class="mt-4 overflow-x-auto rounded-xl bg-white ring-1 ring-zinc-200" tabindex="0" role="region" aria-label="Audit log entries">
            <table class="min-w-full text-left text-sm">
                <thead class="bg-zinc-100 text-zinc-700">
                    <tr>
                        <th scope="col" class="px-3 py-2">"When (UTC)"</th>
                        <th scope="col" class="px-3 py-2">"Who"</th>
                        <th scope="col" class="px-3 py-2">"What"</th>
                        <th scope="col" class="px-3 py-2">"Details"</th>
                        <th scope="col" class="px-3 py-2">"From"</th>
                    </tr>
                </thead>
                <tbody class="divide-y divide-zinc-200">
                    {entries.into_iter().map(|e| view! {
                        <tr data-action=e.action.clone() data-audit=e.id>
                            <td class="whitespace-nowrap px-3 py-2">{e.at}</td>
                            <td class="px-3 py-2">{e.actor}</td>
                            <td class="px-3 py-2 font-mono">{e.action.clone()}</td>
                            <td class="px-3 py-2 font-mono text-xs">{e.detail}</td>
                            <td class="px-3 py-2">{e.ip}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}
