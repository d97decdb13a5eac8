//! Server functions behind the hosted pages, under their own prefix so `/api` stays the
//! otpgateway contract. Each one is an adapter: parse, call the engine, map the error.

use crate::model::{CheckResult, InboxMessage, PageView};
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
        match err {
            crate::gateway::EngineError::NotFound => PageError::NotFound,
            crate::gateway::EngineError::RateLimited { .. } => PageError::TooManyRequests,
            other => {
                tracing::error!(error = ?other, "hosted page request failed");
                PageError::Unavailable
            }
        }
    }
}

/// The state of a verification as the code page shows it.
#[server(prefix = "/_otpgate", endpoint = "page")]
pub async fn load_page(namespace: String, id: String) -> Result<PageView, PageError> {
    Ok(gateway()?.page_view(&namespace, &id).await?)
}

/// Checks a code typed on the hosted page.
#[server(prefix = "/_otpgate", endpoint = "check")]
pub async fn check_code(
    namespace: String,
    id: String,
    code: String,
) -> Result<CheckResult, PageError> {
    use axum::extract::ConnectInfo;
    let client = leptos_axum::extract::<ConnectInfo<std::net::SocketAddr>>()
        .await
        .ok()
        .map(|ConnectInfo(addr)| addr.ip());
    Ok(gateway()?
        .check_from_page(&namespace, &id, &code, client)
        .await?)
}

/// The development inbox; `NotFound` unless the console provider is enabled.
#[server(prefix = "/_otpgate", endpoint = "inbox")]
pub async fn load_inbox() -> Result<Vec<InboxMessage>, PageError> {
    gateway()?.inbox().ok_or(PageError::NotFound)
}
