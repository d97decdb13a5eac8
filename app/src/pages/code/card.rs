//! The verification card: the page's one island, with the address, code, QR and closed
//! states, and "didn't get it?".

use super::state::{clock, closed_title, form_target, notice_text, CardSeed, Notice};
#[cfg(feature = "hydrate")]
use super::{
    browser::{fetch_json, follow, post_to_parent},
    json,
};
use crate::{
    i18n::{fill, Texts},
    model::{FallbackOption, InboundView, LiveEvent, Status},
};
use leptos::{
    either::{Either, EitherOf3},
    ev::SubmitEvent,
    html::Input,
    prelude::*,
};

/// The verification itself: the only part of the page that runs in the browser (an
/// island), so the WASM holds this and what it uses, not the router or the page shell.
/// It takes no props (they would bring serde into the WASM); its state comes from the
/// shell's context on the server and from `#otp-seed` in the browser. Codes are checked
/// in place; resend, address and "didn't get it?" are ordinary form posts.
#[island]
pub(super) fn CodeCard() -> impl IntoView {
    let CardSeed {
        view,
        result,
        confirm,
        texts: t,
    } = card_seed();
    let confirm = RwSignal::new(confirm);
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
            // The live event may have got there first: the page leaves once, not twice
            // (a second navigation would abort the first).
            "verified" => {
                if status.get_untracked() != Status::Verified {
                    status.set(Status::Verified);
                    finish(&embed.get_value(), redirect);
                }
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
            "unbound" => notice.set(Some(Notice::Unbound)),
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
    let totp = view.address_kind == "totp";
    let enrolment = view.enrolment.clone();
    let heading = match (phone, view.address_kind.as_str()) {
        (true, _) => t.check_phone,
        (_, "email") => t.check_email,
        (_, "totp") if enrolment.is_some() => t.totp_setup_title,
        (_, "totp") => t.totp_title,
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
            if totp {
                t.totp_help.to_owned()
            } else if v.masked_address.is_empty() {
                t.enter_received.to_owned()
            } else {
                fill(t.sent_to, &[&v.masked_address])
            }
        });
        // Shown until the factor's first code is accepted, then never again.
        let setup = enrolment.clone().map(|e| view! {
            <p class="mt-2 text-sm text-zinc-600">{t.totp_setup_help}</p>
            <div class="mx-auto mt-6 w-56 [&>svg]:h-auto [&>svg]:w-full" role="img" aria-label=t.totp_qr_alt data-role="totp-qr" data-uri=e.uri inner_html=e.qr_svg></div>
            <p class="mt-4 text-center text-sm text-zinc-600">
                {t.totp_key_label}": "
                <code class="font-mono text-sm font-semibold break-all" data-role="totp-key">{e.secret}</code>
            </p>
        });
        view! {
            <h1 class="mt-1 text-2xl font-semibold">{heading}</h1>
            {setup}
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
            <div class="mx-auto mt-6 w-56 [&>svg]:h-auto [&>svg]:w-full" role="img" aria-label=t.qr_alt inner_html=inbound.qr_svg></div>
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
