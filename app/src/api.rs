//! What the hosted pages read: the code page's state (read by the server's page handler)
//! and the dev inbox's server function, under its own prefix so `/api` stays the
//! otpgateway contract. Each one is an adapter: parse, call the engine, map the error.

use crate::model::InboxMessage;
use leptos::prelude::*;
use leptos::server_fn::{
    codec::JsonEncoding,
    error::{FromServerFnError, ServerFnErrorErr},
};
use serde::{Deserialize, Serialize};

/// The prefix of every server function URL.
pub const SERVER_FN_PREFIX: &str = "/_otpgate";

/// What a page can be told when a server function fails. Never carries internals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub enum PageError {
    #[error("not found")]
    NotFound,
    #[error("the service is temporarily unavailable")]
    Unavailable,
    #[error("too many tries; wait a moment")]
    TooManyRequests,
    /// Input the person can correct (an address the provider refuses, ...).
    #[error("{0}")]
    Invalid(String),
    /// The verification closed meanwhile; the page reloads its state.
    #[error("this verification is closed")]
    Closed,
    #[error("the request could not be completed")]
    Transport(ServerFnErrorErr),
}

impl FromServerFnError for PageError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        PageError::Transport(value)
    }
}

#[cfg(feature = "ssr")]
fn gateway() -> Result<crate::gateway::Gateway, PageError> {
    use_context::<crate::gateway::Gateway>().ok_or(PageError::Unavailable)
}

#[cfg(feature = "ssr")]
impl From<crate::gateway::EngineError> for PageError {
    fn from(err: crate::gateway::EngineError) -> Self {
        use crate::gateway::EngineError as E;
        match err {
            E::NotFound => PageError::NotFound,
            E::RateLimited { .. } | E::SendLimit { .. } | E::Locked { .. } => {
                PageError::TooManyRequests
            }
            E::InvalidAddress(e) => PageError::Invalid(e.to_string()),
            E::InvalidInput { reason, .. } => PageError::Invalid(reason),
            E::Closed(_) => PageError::Closed,
            E::NoAddress => PageError::Invalid(E::NoAddress.to_string()),
            other => {
                tracing::error!(error = ?other, "hosted page request failed");
                PageError::Unavailable
            }
        }
    }
}

/// The state of a verification as the code page shows it, read as `read` says. `origin`
/// is the site of an embed modal framing the page; it is kept only when the app allows
/// that exact origin. The language is `?lang=`, then the verification's locale, then the
/// app's, then the browser's `Accept-Language`.
#[cfg(feature = "ssr")]
pub async fn page_state(
    gw: &crate::gateway::Gateway,
    namespace: &str,
    id: &str,
    origin: Option<String>,
    lang: Option<&str>,
    accept_language: &str,
    read: crate::gateway::Read,
) -> Result<crate::model::PageView, PageError> {
    use crate::i18n::Lang;
    let mut view = gw.page_view(namespace, id, read).await?;
    if let Some(origin) = origin {
        view.embed_origin = gw
            .embed_origins(namespace)
            .await
            .contains(&origin)
            .then_some(origin);
    }
    // The phone picker starts on the app's country, else the browser's (`de-AT` → AT).
    if view.country.is_none() && !view.countries.is_empty() {
        view.country = crate::i18n::region_of(accept_language)
            .filter(|r| view.countries.iter().any(|c| &c.region == r));
    }
    view.lang = [lang, Some(&view.locale), Some(&view.app_locale)]
        .into_iter()
        .flatten()
        .find_map(Lang::from_tag)
        .or_else(|| Lang::from_accept_language(accept_language))
        .unwrap_or_default();
    Ok(view)
}

/// The development inbox; `NotFound` unless the console provider is enabled.
#[server(prefix = "/_otpgate", endpoint = "inbox")]
pub async fn load_inbox() -> Result<Vec<InboxMessage>, PageError> {
    gateway()?.inbox().ok_or(PageError::NotFound)
}
