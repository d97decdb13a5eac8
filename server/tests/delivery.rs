//! Real delivery through every HTTP provider and SMTP, against servers on loopback that
//! assert the exact request, and the outbox under faults: failing, throttling and hanging
//! providers (and ones that name a `Retry-After`, reset the connection or answer garbage),
//! an SMTP server that is down, codes that expire before they can be sent, failover, the
//! circuit breaker and the SSRF guard. Each runs on SQLite and PostgreSQL.
//!
//! The engine's clock is a test clock: retries become due when a test moves it, so backoff
//! is observed exactly, without sleeping through it.

mod support;

use app::gateway::{clock::Clock, limits};
use base64::{engine::general_purpose::STANDARD, Engine};
use std::time::{Duration, Instant};
use support::{
    find_code,
    http::{Captured, HttpCapture, Reply},
    smtp::{self, SmtpCapture},
    spawn_app_on, Backend, TestApp,
};

/// Loopback allowed (tests only), a quick poll, and short retries.
const DELIVERY: &str = "[delivery]\nallow_loopback = true\npoll_interval = \"50ms\"\nretry_base = \"2s\"\nretry_max = \"4s\"\n\n";

fn ok(body: &str) -> Reply {
    Reply::Status(200, body.into())
}

/// An `http_sms` provider `id` posting JSON to `capture`.
fn json_gateway(id: &str, capture: &HttpCapture) -> String {
    json_gateway_at(id, &capture.url("/sms"))
}

/// An `http_sms` provider `id` posting JSON to `url`.
fn json_gateway_at(id: &str, url: &str) -> String {
    format!(
        "[providers.{id}]\ntype = \"http_sms\"\nurl = \"{url}\"\ntimeout = \"5s\"\n[providers.{id}.json]\nto = \"{{{{ to }}}}\"\ntext = \"{{{{ body }}}}\"\n\n"
    )
}

fn json_text(c: &Captured) -> String {
    let v: serde_json::Value = serde_json::from_slice(&c.body).unwrap();
    v["text"].as_str().unwrap().to_owned()
}

async fn put(app: &TestApp, id: &str, fields: &[(&str, &str)]) {
    let (status, body) = app.put_otp(id, fields).await;
    assert_eq!(status, 200, "{body}");
}

async fn an_http_sms_gateway_gets_the_configured_get_request(backend: Backend) {
    let mut gw = HttpCapture::start(ok("OK: 1 message queued")).await;
    let config = r#"[providers.gateway]
type = "http_sms"
method = "GET"
url = "URL"
success_contains = "OK"
headers = { "X-API-Key" = "key-123" }
[providers.gateway.query]
username = "gw-user"
password = "gw-pass"
phone = "{{ to }}"
message = "{{ body }}"
"#
    .replace("URL", &gw.url("/api/send"));
    let app = spawn_app_on(backend, &config).await;
    put(
        &app,
        "sms-0001",
        &[("to", "+1 415 555 0100"), ("provider", "gateway")],
    )
    .await;

    let req = gw.next().await;
    assert_eq!(req.method, "GET");
    assert_eq!(req.path, "/api/send");
    assert_eq!(req.header("x-api-key"), "key-123");
    assert!(req.body.is_empty());
    let q = req.query_pairs();
    assert_eq!(q.len(), 4, "{q:?}");
    assert_eq!(Captured::field(&q, "username"), "gw-user");
    assert_eq!(Captured::field(&q, "password"), "gw-pass");
    assert_eq!(Captured::field(&q, "phone"), "+14155550100");
    let message = Captured::field(&q, "message");
    assert!(
        message.contains("is your demo verification code"),
        "{message}"
    );
    let code = find_code(&message, 6);

    app.wait_for_events("sms-0001", "sent", 1).await;
    assert_eq!(
        app.deliveries("sms-0001").await,
        vec![("sent".into(), "gateway".into(), 1)]
    );
    let (status, _) = app.check_otp("sms-0001", &[("otp", &code)]).await;
    assert_eq!(status, 200, "the delivered code verifies");
}

const TWILIO_SID: &str = "AC0123456789abcdef0123456789abcdef";
const TWILIO_TOKEN: &str = "twilio-auth-token";

async fn twilio_gets_the_messages_api_form_and_its_receipts_are_recorded(backend: Backend) {
    let mut tw = HttpCapture::start(Reply::Status(
        201,
        r#"{"sid": "SM5f3c0d0e8a4b4d6a9b7c1e2f3a4b5c6d", "status": "queued"}"#.into(),
    ))
    .await;
    let config = format!(
        "[providers.twilio]\ntype = \"twilio\"\naccount_sid = \"{TWILIO_SID}\"\nauth_token = \"{TWILIO_TOKEN}\"\nfrom = \"+15005550006\"\nbase_url = \"{}\"\n\n[providers.twilio_wa]\ntype = \"twilio\"\nchannel = \"whatsapp\"\naccount_sid = \"{TWILIO_SID}\"\nauth_token = \"{TWILIO_TOKEN}\"\nfrom = \"+15005550007\"\nstatus_callback = false\nbase_url = \"{}\"\n",
        tw.url(""),
        tw.url("")
    );
    let app = spawn_app_on(backend, &config).await;
    put(
        &app,
        "twilio-0001",
        &[("to", "+14155550100"), ("provider", "twilio")],
    )
    .await;

    let req = tw.next().await;
    assert_eq!(req.method, "POST");
    assert_eq!(
        req.path,
        format!("/2010-04-01/Accounts/{TWILIO_SID}/Messages.json")
    );
    assert_eq!(
        req.header("authorization"),
        format!(
            "Basic {}",
            STANDARD.encode(format!("{TWILIO_SID}:{TWILIO_TOKEN}"))
        )
    );
    assert_eq!(
        req.header("content-type"),
        "application/x-www-form-urlencoded"
    );
    let form = req.form();
    assert_eq!(form.len(), 4, "{form:?}");
    assert_eq!(Captured::field(&form, "To"), "+14155550100");
    assert_eq!(Captured::field(&form, "From"), "+15005550006");
    let callback = app.url("/v1/providers/twilio/status");
    assert_eq!(Captured::field(&form, "StatusCallback"), callback);
    let code = find_code(&Captured::field(&form, "Body"), 6);
    app.wait_for_events("twilio-0001", "sent", 1).await;

    // WhatsApp through the same API: prefixed numbers, no callback when turned off.
    put(
        &app,
        "tw-2",
        &[("to", "+14155550101"), ("provider", "twilio_wa")],
    )
    .await;
    let form = tw.next().await.form();
    assert_eq!(Captured::field(&form, "To"), "whatsapp:+14155550101");
    assert_eq!(Captured::field(&form, "From"), "whatsapp:+15005550007");
    assert!(form.iter().all(|(k, _)| k != "StatusCallback"));

    // A signed receipt is recorded once; repeats are accepted and ignored.
    let receipt = [
        ("AccountSid", TWILIO_SID),
        ("ApiVersion", "2010-04-01"),
        ("MessageSid", "SM5f3c0d0e8a4b4d6a9b7c1e2f3a4b5c6d"),
        ("MessageStatus", "delivered"),
        ("To", "+14155550100"),
    ];
    let post = |signature: String, fields: Vec<(&'static str, &'static str)>, provider: &str| {
        app.client
            .post(app.url(&format!("/v1/providers/{provider}/status")))
            .header("x-twilio-signature", signature)
            .form(&fields)
            .send()
    };
    let good = support::sign::twilio(TWILIO_TOKEN, &callback, &receipt);
    for _ in 0..2 {
        let res = post(good.clone(), receipt.to_vec(), "twilio")
            .await
            .unwrap();
        assert_eq!(res.status(), 204);
    }
    let kinds = app.events("twilio-0001").await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "receipt").count(),
        1,
        "{kinds:?}"
    );

    // Forged, tampered or misdirected receipts change nothing.
    let mut tampered = receipt.to_vec();
    tampered[3] = ("MessageStatus", "failed");
    let res = post(good.clone(), tampered, "twilio").await.unwrap();
    assert_eq!(res.status(), 401, "the signature covers every field");
    let res = post("bm90LWEtc2lnbmF0dXJl".into(), receipt.to_vec(), "twilio")
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = post(good.clone(), receipt.to_vec(), "console")
        .await
        .unwrap();
    assert_eq!(res.status(), 404, "the console provider takes no receipts");
    let res = post(good, receipt.to_vec(), "nope").await.unwrap();
    assert_eq!(res.status(), 404);
    let kinds = app.events("twilio-0001").await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "receipt").count(),
        1,
        "{kinds:?}"
    );

    let (status, _) = app.check_otp("twilio-0001", &[("otp", &code)]).await;
    assert_eq!(status, 200);
}

async fn kaleyra_gets_otpgateways_requests_with_dlt_fields(backend: Backend) {
    let mut k = HttpCapture::start(Reply::Status(202, r#"{"id": "kaleyra-0001"}"#.into())).await;
    let section = |id: &str, extra: &str| {
        format!(
            "[providers.{id}]\nenabled = true\nsender = \"OTPGTE\"\nsid = \"HXIN1234\"\napi_key = \"kal-key\"\ndefault_phone_code = \"+91\"\nbase_url = \"{}\"\n{extra}\n",
            k.url("")
        )
    };
    let config = section(
        "kaleyra_sms",
        "sms_entity_id = \"1101000000000001\"\nsms_template_id = \"1107000000000002\"",
    ) + &section("kaleyra_whatsapp", "template_name = \"otp_code\"");
    let app = spawn_app_on(backend, &config).await;

    put(
        &app,
        "kaleyra-0001",
        &[("to", "9876543210"), ("provider", "kaleyra_sms")],
    )
    .await;
    let req = k.next().await;
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("POST", "/v1/HXIN1234/messages")
    );
    assert_eq!(req.header("api-key"), "kal-key");
    let form = req.form();
    assert_eq!(
        Captured::field(&form, "to"),
        "+919876543210",
        "default_phone_code applied"
    );
    assert_eq!(Captured::field(&form, "type"), "OTP");
    assert_eq!(Captured::field(&form, "sender"), "OTPGTE");
    assert_eq!(Captured::field(&form, "entity_id"), "1101000000000001");
    assert_eq!(Captured::field(&form, "template_id"), "1107000000000002");
    let code = find_code(&Captured::field(&form, "body"), 6);

    put(
        &app,
        "kal-2",
        &[
            ("to", "+919876543211"),
            ("provider", "kaleyra_whatsapp"),
            ("otp", "482913"),
        ],
    )
    .await;
    let form = k.next().await.form();
    assert_eq!(Captured::field(&form, "type"), "template");
    assert_eq!(Captured::field(&form, "channel"), "whatsapp");
    assert_eq!(Captured::field(&form, "from"), "OTPGTE");
    assert_eq!(Captured::field(&form, "template_name"), "otp_code");
    assert_eq!(Captured::field(&form, "params"), "\"482913\"");

    app.wait_for_events("kaleyra-0001", "sent", 1).await;
    let (status, _) = app.check_otp("kaleyra-0001", &[("otp", &code)]).await;
    assert_eq!(status, 200);
}

async fn failures_and_throttling_are_retried_with_backoff_until_delivered(backend: Backend) {
    let mut gw = HttpCapture::start(ok(r#"{"message_id": "m-3"}"#)).await;
    gw.script([
        Reply::Status(500, "boom".into()),
        Reply::Status(429, "slow down".into()),
    ]);
    let app = spawn_app_on(
        backend,
        &(DELIVERY.to_owned() + &json_gateway("gateway", &gw)),
    )
    .await;
    put(
        &app,
        "retry-1",
        &[("to", "+14155550100"), ("provider", "gateway")],
    )
    .await;

    let first = gw.next().await;
    app.wait_for_events("retry-1", "send_failed", 1).await;
    assert!(
        gw.drain(Duration::from_millis(400)).await.is_empty(),
        "no retry before its backoff has passed"
    );
    app.clock.advance_ms(4_000);
    let second = gw.next().await;
    app.wait_for_events("retry-1", "send_failed", 2).await;
    app.clock.advance_ms(4_000);
    let third = gw.next().await;
    let kinds = app.wait_for_events("retry-1", "sent", 1).await;

    let code = find_code(&json_text(&first), 6);
    assert_eq!(
        find_code(&json_text(&second), 6),
        code,
        "a retry repeats the code"
    );
    assert_eq!(find_code(&json_text(&third), 6), code);
    assert_eq!(
        kinds
            .iter()
            .filter(|k| k.starts_with("send"))
            .collect::<Vec<_>>(),
        ["send_failed", "send_failed"],
        "{kinds:?}"
    );
    assert_eq!(
        app.deliveries("retry-1").await,
        vec![("sent".into(), "gateway".into(), 3)]
    );
    assert!(
        gw.drain(Duration::from_millis(300)).await.is_empty(),
        "sent once"
    );
}

async fn a_throttling_provider_is_not_retried_before_its_retry_after(backend: Backend) {
    let mut gw = HttpCapture::start(ok(r#"{"message_id": "m-4"}"#)).await;
    gw.script([Reply::Throttle(20)]);
    let app = spawn_app_on(
        backend,
        &(DELIVERY.to_owned() + &json_gateway("gateway", &gw)),
    )
    .await;
    put(
        &app,
        "throttled-1",
        &[("to", "+14155550100"), ("provider", "gateway")],
    )
    .await;
    let first = gw.next().await;
    app.wait_for_events("throttled-1", "send_failed", 1).await;
    // Past the backoff (at most 4 s here) but not the provider's 20 s: no retry.
    app.clock.advance_ms(10_000);
    assert!(
        gw.drain(Duration::from_millis(500)).await.is_empty(),
        "retried before Retry-After"
    );
    app.clock.advance_ms(10_500);
    let second = gw.next().await;
    app.wait_for_events("throttled-1", "sent", 1).await;
    assert_eq!(
        find_code(&json_text(&second), 6),
        find_code(&json_text(&first), 6)
    );
    assert_eq!(
        app.deliveries("throttled-1").await,
        vec![("sent".into(), "gateway".into(), 2)]
    );
}

/// The code in the next request the unreliable provider received.
async fn next_code(requests: &mut tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>) -> String {
    let body = tokio::time::timeout(Duration::from_secs(10), requests.recv())
        .await
        .expect("the provider was called")
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    find_code(v["text"].as_str().unwrap(), 6)
}

/// A provider on raw TCP: the first connection is reset once its request is read, the
/// second gets bytes that are not HTTP, the rest a 200. Each request's body is sent back.
async fn unreliable_provider() -> (String, tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/sms", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        for n in 0.. {
            let (mut conn, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            // The head, then as much body as it declared.
            let body = loop {
                let read = conn.read(&mut buf).await.unwrap_or(0);
                if read == 0 {
                    break None;
                }
                got.extend_from_slice(&buf[..read]);
                let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") else {
                    continue;
                };
                let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if got.len() >= end + 4 + length {
                    break Some(got[end + 4..end + 4 + length].to_vec());
                }
            };
            let Some(body) = body else { continue };
            let _ = tx.send(body);
            match n {
                0 => {
                    // A zero linger makes the close a reset, and does not block.
                    #[allow(deprecated)]
                    conn.set_linger(Some(Duration::ZERO)).unwrap();
                    drop(conn);
                }
                1 => {
                    let _ = conn.write_all(b"this is not HTTP at all\r\n\r\n").await;
                }
                _ => {
                    let ok = r#"{"message_id": "m-5"}"#;
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{ok}",
                        ok.len()
                    );
                    let _ = conn.write_all(reply.as_bytes()).await;
                }
            }
        }
    });
    (url, rx)
}

async fn a_provider_that_resets_or_answers_garbage_is_retried_until_delivered(backend: Backend) {
    let (url, mut requests) = unreliable_provider().await;
    let app = spawn_app_on(
        backend,
        &(DELIVERY.to_owned() + &json_gateway_at("gateway", &url)),
    )
    .await;
    put(
        &app,
        "garbled-1",
        &[("to", "+14155550100"), ("provider", "gateway")],
    )
    .await;
    let code = next_code(&mut requests).await;
    app.wait_for_events("garbled-1", "send_failed", 1).await;
    app.clock.advance_ms(4_000);
    assert_eq!(
        next_code(&mut requests).await,
        code,
        "a retry repeats the code"
    );
    app.wait_for_events("garbled-1", "send_failed", 2).await;
    app.clock.advance_ms(4_000);
    assert_eq!(next_code(&mut requests).await, code);
    app.wait_for_events("garbled-1", "sent", 1).await;
    assert_eq!(
        app.deliveries("garbled-1").await,
        vec![("sent".into(), "gateway".into(), 3)]
    );
    // What the failures recorded names them, and never the code.
    let details = app
        .sql_strings("SELECT detail FROM event WHERE kind = 'send_failed' ORDER BY event_id")
        .await;
    assert_eq!(details.len(), 2, "{details:?}");
    for detail in &details {
        assert!(detail.contains("unreachable"), "{detail}");
        assert!(
            !detail.contains(&code),
            "a failure's record carries the code: {detail}"
        );
    }
}

async fn a_hanging_provider_never_slows_the_api(backend: Backend) {
    let mut gw = HttpCapture::start(Reply::Hang).await;
    let app = spawn_app_on(
        backend,
        &(DELIVERY.to_owned() + &json_gateway("gateway", &gw)),
    )
    .await;
    for i in 0..3 {
        let started = Instant::now();
        put(
            &app,
            &format!("hang-{i}"),
            &[("to", "+14155550100"), ("provider", "gateway")],
        )
        .await;
        // The provider's timeout is 5 s and it never answers: an API that waited on it
        // could not answer sooner.
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
    assert_eq!(
        gw.drain(Duration::from_secs(1)).await.len(),
        3,
        "all three were sent at once"
    );
    for i in 0..3 {
        app.wait_for_events(&format!("hang-{i}"), "send_failed", 1)
            .await;
        assert_eq!(
            app.deliveries(&format!("hang-{i}")).await[0].0,
            "queued",
            "to be retried"
        );
    }
}

async fn a_failing_provider_trips_its_circuit(backend: Backend) {
    let mut gw = HttpCapture::start(Reply::Status(503, "down".into())).await;
    let config = DELIVERY.replace(
        "[delivery]\n",
        "[delivery]\nbreaker_failures = 2\nbreaker_cooldown = \"1h\"\n",
    ) + &json_gateway("gateway", &gw);
    let app = spawn_app_on(backend, &config).await;
    for i in 0..2 {
        put(
            &app,
            &format!("cb-{i}"),
            &[("to", "+14155550100"), ("provider", "gateway")],
        )
        .await;
        gw.next().await;
        app.wait_for_events(&format!("cb-{i}"), "send_failed", 1)
            .await;
    }
    put(
        &app,
        "cb-2",
        &[("to", "+14155550100"), ("provider", "gateway")],
    )
    .await;
    app.wait_for_events("cb-2", "send_failed", 1).await;
    assert!(
        gw.drain(Duration::from_millis(300)).await.is_empty(),
        "an open circuit fails at once without calling the provider"
    );
}

async fn smtp_down_for_ten_seconds_then_up_delivers(backend: Backend) {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let app = spawn_app_on(backend, &(DELIVERY.to_owned() + &smtp::config_for(port))).await;
    put(
        &app,
        "mail-1",
        &[("to", "john@example.com"), ("provider", "smtp")],
    )
    .await;
    app.wait_for_events("mail-1", "send_failed", 1).await;
    // Ten seconds of the engine's time with the server down: every retry fails.
    let mut failures = 1;
    for _ in 0..2 {
        app.clock.advance_ms(5_000);
        failures += 1;
        app.wait_for_events("mail-1", "send_failed", failures).await;
    }
    let mut server = SmtpCapture::start_on(port).await;
    app.clock.advance_ms(4_000);
    let mail = server.next().await;
    assert_eq!(mail.to, vec!["john@example.com"]);
    assert!(
        mail.data.contains("multipart/alternative"),
        "text and HTML parts"
    );
    let text = smtp::mime_part(&mail.data, "text/plain").expect("a text part");
    let code = find_code(&text, 6);
    app.wait_for_events("mail-1", "sent", 1).await;
    assert_eq!(
        app.deliveries("mail-1").await[0],
        ("sent".into(), "smtp".into(), 4)
    );
    let (status, _) = app.check_otp("mail-1", &[("otp", &code)]).await;
    assert_eq!(status, 200);
}

async fn smtp_starttls_upgrades_the_conversation(backend: Backend) {
    let mut server = SmtpCapture::start_with_starttls().await;
    let config = smtp::config_for(server.port).replace(
        "tls_type = \"none\"",
        "tls_type = \"STARTTLS\"\ntls_skip_verify = true",
    );
    assert!(config.contains("STARTTLS"));
    let app = spawn_app_on(backend, &config).await;
    put(
        &app,
        "tls-0001",
        &[("to", "john@example.com"), ("provider", "smtp")],
    )
    .await;
    let mail = server.next().await;
    assert!(mail.tls, "the message travelled after STARTTLS");
    let code = find_code(&smtp::mime_part(&mail.data, "text/plain").unwrap(), 6);
    let kinds = app.wait_for_events("tls-0001", "sent", 1).await;
    assert!(!kinds.contains(&"send_failed".to_owned()), "{kinds:?}");
    let (status, _) = app.check_otp("tls-0001", &[("otp", &code)]).await;
    assert_eq!(status, 200);
}

async fn a_code_that_expires_before_it_can_be_sent_is_dead_lettered(backend: Backend) {
    let mut gw = HttpCapture::start(Reply::Status(500, "down".into())).await;
    let app = spawn_app_on(
        backend,
        &(DELIVERY.to_owned() + &json_gateway("gateway", &gw)),
    )
    .await;
    put(
        &app,
        "dead-1",
        &[
            ("to", "+14155550100"),
            ("provider", "gateway"),
            ("ttl", "30"),
        ],
    )
    .await;
    gw.next().await;
    app.wait_for_events("dead-1", "send_failed", 1).await;
    app.clock.advance_ms(31_000);
    app.wait_for_events("dead-1", "dead_lettered", 1).await;
    assert!(
        gw.drain(Duration::from_millis(400)).await.is_empty(),
        "nothing goes out once the code has expired"
    );
    assert_eq!(app.deliveries("dead-1").await[0].0, "dead");
}

/// The per-address send cap (10 an hour): of twelve verifications to one number, queued
/// together so the outbox claims several of them at once, ten messages go out and two
/// are suppressed, each with its event.
async fn the_send_cap_suppresses_messages_past_ten_to_one_address(backend: Backend) {
    let mut gw = HttpCapture::start(ok("{}")).await;
    let app = spawn_app_on(
        backend,
        &(DELIVERY.to_owned() + &json_gateway("gateway", &gw)),
    )
    .await;
    let ids: Vec<String> = (0..12).map(|n| format!("cap-{n}")).collect();
    let puts = ids.iter().map(|id| {
        let app = &app;
        async move {
            put(app, id, &[("to", "+14155550100"), ("provider", "gateway")]).await;
        }
    });
    futures_util::future::join_all(puts).await;
    let mut settled = Vec::new();
    for id in &ids {
        for _ in 0..500 {
            let kinds = app.events(id).await;
            if kinds.iter().any(|k| k == "sent" || k == "suppressed") {
                settled.push(kinds);
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    assert_eq!(settled.len(), 12, "every message was sent or suppressed");
    let count = |kind: &str| {
        settled
            .iter()
            .filter(|kinds| kinds.iter().any(|k| k == kind))
            .count()
    };
    assert_eq!((count("sent"), count("suppressed")), (10, 2));
    for id in &ids {
        let status = app.deliveries(id).await[0].0.clone();
        assert!(status == "sent" || status == "suppressed", "{id}: {status}");
    }
    assert_eq!(
        gw.drain(Duration::from_millis(300)).await.len(),
        10,
        "the provider got the ten messages and no more"
    );
}

/// A message counts against its address's send cap once, whichever claim of it sends it:
/// when the count fails (here a trigger refuses the send counters), the message waits for
/// its lease to run out, and the claim that takes it again still counts it, so it is held
/// back when the address has had its ten meanwhile.
async fn a_message_claimed_again_still_counts_against_the_send_cap(backend: Backend) {
    let mut gw = HttpCapture::start(ok("{}")).await;
    let app = spawn_app_on(
        backend,
        &(DELIVERY.to_owned() + &json_gateway("gateway", &gw)),
    )
    .await;
    let (refuse, allow): (&[&str], &str) = match backend {
        Backend::Sqlite => (
            &[
                "CREATE TRIGGER refuse_send_counts BEFORE INSERT ON rate_bucket \
               WHEN NEW.bucket_key LIKE 'send_addr:%' \
               BEGIN SELECT RAISE(ABORT, 'send counters unavailable'); END",
            ],
            "DROP TRIGGER refuse_send_counts",
        ),
        Backend::Postgres => (
            &[
                "CREATE FUNCTION refuse_send_counts() RETURNS trigger LANGUAGE plpgsql AS $$ \
                 BEGIN IF NEW.bucket_key LIKE 'send_addr:%' THEN \
                 RAISE EXCEPTION 'send counters unavailable'; END IF; RETURN NEW; END $$",
                "CREATE TRIGGER refuse_send_counts BEFORE INSERT OR UPDATE ON rate_bucket \
                 FOR EACH ROW EXECUTE FUNCTION refuse_send_counts()",
            ],
            "DROP TRIGGER refuse_send_counts ON rate_bucket",
        ),
    };
    for sql in refuse {
        app.sql(sql).await;
    }
    put(
        &app,
        "twice",
        &[("to", "+14155550100"), ("provider", "gateway")],
    )
    .await;
    // Claimed once and not counted, so not sent: it keeps its lease until it runs out.
    let mut claimed = Vec::new();
    for _ in 0..250 {
        claimed = app.deliveries("twice").await;
        if claimed[0].2 == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!((claimed[0].0.as_str(), claimed[0].2), ("sending", 1));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(app.deliveries("twice").await[0].0, "sending", "still held");
    app.sql(allow).await;
    // Meanwhile the address had its ten messages in the window the next claim falls in.
    let after_lease = 61_000;
    let record = app.record("twice").await;
    let cap = app.gateway.settings().limits.sends_per_address;
    let (window, _) = cap.window(app.clock.now_ms() + after_lease);
    let key = limits::key(
        "send_addr",
        record.app_id,
        &limits::address_subject("+14155550100"),
    );
    app.gateway
        .store()
        .hit(&key, window, cap.max)
        .await
        .unwrap();
    app.clock.advance_ms(after_lease);
    let kinds = app.wait_for_events("twice", "suppressed", 1).await;
    assert!(!kinds.iter().any(|k| k == "sent"), "{kinds:?}");
    let settled = app.deliveries("twice").await;
    assert_eq!((settled[0].0.as_str(), settled[0].2), ("suppressed", 2));
    assert!(
        gw.drain(Duration::from_millis(300)).await.is_empty(),
        "the provider got nothing"
    );
}

async fn a_failing_route_falls_over_to_the_next_provider(backend: Backend) {
    let mut primary = HttpCapture::start(Reply::Status(503, "down".into())).await;
    let mut secondary = HttpCapture::start(ok("{}")).await;
    let config = DELIVERY.to_owned()
        + &json_gateway("primary", &primary)
        + &json_gateway("secondary", &secondary)
        + "[[auth.demo.routes]]\nchannel = \"sms\"\nproviders = [\"primary\", \"secondary\"]\n";
    let app = spawn_app_on(backend, &config).await;
    put(
        &app,
        "fo-1",
        &[("to", "+14155550100"), ("provider", "primary")],
    )
    .await;
    let code = find_code(&json_text(&primary.next().await), 6);
    let rescued = secondary.next().await;
    assert_eq!(
        find_code(&json_text(&rescued), 6),
        code,
        "the same code, the next route"
    );
    let kinds = app.wait_for_events("fo-1", "sent", 1).await;
    assert!(kinds.contains(&"send_failed".to_owned()), "{kinds:?}");
    assert_eq!(
        app.deliveries("fo-1").await,
        vec![("sent".into(), "secondary".into(), 2)]
    );
}

async fn providers_cannot_reach_loopback_unless_the_operator_allows_it(backend: Backend) {
    let mut gw = HttpCapture::start(ok("{}")).await;
    let by_name = json_gateway("by_name", &gw).replace("127.0.0.1", "localhost");
    let config = "[delivery]\npoll_interval = \"50ms\"\n\n".to_owned()
        + &json_gateway("gateway", &gw)
        + &by_name;
    let app = spawn_app_on(backend, &config).await;
    put(
        &app,
        "ssrf-1",
        &[("to", "+14155550100"), ("provider", "gateway")],
    )
    .await;
    app.wait_for_events("ssrf-1", "dead_lettered", 1).await;
    put(
        &app,
        "ssrf-2",
        &[("to", "+14155550101"), ("provider", "by_name")],
    )
    .await;
    app.wait_for_events("ssrf-2", "send_failed", 1).await;
    assert!(
        gw.drain(Duration::from_millis(300)).await.is_empty(),
        "neither a literal loopback address nor a name resolving to one is reached"
    );
}

on_both_backends!(
    an_http_sms_gateway_gets_the_configured_get_request,
    twilio_gets_the_messages_api_form_and_its_receipts_are_recorded,
    kaleyra_gets_otpgateways_requests_with_dlt_fields,
    failures_and_throttling_are_retried_with_backoff_until_delivered,
    a_hanging_provider_never_slows_the_api,
    a_throttling_provider_is_not_retried_before_its_retry_after,
    a_provider_that_resets_or_answers_garbage_is_retried_until_delivered,
    a_failing_provider_trips_its_circuit,
    smtp_down_for_ten_seconds_then_up_delivers,
    smtp_starttls_upgrades_the_conversation,
    a_code_that_expires_before_it_can_be_sent_is_dead_lettered,
    the_send_cap_suppresses_messages_past_ten_to_one_address,
    a_message_claimed_again_still_counts_against_the_send_cap,
    a_failing_route_falls_over_to_the_next_provider,
    providers_cannot_reach_loopback_unless_the_operator_allows_it,
);
