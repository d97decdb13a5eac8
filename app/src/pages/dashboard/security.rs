//! Two-factor sign-in: the second step after a right password (a code or a recovery
//! code, or the enrolment a team's requirement asks for), the recovery codes shown once,
//! and the member's security page (turn it on or off; owners require it for the team).

use super::{ALERT, BUTTON, INPUT};
use crate::model::EnrolmentView;
use leptos::prelude::*;

/// What the security page shows.
#[derive(Debug, Clone)]
pub struct SecurityView {
    pub enabled: bool,
    pub recovery_left: u32,
    pub required: bool,
    pub owner: bool,
    /// An enrolment just started: its QR code and key, and the form for its first code.
    pub enrolment: Option<EnrolmentView>,
    /// Recovery codes just made, shown this once.
    pub codes: Option<Vec<String>>,
    pub error: Option<String>,
}

/// The QR code and the key of an enrolment.
#[component]
fn Enrolment(enrolment: EnrolmentView) -> impl IntoView {
    view! {
        <p class="mt-4 text-sm text-zinc-600">
            "Scan the QR code with your authenticator app, or type the key by hand, then enter the code it shows."
        </p>
        <div class="mt-4 w-56 [&>svg]:h-auto [&>svg]:w-full" role="img" aria-label="QR code that adds your dashboard account to an authenticator app" data-role="totp-qr" inner_html=enrolment.qr_svg></div>
        <p class="mt-2 text-sm">"Key: "<code class="font-mono font-semibold" data-role="totp-key">{enrolment.secret}</code></p>
    }
}

/// The code field of both forms.
#[component]
fn CodeField(label: &'static str) -> impl IntoView {
    view! {
        <div>
            <label for="code" class="block text-sm font-medium">{label}</label>
            <input id="code" name="code" required autocomplete="one-time-code" maxlength="16" class=INPUT/>
        </div>
    }
}

/// The second step of a sign-in.
#[component]
pub fn SecondStep(
    email: String,
    enrolment: Option<EnrolmentView>,
    error: Option<String>,
) -> impl IntoView {
    let enrolling = enrolment.is_some();
    view! {
        <main class="mx-auto flex min-h-screen max-w-md items-center px-4 py-12">
            <div class="w-full rounded-2xl bg-white p-8 shadow-sm ring-1 ring-zinc-200">
                <h1 class="text-xl font-semibold">
                    {if enrolling { "Set up your authenticator app" } else { "Enter your code" }}
                </h1>
                <p class="mt-2 text-sm text-zinc-600" data-role="member">{email}</p>
                {enrolling.then(|| view! {
                    <p class="mt-2 text-sm text-zinc-600">"Your team requires a second factor to sign in."</p>
                })}
                {enrolment.map(|e| view! { <Enrolment enrolment=e/> })}
                {error.map(|e| view! { <p role="alert" class=ALERT>{e}</p> })}
                <form method="post" action="/dashboard/sign-in/code" class="mt-6 space-y-4">
                    <CodeField label=if enrolling {
                        "Code from your authenticator app"
                    } else {
                        "Code from your authenticator app, or a recovery code"
                    }/>
                    <button type="submit" class=BUTTON>"Continue"</button>
                </form>
                <p class="mt-6 text-sm"><a class="underline" href="/dashboard/sign-in">"Start again"</a></p>
            </div>
        </main>
    }
}

/// Recovery codes, shown once.
#[component]
pub fn RecoveryCodes(codes: Vec<String>) -> impl IntoView {
    view! {
        <section class="mt-6 rounded-xl bg-amber-50 p-4 ring-1 ring-amber-200" aria-labelledby="recovery">
            <h2 id="recovery" class="font-semibold">"Your recovery codes"</h2>
            <p class="mt-1 text-sm">
                "Each signs you in once without your authenticator app. Keep them somewhere safe: they are shown only now."
            </p>
            <ul class="mt-3 grid grid-cols-2 gap-2 font-mono text-sm" data-role="recovery-codes">
                {codes.into_iter().map(|c| view! { <li>{c}</li> }).collect_view()}
            </ul>
        </section>
    }
}

/// The member's security page.
#[component]
pub fn Security(view: SecurityView, csrf: String) -> impl IntoView {
    let SecurityView {
        enabled,
        recovery_left,
        required,
        owner,
        enrolment,
        codes,
        error,
    } = view;
    let status = if enabled {
        format!("On. {recovery_left} recovery codes left.")
    } else {
        "Off.".to_owned()
    };
    view! {
        <h1 class="text-2xl font-semibold">"Security"</h1>
        {error.map(|e| view! { <p role="alert" class=ALERT>{e}</p> })}
        {codes.map(|codes| view! { <RecoveryCodes codes/> })}
        <section class="mt-6" aria-labelledby="two-factor">
            <h2 id="two-factor" class="text-lg font-semibold">"Authenticator app"</h2>
            <p class="mt-1 text-sm" data-role="two-factor">{status}</p>
            {match (enabled, enrolment) {
                (_, Some(e)) => view! {
                    <Enrolment enrolment=e/>
                    <form method="post" action="/dashboard/security/confirm" class="mt-4 space-y-4">
                        <input type="hidden" name="csrf" value=csrf.clone()/>
                        <CodeField label="Code from your authenticator app"/>
                        <button type="submit" class=BUTTON>"Turn on"</button>
                    </form>
                }
                .into_any(),
                (false, None) => view! {
                    <form method="post" action="/dashboard/security/enrol" class="mt-4">
                        <input type="hidden" name="csrf" value=csrf.clone()/>
                        <button type="submit" class=BUTTON>"Set up an authenticator app"</button>
                    </form>
                }
                .into_any(),
                (true, None) => view! {
                    <form method="post" action="/dashboard/security/disable" class="mt-4">
                        <input type="hidden" name="csrf" value=csrf.clone()/>
                        <button type="submit" class=BUTTON>"Turn off"</button>
                    </form>
                }
                .into_any(),
            }}
        </section>
        <section class="mt-8" aria-labelledby="team-rule">
            <h2 id="team-rule" class="text-lg font-semibold">"Team"</h2>
            <p class="mt-1 text-sm" data-role="required">
                {if required {
                    "Every member needs an authenticator app to sign in."
                } else {
                    "Members may sign in with a password alone."
                }}
            </p>
            {owner.then(|| view! {
                <form method="post" action="/dashboard/security/require" class="mt-4">
                    <input type="hidden" name="csrf" value=csrf.clone()/>
                    <input type="hidden" name="on" value=if required { "false" } else { "true" }/>
                    <button type="submit" class=BUTTON>
                        {if required { "Stop requiring it" } else { "Require it of every member" }}
                    </button>
                </form>
            })}
        </section>
    }
}
