//! Inbound (reverse) verification: the page shows a QR code, the number and the code; an
//! SMS from the person's phone, delivered by a provider's signed webhook, verifies it —
//! once, only from the right number, and live on the page's event stream.

mod support;

use base64::{engine::general_purpose::STANDARD, Engine};
use serde_json::{json, Value};
use support::{spawn_app_on, Backend, TestApp};

const KEY_B64: &str = "aW5ib3VuZC1zaWduaW5nLWtleS0wMTIzNDU2Nzg5";
const TWILIO_SID: &str = "AC0123456789abcdef0123456789abcdef";
const TWILIO_TOKEN: &str = "twilio-auth-token";

fn config() -> String {
    format!(
        "[inbound]\nnumber = \"+1 500 555 0006\"\nsigning_secret = \"whsec_{KEY_B64}\"\n\n[providers.twilio]\ntype = \"twilio\"\naccount_sid = \"{TWILIO_SID}\"\nauth_token = \"{TWILIO_TOKEN}\"\nfrom = \"+15005550006\"\n"
    )
}

/// Starts an inbound verification (optionally for a known number) and reads its code off
/// the hosted page.
async fn start(app: &TestApp, id: &str, to: Option<&str>) -> String {
    let mut form = vec![("provider", "inbound_sms")];
    if let Some(to) = to {
        form.push(("to", to));
    }
    let (status, body) = app.put_otp(id, &form).await;
    assert_eq!(status, 200, "{body}");
    let html = app.get_text(&format!("/otp/demo/{id}")).await;
    assert!(html.contains("<svg"), "a QR code");
    assert!(html.contains("+15005550006"), "the number to text");
    let at = html
        .find(r#"data-role="inbound-code""#)
        .unwrap_or_else(|| panic!("the code is shown: {html}"));
    let start = at + html[at..].find('>').unwrap() + 1;
    let code = html[start..start + 10].to_owned();
    assert!(code.chars().all(|c| c.is_ascii_alphanumeric()), "{code}");
    assert!(html.contains(&format!("sms:+15005550006?body={code}")));
    code
}

/// Posts a generic inbound message signed per Standard Webhooks, `age` seconds old.
async fn generic(app: &TestApp, msg_id: &str, from: &str, body: &str, age: i64, key: &str) -> u16 {
    let payload = serde_json::to_vec(
        &json!({ "id": msg_id, "from": from, "to": "+15005550006", "body": body }),
    )
    .unwrap();
    let ts = app.gateway.now_ms() / 1000 - age;
    let sig = support::sign::standard_webhook(key, msg_id, ts, &payload);
    app.client
        .post(app.url("/v1/inbound/generic"))
        .header("content-type", "application/json")
        .header("webhook-id", msg_id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", sig)
        .body(payload)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// otpgateway's status check: verified, or "OTP not verified.".
async fn closed(app: &TestApp, id: &str) -> bool {
    let (status, body): (u16, Value) = app.status(id).await;
    match status {
        200 => body["data"]["closed"].as_bool().unwrap(),
        400 if body["message"] == "OTP not verified." => false,
        _ => panic!("{status} {body}"),
    }
}

async fn a_signed_sms_with_the_code_verifies_the_sender(backend: Backend) {
    let app = spawn_app_on(backend, &config()).await;
    let code = start(&app, "inbound-0001", None).await;
    let other_key = STANDARD.encode("another-key-0123456789");
    assert_eq!(
        generic(&app, "m1", "+14155550100", &code, 0, &other_key).await,
        401
    );
    assert_eq!(
        generic(&app, "m2", "+14155550100", &code, 600, KEY_B64).await,
        401,
        "too old"
    );
    assert!(
        !closed(&app, "inbound-0001").await,
        "refused messages change nothing"
    );
    assert_eq!(
        generic(
            &app,
            "m3",
            "+1 415 555 0100",
            &format!("Code {}", code.to_lowercase()),
            0,
            KEY_B64
        )
        .await,
        200
    );
    assert!(closed(&app, "inbound-0001").await, "verified by the SMS");
    assert_eq!(
        app.record("inbound-0001").await.address,
        "+14155550100",
        "the sender is the verified address"
    );
    assert_eq!(
        generic(&app, "m3", "+14155550100", &code, 0, KEY_B64).await,
        200,
        "a repeat is accepted and ignored"
    );
    let kinds = app.events("inbound-0001").await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "verified").count(),
        1,
        "{kinds:?}"
    );
}

async fn only_the_expected_number_can_verify(backend: Backend) {
    let app = spawn_app_on(backend, &config()).await;
    let code = start(&app, "inbound-0002", Some("+14155550100")).await;
    assert_eq!(
        generic(&app, "m1", "+14155550199", &code, 0, KEY_B64).await,
        200
    );
    assert!(
        !closed(&app, "inbound-0002").await,
        "another phone cannot verify it"
    );
    assert!(app
        .events("inbound-0002")
        .await
        .contains(&"inbound_refused".to_owned()));
    assert_eq!(
        generic(&app, "m2", "+14155550199", "ZZZZZZZZZZ", 0, KEY_B64).await,
        200
    );
    assert_eq!(
        generic(&app, "m3", "+14155550100", &code, 0, KEY_B64).await,
        200
    );
    assert!(closed(&app, "inbound-0002").await);

    let (status, body) = app
        .put_otp(
            "inbound-0003",
            &[("provider", "inbound_sms"), ("otp", "ABCDEFGH23")],
        )
        .await;
    assert_eq!(
        status, 400,
        "inbound codes are never chosen by the caller: {body}"
    );
}

async fn twilio_inbound_messages_are_signed_and_verify(backend: Backend) {
    let app = spawn_app_on(backend, &config()).await;
    let code = start(&app, "inbound-0004", None).await;
    let url = app.url("/v1/inbound/twilio");
    let fields = [
        ("AccountSid", TWILIO_SID),
        ("Body", code.as_str()),
        ("From", "+14155550100"),
        ("MessageSid", "SM00000000000000000000000000000001"),
        ("To", "+15005550006"),
    ];
    let good = support::sign::twilio(TWILIO_TOKEN, &url, &fields);
    let post = |sig: String| {
        app.client
            .post(&url)
            .header("x-twilio-signature", sig)
            .form(&fields)
            .send()
    };
    assert_eq!(post("bm9wZQ==".into()).await.unwrap().status(), 401);
    assert!(!closed(&app, "inbound-0004").await);
    let res = post(good).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/xml");
    assert!(closed(&app, "inbound-0004").await);

    let res = app
        .client
        .post(app.url("/v1/inbound/console"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404, "the console takes no inbound messages");
}

async fn the_page_stream_turns_verified_when_the_sms_arrives(backend: Backend) {
    let app = spawn_app_on(backend, &config()).await;
    let code = start(&app, "inbound-0005", None).await;
    let token = app
        .gateway
        .live_token("demo", &app.record("inbound-0005").await);
    let mut res = app
        .client
        .get(app.url(&format!(
            "/v1/verifications/inbound-0005/events?token={token}"
        )))
        .send()
        .await
        .unwrap();
    let first = res.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("subscribed"));
    assert_eq!(
        generic(&app, "m1", "+14155550100", &code, 0, KEY_B64).await,
        200
    );
    let mut rest = String::new();
    while let Ok(Some(chunk)) =
        tokio::time::timeout(std::time::Duration::from_secs(10), res.chunk())
            .await
            .unwrap()
    {
        rest.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(rest.contains("event: verified"), "{rest}");
}

/// The app's countries hold for the inbound flow too: a number given at create, and the
/// sender of the SMS.
async fn a_sender_of_a_refused_country_does_not_verify(backend: Backend) {
    let app = spawn_app_on(backend, &format!("countries = [\"US\"]\n\n{}", config())).await;
    let (status, body) = app
        .put_otp(
            "inbound-gb",
            &[("provider", "inbound_sms"), ("to", "+447400123456")],
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("country"),
        "{body}"
    );

    let code = start(&app, "inbound-0005", None).await;
    assert_eq!(
        generic(&app, "g1", "+44 7400 123456", &code, 0, KEY_B64).await,
        200,
        "the webhook is taken"
    );
    assert!(!closed(&app, "inbound-0005").await, "but verifies nothing");
    let kinds = app.events("inbound-0005").await;
    assert!(kinds.contains(&"inbound_refused".to_owned()), "{kinds:?}");
    assert!(app.record("inbound-0005").await.address.is_empty());
    assert_eq!(
        generic(&app, "g2", "+14155550100", &code, 0, KEY_B64).await,
        200
    );
    assert!(closed(&app, "inbound-0005").await, "a US sender verifies");
}

on_both_backends!(
    a_sender_of_a_refused_country_does_not_verify,
    a_signed_sms_with_the_code_verifies_the_sender,
    only_the_expected_number_can_verify,
    twilio_inbound_messages_are_signed_and_verify,
    the_page_stream_turns_verified_when_the_sms_arrives,
);
