//! otpgate's web application: the hosted verification pages (rendered on the server, the
//! verification card hydrated in the browser as an island), their server functions, and —
//! behind the `ssr` feature — the gateway's domain in [`gateway`].

pub mod api;
pub mod i18n;
pub mod model;
mod pages;

#[cfg(feature = "ssr")]
pub use pages::{dashboard, render_code_page};

#[cfg(feature = "ssr")]
pub mod gateway;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path, SsrMode,
};

/// The HTML document around every page the router renders.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let (Some(nonce), Some(response)) = (
        leptos::nonce::use_nonce(),
        use_context::<leptos_axum::ResponseOptions>(),
    ) {
        if let Ok(value) = http::HeaderValue::from_str(&content_security_policy(&nonce)) {
            response.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
        }
    }
    view! {
        <!DOCTYPE html>
        <html>
            <head>
                <HeadCommon options/>
                <MetaTags/>
            </head>
            <body class=BODY_CLASS>
                <App/>
            </body>
        </html>
    }
}

/// The classes of every page's `<body>`.
const BODY_CLASS: &str = "min-h-screen bg-zinc-50 text-zinc-900 antialiased";

/// What every page's `<head>` holds: encoding, viewport, referrer policy, icon and, unless
/// the page has no island (`static_page`), the scripts that hydrate its islands (carrying
/// the response's nonce).
#[component]
fn HeadCommon(options: LeptosOptions, #[prop(optional)] static_page: bool) -> impl IntoView {
    view! {
        <meta charset="utf-8"/>
        <meta name="viewport" content="width=device-width, initial-scale=1"/>
        <meta name="referrer" content="no-referrer"/>
        <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
        {(!static_page).then(|| view! {
            <AutoReload options=options.clone()/>
            <HydrationScripts options islands=true/>
        })}
    }
}

/// A page rendered to a string outside the router: its status, its HTML and the
/// Content-Security-Policy that goes with it (its nonce is the one in the HTML).
#[cfg(feature = "ssr")]
pub struct RenderedPage {
    pub status: http::StatusCode,
    pub html: String,
    pub content_security_policy: String,
}

/// Whether a rendered document loads the scripts that hydrate its islands.
#[cfg(feature = "ssr")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scripts {
    /// The page has islands: the hydration script and the WASM.
    Islands,
    /// The page has none: no script at all.
    None,
}

/// Renders a whole document in one synchronous pass: no router, no streaming, no
/// meta context; everything it shows is known before it starts. `head` and `body` run
/// inside the render's reactive owner (with the response's nonce in context).
#[cfg(feature = "ssr")]
pub fn render_document<H: IntoView, B: IntoView>(
    options: &LeptosOptions,
    status: http::StatusCode,
    lang: i18n::Lang,
    scripts: Scripts,
    head: impl FnOnce(&leptos::nonce::Nonce) -> H,
    body: impl FnOnce() -> B,
) -> RenderedPage {
    let static_page = scripts == Scripts::None;
    use std::sync::Arc;
    let owner = Owner::new_root(Some(Arc::new(
        hydration_context::SsrSharedContext::new_islands(),
    )));
    let nonce = leptos::nonce::Nonce::new();
    let html = owner.with(|| {
        use leptos::tachys::view::{Position, RenderHtml};
        provide_context(nonce.clone());
        let options = options.clone();
        let document = view! {
            <!DOCTYPE html>
            <html lang=lang.tag() dir=lang.dir()>
                <head>
                    <HeadCommon options static_page/>
                    <link rel="stylesheet" id="leptos" href="/pkg/otpgate.css"/>
                    {head(&nonce)}
                </head>
                <body class=BODY_CLASS>{body()}</body>
            </html>
        };
        // Sized for a whole page at once (about 5 to 25 KB), so the buffer is not grown
        // and copied again and again as the document is written.
        let mut html = String::with_capacity(PAGE_CAPACITY);
        document.to_html_with_buf(&mut html, &mut Position::FirstChild, true, false, vec![]);
        html
    });
    owner.unset_with_forced_cleanup();
    RenderedPage {
        status,
        html,
        content_security_policy: content_security_policy(&nonce),
    }
}

/// What a rendered page's buffer starts with.
#[cfg(feature = "ssr")]
const PAGE_CAPACITY: usize = 16 * 1024;

/// A page's Content-Security-Policy: scripts only with this response's nonce (the
/// hydration script, which then loads the WASM), styles from this server or with the nonce,
/// images from here or over https (app logos). `frame-ancestors` is added per app by the
/// server's header layer.
#[cfg(feature = "ssr")]
fn content_security_policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'nonce-{nonce}' 'strict-dynamic' 'wasm-unsafe-eval'; \
         style-src 'self' 'nonce-{nonce}'; img-src 'self' data: https:; connect-src 'self'; \
         base-uri 'none'; object-src 'none'"
    )
}

/// The routes the router renders: the home page, the dev inbox and "not found". The code
/// page (`/otp/{namespace}/{id}`) is rendered by the server's page handler with
/// [`render_code_page`], outside the router. Every page waits for its data before the
/// first byte (`SsrMode::Async`), so it is complete without JavaScript.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/otpgate.css"/>
        <Title text="otpgate"/>
        <Router>
            <Routes fallback=pages::NotFound>
                <Route path=path!("/") view=pages::Home/>
                <Route path=path!("/dev/inbox") view=pages::DevInbox ssr=SsrMode::Async/>
            </Routes>
        </Router>
    }
}
