//! The HTTP surface: one router with the hosted pages (Leptos), the otpgateway-compatible
//! API under `/api`, the hosted form endpoints, the tenant dashboard, health, and static
//! files.

mod client;
mod compat;
mod dashboard;
mod envelope;
mod headers;
mod hosted;
mod limits;
pub mod listen;
pub mod metrics;
mod params;
pub mod v1;

use app::{gateway::Gateway, shell, App};
use axum::{
    extract::{FromRef, MatchedPath},
    http::Request,
    routing::get,
    Router,
};
use ipnet::IpNet;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use std::{sync::Arc, time::Duration};
use tower_http::trace::TraceLayer;

pub use client::{parse_trusted, ClientIp};

/// Everything a handler may need, behind one `Arc`: every route holds a copy of the
/// state, and axum copies the route for each request (the Leptos options alone are a
/// dozen reference counts), so a copy is one count here.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// What [`AppState`] holds.
pub struct Shared {
    pub gateway: Gateway,
    pub leptos: LeptosOptions,
    /// The bearer token `/metrics` asks for (`[metrics] token`), if any.
    pub metrics_token: Option<Arc<str>>,
    /// Who may speak for a client, and how large and slow a request may be.
    pub http: Arc<HttpSettings>,
}

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl FromRef<AppState> for Gateway {
    fn from_ref(state: &AppState) -> Self {
        state.gateway.clone()
    }
}

/// How the server treats its clients.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Peers whose `X-Forwarded-For` names the client: the reverse proxies and load
    /// balancers in front (`[app] trusted_proxies`; none by default).
    pub trusted_proxies: Vec<IpNet>,
    /// The time a client has to send a request's head, and again its body
    /// (`[app] server_timeout`, 10 s by default).
    pub read_timeout: Duration,
    /// The largest request body accepted, in bytes (`[app] max_body_size`, 64 KiB).
    pub max_body: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            trusted_proxies: Vec::new(),
            read_timeout: Duration::from_secs(10),
            max_body: 64 * 1024,
        }
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}

/// Builds the full router. Tests call this with a fresh state and serve it on port 0.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let gateway = state.gateway.clone();
    let leptos = state.leptos.clone();
    let http = state.http.clone();
    Router::new()
        .nest("/api", compat::router())
        .merge(hosted::router())
        .merge(dashboard::router())
        .merge(v1::router())
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(hosted::ready))
        .route("/metrics", get(metrics::scrape))
        .leptos_routes_with_context(
            &state,
            routes,
            move || provide_context(gateway.clone()),
            move || shell(leptos.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(axum::middleware::from_fn_with_state(
            http.clone(),
            limits::read_body,
        ))
        .layer(axum::middleware::from_fn_with_state(http, client::resolve))
        .layer(axum::middleware::from_fn_with_state(
            state.gateway.clone(),
            headers::security_headers,
        ))
        .layer(axum::middleware::from_fn(metrics::time_requests))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                let route = req
                    .extensions()
                    .get::<MatchedPath>()
                    .map(MatchedPath::as_str)
                    .unwrap_or("<unmatched>");
                let id = req
                    .extensions()
                    .get::<metrics::RequestId>()
                    .map_or("", |id| id.0.as_str());
                tracing::info_span!("request", request_id = %id, method = %req.method(), route)
            }),
        )
        .layer(axum::middleware::from_fn(metrics::request_id))
        .with_state(state)
}

/// One cookie's value from the `Cookie` header.
pub(crate) fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}
