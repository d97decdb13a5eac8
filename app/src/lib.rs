//! otpgate's web application: the hosted verification pages (rendered on the server, the
//! verification card hydrated in the browser as an island), their server functions, and —
//! behind the `ssr` feature — the gateway's domain in [`gateway`].

pub mod api;
pub mod i18n;
pub mod model;
mod pages;

#[cfg(feature = "ssr")]
pub mod gateway;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path, SsrMode,
};

/// The HTML document around every page.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    send_content_security_policy();
    view! {
        <!DOCTYPE html>
        <html>
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="referrer" content="no-referrer"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options islands=true/>
                <MetaTags/>
            </head>
            <body class="min-h-screen bg-zinc-50 text-zinc-900 antialiased">
                <App/>
            </body>
        </html>
    }
}

/// The page's Content-Security-Policy: scripts only with this response's nonce (the
/// hydration script, which then loads the WASM), styles from this server or with the nonce,
/// images from here or over https (app logos). `frame-ancestors` is added per app by the
/// server's header layer.
#[cfg(feature = "ssr")]
fn send_content_security_policy() {
    let (Some(nonce), Some(response)) = (
        leptos::nonce::use_nonce(),
        use_context::<leptos_axum::ResponseOptions>(),
    ) else {
        return;
    };
    let policy = format!(
        "default-src 'self'; script-src 'nonce-{nonce}' 'strict-dynamic' 'wasm-unsafe-eval'; \
         style-src 'self' 'nonce-{nonce}'; img-src 'self' data: https:; connect-src 'self'; \
         base-uri 'none'; object-src 'none'"
    );
    if let Ok(value) = http::HeaderValue::from_str(&policy) {
        response.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
    }
}

/// The routes of the hosted pages. Every page waits for its data before the first byte
/// (`SsrMode::Async`), so it is complete without JavaScript.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/otpgate.css"/>
        <Title text="otpgate"/>
        <Router>
            <Routes fallback=pages::NotFound>
                <Route path=path!("/") view=pages::Home/>
                <Route path=path!("/otp/:namespace/:id") view=pages::CodePage ssr=SsrMode::Async/>
                <Route path=path!("/dev/inbox") view=pages::DevInbox ssr=SsrMode::Async/>
            </Routes>
        </Router>
    }
}
