//! The webhook relay provider against an HTTP server on loopback that records the exact
//! request: method, path, Basic auth, JSON payload, and a Standard Webhooks signature.

mod support;

use axum::{body::Bytes, extract::State, http::HeaderMap, http::StatusCode, routing::post, Router};
use base64::{engine::general_purpose::STANDARD, Engine};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use support::{spawn_app_on, Backend};
use tokio::sync::mpsc;

const SECRET_B64: &str = "c2lnbmluZy1zZWNyZXQtZm9yLXRlc3Rz";

struct Captured {
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

/// A relay answering `status`; every request it gets arrives on the channel.
async fn relay(status: StatusCode) -> (u16, mpsc::UnboundedReceiver<Captured>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = Router::new()
        .route(
            "/{*path}",
            post(
                |State((tx, status)): State<(mpsc::UnboundedSender<Captured>, StatusCode)>,
                 uri: axum::http::Uri,
                 headers: HeaderMap,
                 body: Bytes| async move {
                    let _ = tx.send(Captured {
                        path: uri.path().to_owned(),
                        headers,
                        body,
                    });
                    status
                },
            ),
        )
        .with_state((tx, status));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (port, rx)
}

fn config(port: u16) -> String {
    format!(
        "[webhooks.relay]\nenabled = true\nurl = \"http://127.0.0.1:{port}/hooks/otp\"\nusername = \"relay-user\"\npassword = \"relay-pass\"\nsubject = \"{{{{ .Namespace }}}} code\"\nchannel = \"sms\"\nsigning_secret = \"whsec_{SECRET_B64}\"\ntimeout = \"2s\"\n"
    )
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Captured>) -> Captured {
    tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
        .await
        .expect("the relay was called")
        .unwrap()
}

async fn a_webhook_relay_gets_the_otpgateway_payload_signed_and_authenticated(backend: Backend) {
    let (port, mut rx) = relay(StatusCode::OK).await;
    let app = spawn_app_on(backend, &config(port)).await;
    let (status, body) = app
        .put_otp(
            "hook-0001",
            &[
                ("to", "+1 415 555 0100"),
                ("provider", "relay"),
                ("extra", r#"{"k":1}"#),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["to"], "+14155550100",
        "normalised as an SMS address"
    );

    let req = next(&mut rx).await;
    assert_eq!(req.path, "/hooks/otp");
    let auth = req.headers["authorization"].to_str().unwrap();
    assert_eq!(
        auth,
        format!("Basic {}", STANDARD.encode("relay-user:relay-pass"))
    );
    assert_eq!(req.headers["content-type"], "application/json");
    let payload: Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(payload["subject"], "demo code");
    let otp = &payload["otp"];
    assert_eq!(
        (
            otp["namespace"].as_str(),
            otp["id"].as_str(),
            otp["to"].as_str()
        ),
        (Some("demo"), Some("hook-0001"), Some("+14155550100"))
    );
    assert_eq!(
        (otp["provider"].as_str(), otp["extra"]["k"].as_i64()),
        (Some("relay"), Some(1))
    );
    let code = otp["otp"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 6);
    assert!(payload["body"].as_str().unwrap().contains(&code));

    let id = req.headers["webhook-id"].to_str().unwrap();
    let timestamp = req.headers["webhook-timestamp"].to_str().unwrap();
    let signature = req.headers["webhook-signature"].to_str().unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&STANDARD.decode(SECRET_B64).unwrap()).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(&req.body);
    assert_eq!(
        signature,
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    );
    assert!(signature != "v1,", "an empty signature never passes");

    let (status, _) = app.check_otp("hook-0001", &[("otp", &code)]).await;
    assert_eq!(status, 200, "the relayed code verifies");
}

async fn a_non_2xx_answer_is_recorded_as_a_failed_delivery(backend: Backend) {
    let (port, mut rx) = relay(StatusCode::INTERNAL_SERVER_ERROR).await;
    let app = spawn_app_on(backend, &config(port)).await;
    let (status, _) = app
        .put_otp("wh-2", &[("to", "+14155550100"), ("provider", "relay")])
        .await;
    assert_eq!(
        status, 200,
        "the API answers the same whatever happens downstream"
    );
    next(&mut rx).await;
    let demo = app
        .gateway
        .authenticate(support::NAMESPACE, support::SECRET)
        .await
        .unwrap();
    let record = app
        .gateway
        .get(&demo, &app::model::VerificationId::parse("wh-2").unwrap())
        .await
        .unwrap();
    for _ in 0..100 {
        if app
            .gateway
            .event_kinds(&record)
            .await
            .unwrap()
            .iter()
            .any(|k| k == "send_failed")
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("no send_failed event after a 500");
}

on_both_backends!(
    a_webhook_relay_gets_the_otpgateway_payload_signed_and_authenticated,
    a_non_2xx_answer_is_recorded_as_a_failed_delivery,
);
