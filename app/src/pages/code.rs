//! The hosted verification page: `/otp/{namespace}/{id}`.
//!
//! It asks for the address when the integrator did not give one, then for the code, and
//! shows the closed states. Every form posts to the same URL, so the page works before the
//! WASM arrives and without JavaScript (the server answers with a redirect back here and a
//! `result` in the query, or on to the app's `redirect_url`). Once hydrated, a code is
//! checked in place (the same post, answered as JSON), the page follows the verification
//! live, and the expiry and resend timers count down; the other forms stay ordinary posts.

use crate::{
    i18n::{fill, Texts},
    model::{FallbackOption, InboundView, LiveEvent, PageView, Status},
};
use leptos::{
    either::{Either, EitherOf3},
    ev::SubmitEvent,
    html::Input,
    prelude::*,
};

/// The page as the server renders it: the document around the card. Server-only, so
/// none of it reaches the WASM.
#[cfg(feature = "ssr")]
mod document {
    use super::{CardSeed, CodeCard};
    use crate::{
        api::PageError,
        i18n::fill,
        model::PageView,
        pages::{accent_rules, Card, NotFoundCard},
    };
    use leptos::prelude::*;

    /// The code page as a whole document, from the state read before rendering: no router,
    /// no suspense, one synchronous pass (see [`crate::render_document`]). A verification
    /// nobody can see is "not found"; a failed read, "temporarily unavailable".
    pub fn render_code_page(
        options: &LeptosOptions,
        page: Result<PageView, PageError>,
        result: Option<String>,
        confirm: Option<String>,
    ) -> crate::RenderedPage {
        use crate::{i18n::Lang, render_document};
        use http::StatusCode;
        // An e-mail link carries the code: the page asks for one press before checking it, so
        // a mail scanner that opens links verifies nothing.
        let confirm = confirm.filter(|c| {
            (4..=16).contains(&c.len()) && c.chars().all(|ch| ch.is_ascii_alphanumeric())
        });
        match page {
            Ok(view) => {
                let title = fill(view.lang.texts().page_title, &[&view.app_name]);
                let accent = view.accent_color.as_deref().and_then(accent_rules);
                render_document(
                    options,
                    StatusCode::OK,
                    view.lang,
                    move |nonce| {
                        let nonce = nonce.clone();
                        view! {
                            <title>{title}</title>
                            {accent.map(|rules| view! { <style nonce=nonce>{rules}</style> })}
                        }
                    },
                    move || view! { <CodeBody view result confirm/> },
                )
            }
            Err(PageError::NotFound) => render_document(
                options,
                StatusCode::NOT_FOUND,
                Lang::En,
                |_| view! { <title>"otpgate"</title> },
                || view! { <NotFoundCard/> },
            ),
            Err(_) => render_document(
                options,
                StatusCode::SERVICE_UNAVAILABLE,
                Lang::En,
                |_| view! { <title>"otpgate"</title> },
                || view! { <UnavailableCard/> },
            ),
        }
    }

    /// What surrounds the verification on the page, rendered on the server only: the app's
    /// logo and name, and the card. The card's starting state goes along as JSON in
    /// `#otp-seed`, which the island reads in the browser.
    #[component]
    fn CodeBody(view: PageView, result: Option<String>, confirm: Option<String>) -> impl IntoView {
        #[derive(serde::Serialize)]
        struct Seed<'a> {
            view: &'a PageView,
            result: &'a Option<String>,
            confirm: &'a Option<String>,
        }
        let seed = serde_json::to_string(&Seed {
            view: &view,
            result: &result,
            confirm: &confirm,
        })
        .expect("the page state serialises");
        let logo = view.logo_url.clone();
        let app_name = view.app_name.clone();
        provide_context(CardSeed {
            view,
            result,
            confirm,
        });
        view! {
            <Card>
                {logo.map(|src| view! {
                    <img src=src alt="" class="mb-4 h-10 w-auto" data-role="logo"/>
                })}
                <p class="text-sm font-medium text-zinc-600">{app_name}</p>
                <div id="otp-seed" hidden data-seed=seed></div>
                <CodeCard/>
            </Card>
        }
    }

    #[component]
    fn UnavailableCard() -> impl IntoView {
        view! {
            <Card>
                <h1 class="text-xl font-semibold">"Temporarily unavailable"</h1>
                <p class="mt-2 text-sm text-zinc-600">"Try again in a moment."</p>
            </Card>
        }
    }
}

#[cfg(feature = "ssr")]
pub use document::render_code_page;

/// A message under a form, from the last action.
#[derive(Clone, PartialEq, Eq)]
enum Notice {
    Incorrect,
    Malformed,
    Unavailable,
    TooManyRequests,
    Resent,
    Sent,
    InvalidAddress,
}

impl Notice {
    fn from_query(result: Option<&str>) -> Option<Self> {
        Some(match result? {
            "incorrect" => Notice::Incorrect,
            "malformed" => Notice::Malformed,
            "unavailable" => Notice::Unavailable,
            "limited" => Notice::TooManyRequests,
            "resent" => Notice::Resent,
            "sent" => Notice::Sent,
            "invalid_address" => Notice::InvalidAddress,
            _ => return None,
        })
    }
}

/// The page's own URL for its forms: `/otp/{namespace}/{id}?lang=…[&origin=…]`.
fn form_target(view: &PageView) -> String {
    let mut target = format!(
        "/otp/{}/{}?lang={}",
        view.namespace,
        view.id,
        view.lang.tag()
    );
    if let Some(origin) = &view.embed_origin {
        target.push_str("&origin=");
        for byte in origin.bytes() {
            if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                target.push(char::from(byte));
            } else {
                target.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    target
}

/// `m:ss` for a countdown.
fn clock(secs: u64) -> String {
    format!("{}:{:02}", secs / 60, secs % 60)
}

/// What the verification card starts from: the page state, the outcome of the last form
/// post (`?result=`) and the code of an e-mail link (`?code=`).
#[derive(Clone)]
struct CardSeed {
    view: PageView,
    result: Option<String>,
    confirm: Option<String>,
}

/// The verification itself: the only part of the page that runs in the browser (an
/// island), so the WASM holds this and what it uses, not the router or the page shell.
/// It takes no props (they would bring serde into the WASM); its state comes from the
/// shell's context on the server and from `#otp-seed` in the browser. Codes are checked
/// in place; resend, address and "didn't get it?" are ordinary form posts.
#[island]
fn CodeCard() -> impl IntoView {
    let CardSeed {
        view,
        result,
        confirm,
    } = card_seed();
    let confirm = RwSignal::new(confirm);
    let t: &'static Texts = view.lang.texts();
    // The state the page was rendered with; it never changes in place (a form post loads
    // the page anew), live events move the signals below.
    let page = StoredValue::new(view.clone());
    let status = RwSignal::new(view.status);
    let attempts_left = RwSignal::new(view.attempts_left);
    let notice = RwSignal::new(Notice::from_query(result.as_deref()));
    let checking = RwSignal::new(false);

    // Seconds since the page was rendered, ticking once hydrated. Effects run only in the
    // browser: `hydrated` is how the browser tests tell the interactive page apart.
    // Framed by an allowed site's embed modal: the result goes to that site.
    let embed = StoredValue::new(
        view.embed_origin
            .clone()
            .map(|origin| (origin, view.namespace.clone(), view.id.clone())),
    );
    let elapsed = RwSignal::new(0u64);
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| {
        hydrated.set(true);
        set_interval(
            move || elapsed.update(|s| *s += 1),
            std::time::Duration::from_secs(1),
        );
    });
    // Timers count from the moment the page was rendered.
    let expires_left = move || {
        page.with_value(|v| v.expires_in_secs)
            .saturating_sub(elapsed.get())
    };
    let resend_left =
        move || page.with_value(|v| v.resend_in_secs.map(|s| s.saturating_sub(elapsed.get())));
    Effect::new(move |_| {
        if status.get() == Status::Pending && hydrated.get() && expires_left() == 0 {
            status.set(Status::Expired);
        }
    });

    // A check's answer (the form's outcome names, see `server/src/http/hosted.rs`).
    let settle = move |result: &str, left: u32, redirect: Option<String>| {
        // Whatever the outcome, a one-click link has been used: show the ordinary form next.
        confirm.set(None);
        match result {
            "verified" => {
                status.set(Status::Verified);
                finish(&embed.get_value(), redirect);
            }
            "incorrect" => {
                attempts_left.set(left);
                notice.set(Some(Notice::Incorrect));
                if left == 0 {
                    status.set(Status::Locked);
                }
            }
            "locked" => status.set(Status::Locked),
            "expired" => status.set(Status::Expired),
            "cancelled" => status.set(Status::Cancelled),
            "malformed" => notice.set(Some(Notice::Malformed)),
            "limited" => notice.set(Some(Notice::TooManyRequests)),
            // It changed meanwhile (expired, verified elsewhere): show what it is now.
            "closed" => {
                let _ = window().location().reload();
            }
            _ => notice.set(Some(Notice::Unavailable)),
        }
    };
    let check_url = StoredValue::new(format!("/otp/{}/{}", view.namespace, view.id));
    let check = move |code: String| {
        #[cfg(feature = "hydrate")]
        {
            checking.set(true);
            leptos::task::spawn_local(async move {
                let url = check_url.get_value();
                let reply = fetch_json(&url, Some(&[("action", "check"), ("otp", &code)])).await;
                checking.set(false);
                match reply {
                    Some(r) => settle(
                        &r.string("result"),
                        r.uint("attempts_left"),
                        r.str("redirect"),
                    ),
                    None => settle("unavailable", 0, None),
                }
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (code, settle, check_url);
    };

    // Live updates: the verification may change elsewhere (a check from the integrator's
    // backend, an inbound SMS, expiry); the page follows it, and polls if it cannot.
    let delivery = RwSignal::new(None::<String>);
    let apply = move |event: LiveEvent| match event {
        LiveEvent::Subscribed { .. } => {}
        LiveEvent::Delivery { state } => delivery.set(Some(state)),
        LiveEvent::Attempt {
            attempts_left: left,
        } => attempts_left.set(left),
        LiveEvent::Locked => status.set(Status::Locked),
        LiveEvent::Expired => status.set(Status::Expired),
        LiveEvent::Cancelled => status.set(Status::Cancelled),
        LiveEvent::Verified { redirect, .. } => {
            if status.get_untracked() != Status::Verified {
                status.set(Status::Verified);
                finish(&embed.get_value(), redirect);
            }
        }
    };
    let _ = apply;
    #[cfg(feature = "hydrate")]
    {
        let (namespace, id, token) = (
            view.namespace.clone(),
            view.id.clone(),
            view.live_token.clone(),
        );
        Effect::new(move |_| follow(&namespace, &id, &token, apply, status));
    }

    let code_input = NodeRef::<Input>::new();
    let on_check = move |ev: SubmitEvent| {
        ev.prevent_default();
        let code = code_input.get().map(|el| el.value()).unwrap_or_default();
        check(code.trim().to_owned());
    };

    // Forms post back to this page with its language and embedding site, so the page
    // that answers speaks the same language and still reports to the modal's host.
    let action_url = form_target(&view);
    let code_length = view.code_length.to_string();
    let input_mode = if view.numeric_code { "numeric" } else { "text" };
    let pattern = if view.numeric_code {
        "[0-9]*"
    } else {
        "[A-Za-z0-9]*"
    };
    let phone = view.address_kind == "phone";
    let heading = match (phone, view.address_kind.as_str()) {
        (true, _) => t.check_phone,
        (_, "email") => t.check_email,
        _ => t.enter_code,
    };
    let busy = move || checking.get();
    let notice_line = move || notice_text(notice.get(), attempts_left.get(), t);

    let address_form = {
        let action_url = action_url.clone();
        move || {
            let (label, kind, auto, hint) = if phone {
                (t.mobile_number, "tel", "tel", t.phone_hint)
            } else if page.with_value(|v| v.address_kind == "email") {
                (t.email_address, "email", "email", t.email_hint)
            } else {
                (t.address, "text", "off", t.address_hint)
            };
            view! {
                <h1 class="mt-1 text-2xl font-semibold">{t.verify_it_is_you}</h1>
                <form
                    class="mt-6 space-y-4"
                    method="post"
                    action=action_url.clone()
                    data-hydrated=move || hydrated.get().to_string()
                >
                    <input type="hidden" name="action" value="address"/>
                    {phone.then(|| {
                        let (countries, picked) = page.with_value(|v| (v.countries.clone(), v.country.clone()));
                        view! {
                            <label for="country" class="block text-sm font-medium">{t.country}</label>
                            <select
                                id="country"
                                name="country"
                                class="block w-full rounded-lg border border-zinc-300 bg-white px-4 py-3 focus:border-(--accent) focus:outline-none focus:ring-2 focus:ring-(--accent)"
                            >
                                <option value="" selected=picked.is_none()>{t.country_in_number}</option>
                                {countries.into_iter().map(|c| {
                                    let selected = picked.as_deref() == Some(c.region.as_str());
                                    let label = format!("{} +{}", c.region, c.code);
                                    view! { <option value=c.region selected=selected>{label}</option> }
                                }).collect_view()}
                            </select>
                        }
                    })}
                    <label for="address" class="block text-sm font-medium">{label}</label>
                    <input
                        id="address"
                        name="address"
                        type=kind
                        required
                        autocomplete=auto
                        aria-describedby="address-help"
                        class="block w-full rounded-lg border border-zinc-300 px-4 py-3 text-lg focus:border-(--accent) focus:outline-none focus:ring-2 focus:ring-(--accent)"
                    />
                    <p id="address-help" class="text-sm text-zinc-600" role="status" aria-live="polite">
                        {move || match notice.get() {
                            Some(n @ (Notice::InvalidAddress | Notice::TooManyRequests | Notice::Unavailable)) => {
                                notice_text(Some(n), 0, t)
                            }
                            _ => hint.to_owned(),
                        }}
                    </p>
                    <button
                        type="submit"
                        disabled=busy
                        class="w-full rounded-lg bg-(--accent) px-4 py-3 font-medium text-(--accent-fg) hover:opacity-90 disabled:opacity-60"
                    >
                        {t.send_code}
                    </button>
                </form>
                <Fallbacks action_url=action_url.clone() options=page.with_value(|v| v.fallbacks.clone()) t/>
            }
        }
    };

    let code_form = move || {
        let resend_url = action_url.clone();
        let sent_to = page.with_value(|v| {
            if v.masked_address.is_empty() {
                t.enter_received.to_owned()
            } else {
                fill(t.sent_to, &[&v.masked_address])
            }
        });
        view! {
            <h1 class="mt-1 text-2xl font-semibold">{heading}</h1>
            <p class="mt-2 text-sm text-zinc-600">{sent_to}</p>
            <form
                class="mt-6 space-y-4"
                method="post"
                action=action_url.clone()
                data-hydrated=move || hydrated.get().to_string()
                on:submit=on_check
            >
                <input type="hidden" name="action" value="check"/>
                <label for="otp" class="block text-sm font-medium">{t.code_label}</label>
                <input
                    id="otp"
                    name="otp"
                    node_ref=code_input
                    type="text"
                    required
                    autocomplete="one-time-code"
                    inputmode=input_mode
                    pattern=pattern
                    minlength=code_length.clone()
                    maxlength=code_length.clone()
                    aria-describedby="otp-help"
                    class="block w-full rounded-lg border border-zinc-300 px-4 py-3 text-center font-mono text-2xl tracking-[0.4em] focus:border-(--accent) focus:outline-none focus:ring-2 focus:ring-(--accent)"
                />
                <p id="otp-help" class="text-sm text-zinc-600" role="status" aria-live="polite">
                    {notice_line}
                </p>
                <button
                    type="submit"
                    disabled=busy
                    class="w-full rounded-lg bg-(--accent) px-4 py-3 font-medium text-(--accent-fg) hover:opacity-90 disabled:opacity-60"
                >
                    {t.verify}
                </button>
                <p class="text-sm text-zinc-600" data-role="delivery" aria-live="polite">
                    {move || delivery.get().map(|state| match state.as_str() {
                        "sent" => t.delivery_sent,
                        "delivered" => t.delivery_delivered,
                        _ => t.delivery_failed,
                    })}
                </p>
                <p class="text-xs text-zinc-600" data-role="expiry">
                    {move || fill(t.expires_in, &[&clock(expires_left())])}
                </p>
            </form>
            {move || resend_left().map(|_| view! {
                <form
                    class="mt-4"
                    method="post"
                    action=resend_url.clone()
                >
                    <input type="hidden" name="action" value="resend"/>
                    <button
                        type="submit"
                        data-role="resend"
                        disabled=move || { busy() || resend_left().unwrap_or(0) != 0 }
                        class="text-sm font-medium text-zinc-900 underline underline-offset-4 disabled:text-zinc-600 disabled:no-underline"
                    >
                        {move || match resend_left().unwrap_or(0) {
                            0 => t.send_new.to_owned(),
                            s => fill(t.send_new_in, &[&clock(s)]),
                        }}
                    </button>
                </form>
            })}
            <Fallbacks action_url=action_url.clone() options=page.with_value(|v| v.fallbacks.clone()) t/>
        }
    };

    let confirm_view = {
        let action_url = form_target(&view);
        move || {
            let code = confirm.get_untracked().unwrap_or_default();
            let dispatch_code = code.clone();
            let on_confirm = move |ev: SubmitEvent| {
                ev.prevent_default();
                check(dispatch_code.clone());
            };
            view! {
                <h1 class="mt-1 text-2xl font-semibold">{t.confirm_title}</h1>
                <p class="mt-2 text-sm text-zinc-600">
                    {page.with_value(|v| fill(t.confirm_body, &[&v.masked_address]))}
                </p>
                <form
                    class="mt-6"
                    method="post"
                    action=action_url.clone()
                    data-hydrated=move || hydrated.get().to_string()
                    on:submit=on_confirm
                >
                    <input type="hidden" name="action" value="check"/>
                    <input type="hidden" name="otp" value=code/>
                    <button
                        type="submit"
                        data-role="confirm"
                        disabled=busy
                        class="w-full rounded-lg bg-(--accent) px-4 py-3 font-medium text-(--accent-fg) hover:opacity-90 disabled:opacity-60"
                    >
                        {t.confirm}
                    </button>
                </form>
            }
        }
    };

    let inbound_url = form_target(&view);
    let inbound_view = move || {
        let inbound = page
            .with_value(|v| v.inbound.clone())
            .unwrap_or_else(|| InboundView {
                number: String::new(),
                code: String::new(),
                sms_link: String::new(),
                qr_svg: String::new(),
            });
        view! {
            <h1 class="mt-1 text-2xl font-semibold">{t.qr_title}</h1>
            <p class="mt-2 text-sm text-zinc-600">
                {t.qr_help}
            </p>
            <div class="mx-auto mt-6 w-56" role="img" aria-label=t.qr_alt inner_html=inbound.qr_svg></div>
            <dl class="mt-6 grid grid-cols-[auto_1fr] gap-x-4 gap-y-2 text-sm">
                <dt class="text-zinc-600">{t.send_label}</dt>
                <dd class="font-mono text-lg font-semibold tracking-widest" data-role="inbound-code">{inbound.code}</dd>
                <dt class="text-zinc-600">{t.to_label}</dt>
                <dd class="font-mono text-lg" data-role="inbound-number">{inbound.number}</dd>
            </dl>
            <a
                href=inbound.sms_link
                class="mt-6 block w-full rounded-lg bg-(--accent) px-4 py-3 text-center font-medium text-(--accent-fg) hover:opacity-90"
            >
                {t.open_messages}
            </a>
            <p
                class="mt-4 text-sm text-zinc-600"
                role="status"
                aria-live="polite"
                data-hydrated=move || hydrated.get().to_string()
            >
                {move || fill(t.waiting, &[&clock(expires_left())])}
            </p>
            <Fallbacks action_url=inbound_url.clone() options=page.with_value(|v| v.fallbacks.clone()) t/>
        }
    };

    view! {
        {move || match status.get() {
                Status::Pending if confirm.with(Option::is_some) && !page.with_value(|v| v.needs_address) => {
                    EitherOf3::B(Either::Right(confirm_view()))
                }
                Status::Pending if page.with_value(|v| v.inbound.is_some()) => {
                    EitherOf3::A(EitherOf3::A(inbound_view()))
                }
                Status::Pending if page.with_value(|v| v.needs_address) => {
                    EitherOf3::A(EitherOf3::B(address_form()))
                }
                Status::Pending => EitherOf3::A(EitherOf3::C(code_form())),
                Status::Verified => EitherOf3::B(Either::Left(view! {
                    <div data-state="verified" class="mt-2">
                        <h1 class="text-2xl font-semibold text-emerald-700">{t.verified_title}</h1>
                        <p class="mt-2 text-sm text-zinc-600">{t.verified_body}</p>
                    </div>
                })),
                closed => EitherOf3::C(view! {
                    <div data-state=closed.as_str() class="mt-2">
                        <h1 class="text-2xl font-semibold text-red-700">{closed_title(closed, t)}</h1>
                        <p class="mt-2 text-sm text-zinc-600">{t.closed_body}</p>
                    </div>
                }),
            }}
    }
}

/// "Didn't get it?": a plain form per other way to get a code. A switch changes what the
/// page asks for (another kind of address, or the QR page), so it is an ordinary post and
/// page load, with JavaScript or without.
#[component]
fn Fallbacks(action_url: String, options: Vec<FallbackOption>, t: &'static Texts) -> impl IntoView {
    (!options.is_empty()).then(|| {
        view! {
            <section class="mt-6 border-t border-zinc-200 pt-4" aria-labelledby="fallbacks" data-role="fallbacks">
                <h2 id="fallbacks" class="text-sm font-medium">{t.didnt_get_it}</h2>
                <ul class="mt-2 space-y-2">
                    {options.into_iter().map(|option| {
                        let label = match option.kind.as_str() {
                            "email" => t.via_email,
                            "sms" => t.via_sms,
                            "whatsapp" => t.via_whatsapp,
                            "voice" => t.via_voice,
                            "qr" => t.via_qr,
                            _ => t.via_other,
                        };
                        view! {
                            <li>
                                <form method="post" action=action_url.clone()>
                                    <input type="hidden" name="action" value="switch"/>
                                    <input type="hidden" name="provider" value=option.provider/>
                                    <button
                                        type="submit"
                                        data-fallback=option.kind
                                        class="text-sm font-medium text-zinc-900 underline underline-offset-4"
                                    >
                                        {label}
                                    </button>
                                </form>
                            </li>
                        }
                    }).collect_view()}
                </ul>
            </section>
        }
    })
}

fn notice_text(notice: Option<Notice>, attempts_left: u32, t: &Texts) -> String {
    let left = match attempts_left {
        1 => t.one_attempt_left.to_owned(),
        n => fill(t.attempts_left, &[&n.to_string()]),
    };
    match notice {
        None => capitalised(&left),
        Some(Notice::Incorrect) => fill(t.incorrect, &[&left]),
        Some(Notice::Malformed) => t.malformed.to_owned(),
        Some(Notice::Unavailable) => t.unavailable.to_owned(),
        Some(Notice::TooManyRequests) => t.too_many.to_owned(),
        Some(Notice::Resent) => fill(t.resent, &[&left]),
        Some(Notice::Sent) => fill(t.sent, &[&left]),
        Some(Notice::InvalidAddress) => t.invalid_address.to_owned(),
    }
}

/// The first letter upper-cased ("noch 2 Versuche" → "Noch 2 Versuche").
fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn closed_title(status: Status, t: &Texts) -> &'static str {
    match status {
        Status::Expired => t.expired_title,
        Status::Locked => t.locked_title,
        Status::Cancelled => t.cancelled_title,
        Status::Pending | Status::Verified => "",
    }
}

/// Follows the verification over Server-Sent Events; when the stream fails, polls the page
/// state every few seconds instead.
#[cfg(feature = "hydrate")]
fn follow(
    namespace: &str,
    id: &str,
    token: &str,
    apply: impl Fn(LiveEvent) + Copy + 'static,
    status: RwSignal<Status>,
) {
    use wasm_bindgen::{closure::Closure, JsCast};
    let url = format!("/v1/verifications/{id}/events?token={token}");
    let Ok(source) = web_sys::EventSource::new(&url) else {
        poll(namespace.to_owned(), id.to_owned(), status);
        return;
    };
    let on_event =
        Closure::<dyn Fn(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
            if let Some(event) = e
                .data()
                .as_string()
                .and_then(|d| json::Json::parse(&d))
                .and_then(|j| json::live_event(&j))
            {
                apply(event);
            }
        });
    for name in [
        "subscribed",
        "delivery",
        "attempt",
        "locked",
        "verified",
        "expired",
        "cancelled",
    ] {
        let _ = source.add_event_listener_with_callback(name, on_event.as_ref().unchecked_ref());
    }
    on_event.forget();
    let (namespace, id) = (namespace.to_owned(), id.to_owned());
    let failed_source = source.clone();
    let on_error = Closure::<dyn Fn()>::new(move || {
        // The server ends the stream after a final event; anything else is a failure.
        failed_source.close();
        if status.get_untracked() == Status::Pending {
            poll(namespace.clone(), id.clone(), status);
        }
    });
    source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    on_error.forget();
}

/// Polls whether the verification was verified, every three seconds while it is open.
#[cfg(feature = "hydrate")]
fn poll(namespace: String, id: String, status: RwSignal<Status>) {
    let handle = std::rc::Rc::new(std::cell::Cell::new(None::<IntervalHandle>));
    let own = handle.clone();
    let started = set_interval_with_handle(
        move || {
            if status.get_untracked() != Status::Pending {
                if let Some(h) = own.take() {
                    h.clear();
                }
                return;
            }
            let url = format!("/otp/{namespace}/{id}/status");
            leptos::task::spawn_local(async move {
                // `{"status": "success", "data": {"closed": bool}}`: closed means verified.
                let closed = fetch_json(&url, None)
                    .await
                    .and_then(|r| r.get("data"))
                    .is_some_and(|d| d.flag("closed"));
                if closed {
                    status.set(Status::Verified);
                }
            });
        },
        std::time::Duration::from_secs(3),
    );
    handle.set(started.ok());
}

/// What a finished page does: inside an embed modal, tell the framing site (only its exact
/// origin) `{namespace, id}`; otherwise follow the redirect, if any.
fn finish(embed: &Option<(String, String, String)>, redirect: Option<String>) {
    match (embed, redirect) {
        (Some((origin, namespace, id)), _) => post_to_parent(origin, namespace, id),
        (None, Some(target)) => {
            let _ = window().location().assign(&target);
        }
        (None, None) => {}
    }
}

#[cfg(feature = "hydrate")]
fn post_to_parent(origin: &str, namespace: &str, id: &str) {
    let message = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&message, &"namespace".into(), &namespace.into());
    let _ = js_sys::Reflect::set(&message, &"id".into(), &id.into());
    if let Ok(Some(parent)) = window().parent() {
        let _ = parent.post_message(&message, origin);
    }
}

#[cfg(not(feature = "hydrate"))]
fn post_to_parent(_origin: &str, _namespace: &str, _id: &str) {}

/// The card's starting state: on the server from [`CodeBody`]'s context.
#[cfg(not(feature = "hydrate"))]
fn card_seed() -> CardSeed {
    use_context::<CardSeed>().expect("CodeBody provides the card's seed")
}

/// The card's starting state: in the browser from the JSON the shell rendered.
#[cfg(feature = "hydrate")]
fn card_seed() -> CardSeed {
    json::card_seed().expect("the page carries the card's seed")
}

/// A GET (or, with `form`, a form POST) to this server that answers JSON.
#[cfg(feature = "hydrate")]
async fn fetch_json(url: &str, form: Option<&[(&str, &str)]>) -> Option<json::Json> {
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;
    let init = web_sys::RequestInit::new();
    let headers = web_sys::Headers::new().ok()?;
    headers.set("accept", "application/json").ok()?;
    init.set_headers(&headers);
    if let Some(form) = form {
        let body = web_sys::UrlSearchParams::new().ok()?;
        for (name, value) in form {
            body.append(name, value);
        }
        init.set_method("POST");
        init.set_body(&body);
    }
    let response: web_sys::Response = JsFuture::from(window().fetch_with_str_and_init(url, &init))
        .await
        .ok()?
        .dyn_into()
        .ok()?;
    if !response.ok() {
        return None;
    }
    let value = JsFuture::from(response.json().ok()?).await.ok()?;
    value.is_object().then_some(json::Json(value))
}

/// JSON read field by field with the browser's own parser: serde in the WASM would about
/// double its size.
#[cfg(feature = "hydrate")]
mod json {
    use super::CardSeed;
    use crate::{
        i18n::Lang,
        model::{CountryOption, FallbackOption, InboundView, LiveEvent, PageView, Status},
    };
    use wasm_bindgen::{JsCast, JsValue};

    pub struct Json(pub JsValue);

    impl Json {
        pub fn parse(text: &str) -> Option<Self> {
            js_sys::JSON::parse(text)
                .ok()
                .filter(JsValue::is_object)
                .map(Json)
        }

        pub fn get(&self, key: &str) -> Option<Json> {
            js_sys::Reflect::get(&self.0, &JsValue::from_str(key))
                .ok()
                .filter(|v| !v.is_undefined() && !v.is_null())
                .map(Json)
        }

        pub fn str(&self, key: &str) -> Option<String> {
            self.get(key)?.0.as_string()
        }

        pub fn string(&self, key: &str) -> String {
            self.str(key).unwrap_or_default()
        }

        fn number(&self, key: &str) -> Option<f64> {
            self.get(key)?.0.as_f64()
        }

        pub fn uint(&self, key: &str) -> u32 {
            self.number(key).unwrap_or(0.0) as u32
        }

        pub fn flag(&self, key: &str) -> bool {
            self.get(key).and_then(|v| v.0.as_bool()).unwrap_or(false)
        }

        fn list<T>(&self, key: &str, item: impl Fn(&Json) -> T) -> Vec<T> {
            self.get(key)
                .and_then(|v| v.0.dyn_into::<js_sys::Array>().ok())
                .map(|a| a.iter().map(|v| item(&Json(v))).collect())
                .unwrap_or_default()
        }
    }

    /// `#otp-seed`'s `{"view": PageView, "result", "confirm"}`.
    pub fn card_seed() -> Option<CardSeed> {
        let text = leptos::prelude::document()
            .get_element_by_id("otp-seed")?
            .get_attribute("data-seed")?;
        let seed = Json::parse(&text)?;
        let v = seed.get("view")?;
        let view = PageView {
            namespace: v.string("namespace"),
            id: v.string("id"),
            app_name: v.string("app_name"),
            channel: v.string("channel"),
            masked_address: v.string("masked_address"),
            status: Status::parse(&v.string("status"))?,
            attempts_left: v.uint("attempts_left"),
            expires_in_secs: v.number("expires_in_secs").unwrap_or(0.0) as u64,
            code_length: v.uint("code_length"),
            numeric_code: v.flag("numeric_code"),
            needs_address: v.flag("needs_address"),
            address_kind: v.string("address_kind"),
            resend_in_secs: v.number("resend_in_secs").map(|s| s as u64),
            live_token: v.string("live_token"),
            inbound: v.get("inbound").map(|i| InboundView {
                number: i.string("number"),
                code: i.string("code"),
                sms_link: i.string("sms_link"),
                qr_svg: i.string("qr_svg"),
            }),
            embed_origin: v.str("embed_origin"),
            lang: Lang::from_tag(&v.string("lang")).unwrap_or_default(),
            locale: v.string("locale"),
            app_locale: v.string("app_locale"),
            logo_url: v.str("logo_url"),
            accent_color: v.str("accent_color"),
            countries: v.list("countries", |c| CountryOption {
                region: c.string("region"),
                code: c.uint("code") as u16,
            }),
            country: v.str("country"),
            fallbacks: v.list("fallbacks", |f| FallbackOption {
                provider: f.string("provider"),
                kind: f.string("kind"),
            }),
        };
        Some(CardSeed {
            view,
            result: seed.str("result"),
            confirm: seed.str("confirm"),
        })
    }

    /// One live event as the server sends it (`{"type": "attempt", "attempts_left": 2}`).
    pub fn live_event(e: &Json) -> Option<LiveEvent> {
        Some(match e.str("type")?.as_str() {
            "subscribed" => LiveEvent::Subscribed {
                status: Status::parse(&e.string("status"))?,
                attempts_left: e.uint("attempts_left"),
                expires_in_secs: e.number("expires_in_secs").unwrap_or(0.0) as u64,
            },
            "delivery" => LiveEvent::Delivery {
                state: e.string("state"),
            },
            "attempt" => LiveEvent::Attempt {
                attempts_left: e.uint("attempts_left"),
            },
            "locked" => LiveEvent::Locked,
            "verified" => LiveEvent::Verified {
                verification_token: e.string("verification_token"),
                redirect: e.str("redirect"),
            },
            "expired" => LiveEvent::Expired,
            "cancelled" => LiveEvent::Cancelled,
            _ => return None,
        })
    }
}
