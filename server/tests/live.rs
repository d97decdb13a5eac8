//! Live updates over SSE and WebSocket: the client token opens one verification's stream
//! and nothing else; events arrive as the verification changes, end with its final state,
//! and never carry the code.

mod support;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::time::Duration;
use support::{spawn_app_on, spawn_peer, within_deadline, Backend, TestApp};

const BEARER: &str = "Bearer demo:demo-secret-123";

/// `GET /v1/verifications/{id}/events?token=…`: the SSE stream, whatever its status.
async fn subscribe(app: &TestApp, id: &str, token: &str) -> reqwest::Response {
    let url = app.url(&format!("/v1/verifications/{id}/events?token={token}"));
    app.client.get(url).send().await.unwrap()
}

async fn create(app: &TestApp, id: &str, ttl: u64) -> String {
    let res = app
        .client
        .post(app.url("/v1/verifications"))
        .header("authorization", BEARER)
        .json(&serde_json::json!({
            "id": id, "provider": "console", "to": "john@example.com", "code": "424242", "ttl": ttl
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    body["client_token"].as_str().unwrap().to_owned()
}

async fn check(app: &TestApp, id: &str, code: &str) {
    let res = app
        .client
        .post(app.url(&format!("/v1/verifications/{id}/check")))
        .header("authorization", BEARER)
        .json(&serde_json::json!({ "code": code }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

/// Reads SSE frames until the server ends the stream: (event name, JSON data).
async fn read_sse(mut res: reqwest::Response) -> Vec<(String, Value)> {
    let mut buffer = String::new();
    let mut events = Vec::new();
    loop {
        let chunk = tokio::time::timeout(Duration::from_secs(10), res.chunk())
            .await
            .expect("the stream ends after a final event")
            .unwrap();
        let Some(chunk) = chunk else { return events };
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            let mut name = String::new();
            let mut data = String::new();
            for line in frame.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    name = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim());
                }
            }
            if !data.is_empty() {
                events.push((name, serde_json::from_str(&data).unwrap()));
            }
        }
    }
}

/// The names of a stream's events, leaving out delivery progress (its timing varies).
fn lifecycle(events: &[(String, Value)]) -> Vec<&str> {
    events
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| *n != "delivery")
        .collect()
}

async fn sse_follows_a_verification_to_its_end(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    let token = create(&app, "live-1", 600).await;
    let other = create(&app, "live-2", 600).await;

    for (id, token) in [
        ("live-1", other.as_str()),
        ("live-1", "demo.AAAA"),
        ("nope", token.as_str()),
        ("live-1", ""),
    ] {
        let res = subscribe(&app, id, token).await;
        assert_eq!(res.status(), 404, "{id} with {token:?}");
    }

    let res = subscribe(&app, "live-1", &token).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let reader = tokio::spawn(read_sse(res));
    tokio::time::sleep(Duration::from_millis(300)).await;
    check(&app, "live-1", "000000").await;
    check(&app, "live-1", "424242").await;
    let events = reader.await.unwrap();

    assert_eq!(
        lifecycle(&events),
        ["subscribed", "attempt", "verified"],
        "{events:?}"
    );
    assert_eq!(events[0].1["status"], "pending");
    let attempt = events.iter().find(|(n, _)| n == "attempt").unwrap();
    assert_eq!(attempt.1["attempts_left"], 4);
    let verified = &events.last().unwrap().1;
    assert_eq!(verified["type"], "verified");
    let jwt = verified["verification_token"].as_str().unwrap();
    assert_eq!(jwt.split('.').count(), 3);
    let all = serde_json::to_string(&events.iter().map(|(_, v)| v).collect::<Vec<_>>()).unwrap();
    assert!(!all.contains("424242"), "the code never travels");

    // A verified verification answers its final state at once and ends.
    let res = subscribe(&app, "live-1", &token).await;
    let again = read_sse(res).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].1["status"], "verified");
}

async fn an_idle_subscriber_hears_the_expiry(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    let token = create(&app, "live-3", 2).await;
    let res = subscribe(&app, "live-3", &token).await;
    let reader = tokio::spawn(read_sse(res));
    tokio::time::sleep(Duration::from_millis(200)).await;
    app.clock.advance_ms(3_000);
    let events = reader.await.unwrap();
    assert_eq!(events.last().unwrap().0, "expired", "{events:?}");
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next event that is not a delivery report.
async fn next(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let tokio_tungstenite::tungstenite::Message::Text(t) = msg {
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["type"] != "delivery" {
                return v;
            }
        }
    }
}

async fn websocket_sends_the_same_events(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    let token = create(&app, "live-4", 600).await;
    let ws_url = format!(
        "{}/ws/otp?sessionId=live-4&token={token}",
        app.base.replace("http://", "ws://")
    );
    let bad = tokio_tungstenite::connect_async(ws_url.replace(&token, "demo.AAAA")).await;
    assert!(bad.is_err(), "a wrong token does not upgrade");
    let (mut ws, _) = tokio_tungstenite::connect_async(&ws_url).await.unwrap();
    assert_eq!(next(&mut ws).await["type"], "subscribed");
    check(&app, "live-4", "111111").await;
    assert_eq!(next(&mut ws).await["attempts_left"], 4);
    check(&app, "live-4", "424242").await;
    assert_eq!(next(&mut ws).await["type"], "verified");
    let _ = ws
        .send(tokio_tungstenite::tungstenite::Message::Close(None))
        .await;
}

on_both_backends!(
    sse_follows_a_verification_to_its_end,
    an_idle_subscriber_hears_the_expiry,
    websocket_sends_the_same_events,
);

/// Two instances on one PostgreSQL database: a check answered by one reaches a subscriber
/// of the other through `LISTEN`/`NOTIFY`. The subscriber's instance polls only once a
/// minute, so within this test only the notification can bring the events.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_reach_subscribers_on_every_postgres_instance() {
    within_deadline(async {
        let writer = spawn_app_on(Backend::Postgres, "").await;
        let reader = spawn_peer(&writer, Duration::from_secs(60)).await;
        let token = create(&writer, "peer-1", 600).await;

        let url = reader.url(&format!("/v1/verifications/peer-1/events?token={token}"));
        let res = reader.client.get(url).send().await.unwrap();
        assert_eq!(
            res.status(),
            200,
            "the peer accepts the writer's client token"
        );
        let stream = tokio::spawn(read_sse(res));
        tokio::time::sleep(Duration::from_millis(300)).await;
        check(&writer, "peer-1", "000000").await;
        check(&writer, "peer-1", "424242").await;
        let events = tokio::time::timeout(Duration::from_secs(20), stream)
            .await
            .expect("the events arrive long before the peer's next poll")
            .unwrap();

        assert_eq!(
            lifecycle(&events),
            ["subscribed", "attempt", "verified"],
            "{events:?}"
        );
    })
    .await
}

/// Two instances on one PostgreSQL database: a page the reader keeps in its view cache
/// follows what the writer changes (a wrong code, the right one, the same id started anew
/// once closed). The reader's pump polls only once a minute, so the events reach its cache
/// through `LISTEN`/`NOTIFY` alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cached_pages_follow_changes_made_on_another_postgres_instance() {
    within_deadline(async {
        let writer = spawn_app_on(Backend::Postgres, "").await;
        let reader = spawn_peer(&writer, Duration::from_secs(60)).await;
        create(&writer, "peer-2", 600).await;
        let page = |text: &'static str| {
            let reader = &reader;
            async move {
                for _ in 0..200 {
                    let res = reader.client.get(reader.url("/otp/demo/peer-2")).send();
                    let html = res.await.unwrap().text().await.unwrap();
                    if html.contains(text) {
                        return html;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                panic!("the reader's page never showed {text:?}");
            }
        };
        // The reader views it first, so it holds it in its cache from here on.
        page("5 attempts left").await;
        check(&writer, "peer-2", "000000").await;
        page("4 attempts left").await;
        check(&writer, "peer-2", "424242").await;
        page("data-state=\"verified\"").await;
        // Closed, the same id starts anew on the writer: the reader lets the old one go.
        let (status, _) = writer
            .put_otp(
                "peer-2",
                &[("to", "jane@example.com"), ("provider", "console")],
            )
            .await;
        assert_eq!(status, 200);
        let html = page("5 attempts left").await;
        assert!(!html.contains("data-state=\"verified\""));
    })
    .await
}
