//! The page as the server renders it: the document around the card. Server-only, so
//! none of it reaches the WASM.

use super::{card::CodeCard, state::CardSeed};
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
    use crate::{i18n::Lang, render_document, Scripts};
    use http::StatusCode;
    // An e-mail link carries the code: the page asks for one press before checking it, so
    // a mail scanner that opens links verifies nothing.
    let confirm = confirm
        .filter(|c| (4..=16).contains(&c.len()) && c.chars().all(|ch| ch.is_ascii_alphanumeric()));
    match page {
        Ok(view) => {
            let title = fill(view.lang.texts().page_title, &[&view.app_name]);
            let accent = view.accent_color.as_deref().and_then(accent_rules);
            render_document(
                options,
                StatusCode::OK,
                view.lang,
                Scripts::Islands,
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
            Lang::EN,
            Scripts::None,
            |_| view! { <title>"otpgate"</title> },
            || view! { <NotFoundCard/> },
        ),
        Err(_) => render_document(
            options,
            StatusCode::SERVICE_UNAVAILABLE,
            Lang::EN,
            Scripts::None,
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
    let texts = view.lang.texts();
    let mut seed = Vec::with_capacity(8192);
    serde_json::to_writer(
        &mut seed,
        &Seed {
            view: &view,
            result: &result,
            confirm: &confirm,
        },
    )
    .expect("the page state serialises");
    // The words are the same on every page in this language: serialised once, spliced in
    // before the closing brace.
    seed.pop();
    seed.extend_from_slice(b",\"texts\":");
    seed.extend_from_slice(view.lang.texts_json().as_bytes());
    seed.push(b'}');
    let seed = String::from_utf8(seed).expect("JSON is UTF-8");
    let logo = view.logo_url.clone();
    let app_name = view.app_name.clone();
    provide_context(CardSeed {
        view,
        result,
        confirm,
        texts,
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
