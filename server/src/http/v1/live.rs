//! Live updates over Server-Sent Events (`GET /v1/verifications/{id}/events?token=…`) and
//! WebSocket (`GET /ws/otp?sessionId=…&token=…`). Both speak the same JSON events
//! ([`LiveEvent`]): `subscribed` first, then `delivery`, `attempt`, and one of `verified`
//! (with the verification token), `locked`, `expired` or `cancelled`, after which the
//! stream ends. The client token comes from the create answer or the hosted page; a wrong
//! token and an unknown id both answer 404.

use super::{
    error::{ErrorBody, V1Error},
    handlers::V1Query,
};
use crate::http::AppState;
use app::{
    gateway::{live::Subscription, Gateway},
    model::{LiveEvent, Status},
};
use axum::{
    extract::{
        ws::{Message, WebSocket, WebSocketUpgrade},
        Path, Query, State,
    },
    http::{HeaderMap, StatusCode},
    response::{
        sse::{Event, KeepAlive, Sse},
        IntoResponse, Response,
    },
    routing::get,
    Router,
};
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use std::convert::Infallible;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/verifications/{id}/events", get(sse))
        .route("/ws/otp", get(websocket))
}

#[derive(Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
    /// The verification's session binding, when it has one.
    binding: Option<String>,
}

#[derive(Deserialize)]
pub struct SessionQuery {
    #[serde(default, rename = "sessionId")]
    session_id: String,
    #[serde(default)]
    token: String,
    binding: Option<String>,
}

fn not_found() -> V1Error {
    V1Error::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such verification for this token",
    )
}

/// Whether nothing can follow `event`.
fn ends(event: &LiveEvent) -> bool {
    event.is_final()
        || matches!(event, LiveEvent::Subscribed { status, .. } if *status != Status::Pending)
}

/// The subscription's events, the snapshot first, ending after a final one.
fn events(gw: Gateway, sub: Subscription, first: LiveEvent) -> impl Stream<Item = LiveEvent> {
    stream::unfold(
        (gw, sub, Some(first), false),
        |(gw, mut sub, pending, done)| async move {
            if done {
                return None;
            }
            let event = match pending {
                Some(e) => e,
                None => gw.next_live(&mut sub).await?,
            };
            let done = ends(&event);
            Some((event, (gw, sub, None, done)))
        },
    )
}

/// Opens a subscription. The session binding is the query's, else the cookie the hosted
/// page set for this verification.
async fn open(
    gw: &Gateway,
    id: &str,
    token: &str,
    binding: Option<&str>,
    headers: &HeaderMap,
) -> Result<(Subscription, LiveEvent), V1Error> {
    let cookie = crate::http::hosted::binding_cookie(headers, id);
    let binding = binding.or(cookie.as_deref());
    let sub = gw
        .subscribe(id, token, binding)
        .await
        .map_err(|_| not_found())?;
    let first = gw.live_snapshot(&sub).await?;
    Ok((sub, first))
}

/// Server-Sent Events: each event's name is its `type`, its data the JSON.
#[utoipa::path(
    get, path = "/v1/verifications/{id}/events", tag = "verifications", security(()),
    params(
        ("id" = String, Path, pattern = r"^[A-Za-z0-9._-]{1,128}$", description = "The verification id"),
        ("token" = String, Query, description = "The verification's client token"),
        ("binding" = Option<String>, Query, description = "The verification's session binding, if it has one: without it, `verified` carries no token"),
    ),
    responses(
        (status = 200, description = "Live events, one per message, named by their `type`", content_type = "text/event-stream"),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn sse(
    State(gw): State<Gateway>,
    Path(id): Path<String>,
    V1Query(q): V1Query<TokenQuery>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, V1Error> {
    let (sub, first) = open(&gw, &id, &q.token, q.binding.as_deref(), &headers).await?;
    let stream = futures_util::StreamExt::map(events(gw, sub, first), |e| {
        Ok(Event::default()
            .event(e.name())
            .json_data(&e)
            .expect("events serialise"))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// The same events as WebSocket text frames; the server closes after a final one.
async fn websocket(
    State(gw): State<Gateway>,
    Query(q): Query<SessionQuery>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let opened = open(&gw, &q.session_id, &q.token, q.binding.as_deref(), &headers).await;
    let (sub, first) = match opened {
        Ok(opened) => opened,
        Err(e) => return e.into_response(),
    };
    upgrade.on_upgrade(move |socket| forward(socket, gw, sub, first))
}

async fn forward(mut socket: WebSocket, gw: Gateway, sub: Subscription, first: LiveEvent) {
    use futures_util::StreamExt;
    let mut events = std::pin::pin!(events(gw, sub, first));
    loop {
        tokio::select! {
            event = events.next() => {
                let Some(event) = event else { break };
                let text = serde_json::to_string(&event).expect("events serialise");
                if socket.send(Message::Text(text.into())).await.is_err() {
                    return;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
    let _ = socket.send(Message::Close(None)).await;
}
