//! Response headers every answer carries, and the cross-site form guard.

use axum::{
    extract::{Request, State},
    http::{header, HeaderValue, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};

/// Refuses state-changing browser requests that another site initiated
/// (`Sec-Fetch-Site: cross-site`), and adds the headers that keep codes out of caches,
/// referrers and other sites' frames.
pub async fn security_headers(
    State(gw): State<app::gateway::Gateway>,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path();
    let framable = match framed_app(path) {
        Some(namespace) => Some(gw.embed_origins(namespace).await),
        None => None,
    };
    let browser_form = path.starts_with("/otp/")
        || path.starts_with("/dashboard")
        || path.starts_with(app::api::SERVER_FN_PREFIX);
    let cross_site = req
        .headers()
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"cross-site");
    if req.method() == Method::POST && browser_form && cross_site {
        return (
            StatusCode::FORBIDDEN,
            "cross-site form submissions are refused",
        )
            .into_response();
    }
    let https = gw.settings().root_url.starts_with("https://");
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // Hosted pages may be framed by exactly the origins their app lists for the embed
    // modal (checked when the configuration loads); everything else by no one.
    // A page's own policy (with its script nonce) comes first; the framing rule joins it.
    let origins = framable.unwrap_or_default();
    let ancestors = if origins.is_empty() {
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        "frame-ancestors 'none'".to_owned()
    } else {
        format!("frame-ancestors {}", origins.join(" "))
    };
    let policy = match h
        .get(header::CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
    {
        Some(page) => format!("{page}; {ancestors}"),
        None => ancestors,
    };
    let policy = HeaderValue::from_str(&policy)
        .unwrap_or(HeaderValue::from_static("frame-ancestors 'none'"));
    h.insert(header::CONTENT_SECURITY_POLICY, policy);
    if !is_static_asset(h) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    // Served over TLS (by the proxy in front): browsers keep to HTTPS for two years.
    if https {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000"),
        );
    }
    response
}

/// For a hosted page `/otp/{namespace}/{id}`: its app's namespace, whose embed origins
/// may frame it.
fn framed_app(path: &str) -> Option<&str> {
    let mut parts = path.strip_prefix("/otp/")?.split('/');
    let namespace = parts.next()?;
    let _id = parts.next()?;
    if parts.next().is_some() {
        return None;
    }
    Some(namespace)
}

/// Built assets (WASM, CSS, scripts) may be cached; they carry no codes.
fn is_static_asset(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.starts_with("application/wasm")
                || ct.starts_with("text/css")
                || ct.contains("javascript")
        })
}
