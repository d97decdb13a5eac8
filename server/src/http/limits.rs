//! How large and how slow a request may be. The connection's head has
//! [`HttpSettings::read_timeout`] to arrive (see `listen`) and at most [`MAX_HEAD`] bytes
//! (hyper bounds a head that arrives in pieces; one that arrives at once is measured
//! here); its body is read here, whole,
//! within the same time and at most [`HttpSettings::max_body`] bytes, before any handler
//! sees it — so a slow or endless body holds no handler, no database connection and no
//! lock, and every route answers 408 or 413 the same way.

use super::{listen::MAX_HEAD, HttpSettings};
use axum::{
    body::Body,
    extract::{Request, State},
    http::{header, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use http_body_util::BodyExt;
use std::sync::Arc;

/// Reads the request's body under the limits, then hands the request on.
pub async fn read_body(
    State(http): State<Arc<HttpSettings>>,
    req: Request,
    next: Next,
) -> Response {
    let head = req.uri().path_and_query().map_or(0, |p| p.as_str().len())
        + req
            .headers()
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 4)
            .sum::<usize>();
    if head > MAX_HEAD {
        return (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            [(header::CONNECTION, "close")],
            format!("a request's head may have at most {MAX_HEAD} bytes\n"),
        )
            .into_response();
    }
    let (parts, body) = req.into_parts();
    if http_body::Body::is_end_stream(&body) {
        return next.run(Request::from_parts(parts, body)).await;
    }
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > http.max_body as u64) {
        return too_large(http.max_body);
    }
    let read = async {
        let mut body = body;
        let mut bytes = Vec::new();
        while let Some(frame) = body.frame().await {
            let Ok(data) = frame?.into_data() else {
                continue; // trailers
            };
            if bytes.len() + data.len() > http.max_body {
                return Ok(None);
            }
            bytes.extend_from_slice(&data);
        }
        Ok::<_, axum::Error>(Some(bytes))
    };
    match tokio::time::timeout(http.read_timeout, read).await {
        Ok(Ok(Some(bytes))) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Ok(None)) => too_large(http.max_body),
        Ok(Err(_)) => (
            StatusCode::BAD_REQUEST,
            "the request body could not be read\n",
        )
            .into_response(),
        Err(_) => (
            StatusCode::REQUEST_TIMEOUT,
            [(header::CONNECTION, "close")],
            format!(
                "the request body did not arrive within {} s\n",
                http.read_timeout.as_secs_f64()
            ),
        )
            .into_response(),
    }
}

fn too_large(max: usize) -> Response {
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        [(header::CONNECTION, "close")],
        format!("a request body may have at most {max} bytes\n"),
    )
        .into_response()
}
