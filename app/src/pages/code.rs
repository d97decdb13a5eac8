//! The code-entry page: `/otp/{namespace}/{id}`.
//!
//! The form posts to the same URL, so it works before the WASM arrives and without
//! JavaScript (the server answers with a redirect back here and a `result` in the query).
//! Once hydrated, submission goes through the `check_code` server function instead and the
//! page updates in place.

use super::{Card, NotFound};
use crate::{
    api::{load_page, CheckCode, PageError},
    model::{CheckResult, PageView, Status},
};
use leptos::{either::EitherOf3, ev::SubmitEvent, html::Input, prelude::*};
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

#[component]
pub fn CodePage() -> impl IntoView {
    let params = use_params_map();
    let key = move || {
        let p = params.read();
        (
            p.get("namespace").unwrap_or_default(),
            p.get("id").unwrap_or_default(),
        )
    };
    let page = Resource::new(key, |(namespace, id)| load_page(namespace, id));
    let result = use_query_map().read_untracked().get("result");
    view! {
        <Suspense fallback=|| view! { <Card><p>"Loading…"</p></Card> }>
            {move || {
                let result = result.clone();
                Suspend::new(async move {
                    match page.await {
                        Ok(view) => EitherOf3::A(view! { <CodeCard view result/> }),
                        Err(PageError::NotFound) => EitherOf3::B(view! { <NotFound/> }),
                        Err(_) => EitherOf3::C(view! { <Unavailable/> }),
                    }
                })
            }}
        </Suspense>
    }
}

/// A message under the code field, from the last check.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Notice {
    Incorrect,
    Malformed,
    Unavailable,
    TooManyRequests,
}

impl Notice {
    fn from_query(result: Option<&str>) -> Option<Self> {
        match result? {
            "incorrect" => Some(Notice::Incorrect),
            "malformed" => Some(Notice::Malformed),
            "unavailable" => Some(Notice::Unavailable),
            "limited" => Some(Notice::TooManyRequests),
            _ => None,
        }
    }
}

#[component]
fn CodeCard(view: PageView, result: Option<String>) -> impl IntoView {
    let status = RwSignal::new(view.status);
    let attempts_left = RwSignal::new(view.attempts_left);
    let notice = RwSignal::new(Notice::from_query(result.as_deref()));
    let check = ServerAction::<CheckCode>::new();

    // Effects run only in the browser: this marks the form as hydrated, which is how the
    // browser tests tell the interactive page from the server-rendered one.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));

    Effect::new(move |_| {
        let Some(outcome) = check.value().get() else {
            return;
        };
        match outcome {
            Ok(CheckResult::Verified | CheckResult::AlreadyVerified) => {
                status.set(Status::Verified)
            }
            Ok(CheckResult::Incorrect {
                attempts_left: left,
            }) => {
                attempts_left.set(left);
                notice.set(Some(Notice::Incorrect));
                if left == 0 {
                    status.set(Status::Locked);
                }
            }
            Ok(CheckResult::Locked) => status.set(Status::Locked),
            Ok(CheckResult::Expired) => status.set(Status::Expired),
            Ok(CheckResult::Cancelled) => status.set(Status::Cancelled),
            Ok(CheckResult::Malformed) => notice.set(Some(Notice::Malformed)),
            Err(PageError::TooManyRequests) => notice.set(Some(Notice::TooManyRequests)),
            Err(_) => notice.set(Some(Notice::Unavailable)),
        }
    });

    let input = NodeRef::<Input>::new();
    let (namespace, id) = (view.namespace.clone(), view.id.clone());
    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let code = input.get().map(|el| el.value()).unwrap_or_default();
        check.dispatch(CheckCode {
            namespace: namespace.clone(),
            id: id.clone(),
            code: code.trim().to_owned(),
        });
    };

    let action_url = format!("/otp/{}/{}", view.namespace, view.id);
    let code_length = view.code_length.to_string();
    let input_mode = if view.numeric_code { "numeric" } else { "text" };
    let pattern = if view.numeric_code {
        "[0-9]*"
    } else {
        "[A-Za-z0-9]*"
    };
    let heading = match view.channel.as_str() {
        "E-mail" => "Check your e-mail",
        "SMS" | "WhatsApp" | "Phone call" => "Check your phone",
        _ => "Enter your verification code",
    };
    let sent_to = if view.masked_address.is_empty() {
        "Enter the code you received.".to_owned()
    } else {
        format!("We sent a code to {}.", view.masked_address)
    };
    let minutes = view.expires_in_secs.div_ceil(60);
    let app_name = view.app_name.clone();

    view! {
        <Title text=format!("Verify · {}", view.app_name)/>
        <Card>
            <p class="text-sm font-medium text-zinc-500">{app_name}</p>
            {move || match status.get() {
                Status::Pending => EitherOf3::A(view! {
                    <h1 class="mt-1 text-2xl font-semibold">{heading}</h1>
                    <p class="mt-2 text-sm text-zinc-600">{sent_to.clone()}</p>
                    <form
                        class="mt-6 space-y-4"
                        method="post"
                        action=action_url.clone()
                        data-hydrated=move || hydrated.get().to_string()
                        on:submit=on_submit.clone()
                    >
                        <input type="hidden" name="action" value="check"/>
                        <label for="otp" class="block text-sm font-medium">"Verification code"</label>
                        <input
                            id="otp"
                            name="otp"
                            node_ref=input
                            type="text"
                            required
                            autocomplete="one-time-code"
                            inputmode=input_mode
                            pattern=pattern
                            minlength=code_length.clone()
                            maxlength=code_length.clone()
                            aria-describedby="otp-help"
                            class="block w-full rounded-lg border border-zinc-300 px-4 py-3 text-center font-mono text-2xl tracking-[0.4em] focus:border-zinc-900 focus:outline-none focus:ring-2 focus:ring-zinc-900"
                        />
                        <p id="otp-help" class="text-sm text-zinc-600" role="status" aria-live="polite">
                            {move || notice_text(notice.get(), attempts_left.get())}
                        </p>
                        <button
                            type="submit"
                            disabled=move || check.pending().get()
                            class="w-full rounded-lg bg-zinc-900 px-4 py-3 font-medium text-white hover:bg-zinc-700 disabled:opacity-60"
                        >
                            "Verify"
                        </button>
                        <p class="text-xs text-zinc-500">
                            {format!("The code expires in about {minutes} min.")}
                        </p>
                    </form>
                }),
                Status::Verified => EitherOf3::B(view! {
                    <div data-state="verified" class="mt-2">
                        <h1 class="text-2xl font-semibold text-emerald-700">"Verified"</h1>
                        <p class="mt-2 text-sm text-zinc-600">"Thank you. You can close this page."</p>
                    </div>
                }),
                closed => EitherOf3::C(view! {
                    <div data-state=closed.as_str() class="mt-2">
                        <h1 class="text-2xl font-semibold text-red-700">{closed_title(closed)}</h1>
                        <p class="mt-2 text-sm text-zinc-600">"Ask for a new code where you started."</p>
                    </div>
                }),
            }}
        </Card>
    }
}

fn notice_text(notice: Option<Notice>, attempts_left: u32) -> String {
    let left = match attempts_left {
        1 => "1 attempt left".to_owned(),
        n => format!("{n} attempts left"),
    };
    match notice {
        None => left,
        Some(Notice::Incorrect) => format!("That code is not right. {left}."),
        Some(Notice::Malformed) => "Type the code exactly as you received it.".to_owned(),
        Some(Notice::Unavailable) => "Something went wrong. Try again in a moment.".to_owned(),
        Some(Notice::TooManyRequests) => {
            "Too many tries. Wait a few minutes, then try again.".to_owned()
        }
    }
}

fn closed_title(status: Status) -> &'static str {
    match status {
        Status::Expired => "This code has expired",
        Status::Locked => "Too many attempts",
        Status::Cancelled => "This verification was cancelled",
        Status::Pending | Status::Verified => "",
    }
}

#[component]
fn Unavailable() -> impl IntoView {
    view! {
        <Card>
            <h1 class="text-xl font-semibold">"Temporarily unavailable"</h1>
            <p class="mt-2 text-sm text-zinc-600">"Try again in a moment."</p>
        </Card>
    }
}
