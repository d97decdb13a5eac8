//! The hosted verification page: `/otp/{namespace}/{id}`.
//!
//! It asks for the address when the integrator did not give one, then for the code, and
//! shows the closed states. Every form posts to the same URL, so the page works before the
//! WASM arrives and without JavaScript (the server answers with a redirect back here and a
//! `result` in the query, or on to the app's `redirect_url`). Once hydrated, the forms go
//! through server functions instead, the page updates in place, and the expiry and resend
//! timers count down.

use super::{Brand, Card, NotFound};
use crate::{
    api::{load_page, CheckCode, PageError, ResendCode, SubmitAddress},
    i18n::{fill, Texts},
    model::{CheckReply, CheckResult, FallbackOption, InboundView, LiveEvent, PageView, Status},
};
use leptos::{
    either::{Either, EitherOf3},
    ev::SubmitEvent,
    html::{Input, Select},
    prelude::*,
};
use leptos_meta::{Html, Title};
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
    let query = use_query_map();
    let origin = query.read_untracked().get("origin");
    let lang = query.read_untracked().get("lang");
    let page = Resource::new(key, move |(namespace, id)| {
        load_page(namespace, id, origin.clone(), lang.clone())
    });
    let result = query.read_untracked().get("result");
    // An e-mail link carries the code: the page asks for one press before checking it, so
    // a mail scanner that opens links verifies nothing.
    let confirm = query
        .read_untracked()
        .get("code")
        .filter(|c| (4..=16).contains(&c.len()) && c.chars().all(|ch| ch.is_ascii_alphanumeric()));
    view! {
        <Suspense fallback=|| view! { <Card><p>"Loading…"</p></Card> }>
            {move || {
                let result = result.clone();
                let confirm = confirm.clone();
                Suspend::new(async move {
                    match page.await {
                        Ok(view) => EitherOf3::A(view! { <CodeShell view result confirm/> }),
                        Err(PageError::NotFound) => EitherOf3::B(view! { <NotFound/> }),
                        Err(_) => EitherOf3::C(view! { <Unavailable/> }),
                    }
                })
            }}
        </Suspense>
    }
}

/// A message under a form, from the last action.
#[derive(Clone, PartialEq, Eq)]
enum Notice {
    Incorrect,
    Malformed,
    Unavailable,
    TooManyRequests,
    Resent,
    Sent,
    InvalidAddress(String),
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
            "invalid_address" => Notice::InvalidAddress(String::new()),
            _ => return None,
        })
    }

    fn from_error(err: PageError) -> Self {
        match err {
            PageError::TooManyRequests => Notice::TooManyRequests,
            PageError::Invalid(reason) => Notice::InvalidAddress(capitalised(&reason) + "."),
            _ => Notice::Unavailable,
        }
    }
}

/// `m:ss` for a countdown.
fn clock(secs: u64) -> String {
    format!("{}:{:02}", secs / 60, secs % 60)
}

/// What surrounds the verification on the page, rendered on the server only: language,
/// title, the app's branding and the card.
#[component]
fn CodeShell(view: PageView, result: Option<String>, confirm: Option<String>) -> impl IntoView {
    let t: &'static Texts = view.lang.texts();
    view! {
        <Html {..} lang=view.lang.tag() dir=view.lang.dir()/>
        <Title text=fill(t.page_title, &[&view.app_name])/>
        <Brand accent=view.accent_color.clone()/>
        <Card>
            {view.logo_url.clone().map(|src| view! {
                <img src=src alt="" class="mb-4 h-10 w-auto" data-role="logo"/>
            })}
            <p class="text-sm font-medium text-zinc-600">{view.app_name.clone()}</p>
            <CodeCard view result confirm/>
        </Card>
    }
}

/// The verification itself: the only part of the page that runs in the browser (an
/// island), so the WASM holds this and what it uses, not the router or the page shell.
#[island]
fn CodeCard(view: PageView, result: Option<String>, confirm: Option<String>) -> impl IntoView {
    let confirm = RwSignal::new(confirm);
    let t: &'static Texts = view.lang.texts();
    let page = RwSignal::new(view.clone());
    let status = RwSignal::new(view.status);
    let attempts_left = RwSignal::new(view.attempts_left);
    let notice = RwSignal::new(Notice::from_query(result.as_deref()));
    let check = ServerAction::<CheckCode>::new();
    let resend = ServerAction::<ResendCode>::new();
    let address = ServerAction::<SubmitAddress>::new();

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
    // Timers are relative to the view they came with: a fresh view restarts them.
    let expires_left = move || {
        page.with(|v| v.expires_in_secs)
            .saturating_sub(elapsed.get())
    };
    let resend_left =
        move || page.with(|v| v.resend_in_secs.map(|s| s.saturating_sub(elapsed.get())));
    Effect::new(move |_| {
        if status.get() == Status::Pending && hydrated.get() && expires_left() == 0 {
            status.set(Status::Expired);
        }
    });

    Effect::new(move |_| {
        let Some(outcome) = check.value().get() else {
            return;
        };
        // Whatever the outcome, a one-click link has been used: show the ordinary form next.
        confirm.set(None);
        match outcome {
            Ok(CheckReply {
                redirect: Some(target),
                ..
            }) => {
                status.set(Status::Verified);
                finish(&embed.get_value(), Some(target));
            }
            Ok(CheckReply { result, .. }) => match result {
                CheckResult::Verified | CheckResult::AlreadyVerified => {
                    status.set(Status::Verified);
                    finish(&embed.get_value(), None);
                }
                CheckResult::Incorrect {
                    attempts_left: left,
                } => {
                    attempts_left.set(left);
                    notice.set(Some(Notice::Incorrect));
                    if left == 0 {
                        status.set(Status::Locked);
                    }
                }
                CheckResult::Locked => status.set(Status::Locked),
                CheckResult::Expired => status.set(Status::Expired),
                CheckResult::Cancelled => status.set(Status::Cancelled),
                CheckResult::Malformed => notice.set(Some(Notice::Malformed)),
            },
            Err(e) => notice.set(Some(Notice::from_error(e))),
        }
    });
    let fresh_view = move |outcome: Option<Result<PageView, PageError>>, ok: Notice| match outcome {
        Some(Ok(v)) => {
            elapsed.set(0);
            status.set(v.status);
            attempts_left.set(v.attempts_left);
            page.set(v);
            notice.set(Some(ok));
        }
        Some(Err(PageError::Closed)) => status.set(Status::Expired),
        Some(Err(e)) => notice.set(Some(Notice::from_error(e))),
        None => {}
    };
    Effect::new(move |_| fresh_view(resend.value().get(), Notice::Resent));
    Effect::new(move |_| fresh_view(address.value().get(), Notice::Sent));

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
    let address_input = NodeRef::<Input>::new();
    let country_input = NodeRef::<Select>::new();
    let (namespace, id) = (view.namespace.clone(), view.id.clone());
    let ids = move || (namespace.clone(), id.clone());
    let on_check = {
        let ids = ids.clone();
        move |ev: SubmitEvent| {
            ev.prevent_default();
            let (namespace, id) = ids();
            let code = code_input.get().map(|el| el.value()).unwrap_or_default();
            check.dispatch(CheckCode {
                namespace,
                id,
                code: code.trim().to_owned(),
            });
        }
    };
    let on_resend = {
        let ids = ids.clone();
        move |ev: SubmitEvent| {
            ev.prevent_default();
            let (namespace, id) = ids();
            resend.dispatch(ResendCode { namespace, id });
        }
    };
    let on_address = move |ev: SubmitEvent| {
        ev.prevent_default();
        let (namespace, id) = ids();
        let value = address_input.get().map(|el| el.value()).unwrap_or_default();
        let country = country_input.get().map(|el| el.value());
        address.dispatch(SubmitAddress {
            namespace,
            id,
            address: value.trim().to_owned(),
            country,
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
    let phone = view.address_kind == "phone";
    let heading = match (phone, view.address_kind.as_str()) {
        (true, _) => t.check_phone,
        (_, "email") => t.check_email,
        _ => t.enter_code,
    };
    let busy = move || check.pending().get() || resend.pending().get() || address.pending().get();
    let notice_line = move || notice_text(notice.get(), attempts_left.get(), t);

    let address_form = {
        let action_url = action_url.clone();
        move || {
            let (label, kind, auto, hint) = if phone {
                (t.mobile_number, "tel", "tel", t.phone_hint)
            } else if page.with(|v| v.address_kind == "email") {
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
                    on:submit=on_address.clone()
                >
                    <input type="hidden" name="action" value="address"/>
                    {phone.then(|| {
                        let (countries, picked) = page.with(|v| (v.countries.clone(), v.country.clone()));
                        view! {
                            <label for="country" class="block text-sm font-medium">{t.country}</label>
                            <select
                                id="country"
                                name="country"
                                node_ref=country_input
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
                        node_ref=address_input
                        type=kind
                        required
                        autocomplete=auto
                        aria-describedby="address-help"
                        class="block w-full rounded-lg border border-zinc-300 px-4 py-3 text-lg focus:border-(--accent) focus:outline-none focus:ring-2 focus:ring-(--accent)"
                    />
                    <p id="address-help" class="text-sm text-zinc-600" role="status" aria-live="polite">
                        {move || match notice.get() {
                            Some(n @ (Notice::InvalidAddress(_) | Notice::TooManyRequests | Notice::Unavailable)) => {
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
                <Fallbacks action_url=action_url.clone() options=page.with(|v| v.fallbacks.clone()) t/>
            }
        }
    };

    let code_form = move || {
        let resend_url = action_url.clone();
        let on_resend = on_resend.clone();
        let sent_to = page.with(|v| {
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
                on:submit=on_check.clone()
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
                    on:submit=on_resend.clone()
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
            <Fallbacks action_url=action_url.clone() options=page.with(|v| v.fallbacks.clone()) t/>
        }
    };

    let confirm_view = {
        let action_url = format!("/otp/{}/{}", view.namespace, view.id);
        let (namespace, id) = (view.namespace.clone(), view.id.clone());
        let ids = move || (namespace.clone(), id.clone());
        move || {
            let code = confirm.get_untracked().unwrap_or_default();
            let dispatch_code = code.clone();
            let ids = ids.clone();
            let on_confirm = move |ev: SubmitEvent| {
                ev.prevent_default();
                let (namespace, id) = ids();
                check.dispatch(CheckCode {
                    namespace,
                    id,
                    code: dispatch_code.clone(),
                });
            };
            view! {
                <h1 class="mt-1 text-2xl font-semibold">{t.confirm_title}</h1>
                <p class="mt-2 text-sm text-zinc-600">
                    {page.with(|v| fill(t.confirm_body, &[&v.masked_address]))}
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

    let inbound_url = format!("/otp/{}/{}", view.namespace, view.id);
    let inbound_view = move || {
        let inbound = page
            .with(|v| v.inbound.clone())
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
            <Fallbacks action_url=inbound_url.clone() options=page.with(|v| v.fallbacks.clone()) t/>
        }
    };

    view! {
        {move || match status.get() {
                Status::Pending if confirm.with(Option::is_some) && !page.with(|v| v.needs_address) => {
                    EitherOf3::B(Either::Right(confirm_view()))
                }
                Status::Pending if page.with(|v| v.inbound.is_some()) => {
                    EitherOf3::A(EitherOf3::A(inbound_view()))
                }
                Status::Pending if page.with(|v| v.needs_address) => {
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
        Some(Notice::InvalidAddress(reason)) if reason.is_empty() => t.invalid_address.to_owned(),
        Some(Notice::InvalidAddress(reason)) => reason,
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

#[component]
fn Unavailable() -> impl IntoView {
    view! {
        <Html {..} lang="en" dir="ltr"/>
        <Card>
            <h1 class="text-xl font-semibold">"Temporarily unavailable"</h1>
            <p class="mt-2 text-sm text-zinc-600">"Try again in a moment."</p>
        </Card>
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
                .and_then(|d| serde_json::from_str::<LiveEvent>(&d).ok())
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

/// Re-reads the page state every three seconds while the verification is open.
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
            let (namespace, id) = (namespace.clone(), id.clone());
            leptos::task::spawn_local(async move {
                if let Ok(view) = load_page(namespace, id, None, None).await {
                    status.set(view.status);
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
