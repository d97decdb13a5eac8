//! The code must never leave the server except in the message that delivers it: every flow
//! runs with tracing at TRACE, and neither the log nor any response body may contain it.
//! (The dev inbox page shows messages by design and is the one page left out.) The app's
//! event webhook endpoint, asking for every event, must not receive it either, nor may
//! `/metrics` or any text or number stored in the database; nor may any secret issued (the
//! app's, a member's password, a webhook's signing secret).

mod support;

use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use support::{
    find_code,
    http::{HttpCapture, Reply},
    smtp::{mime_part, SmtpCapture},
    spawn_app, NAMESPACE, SECRET,
};

/// Whether `code` appears in `text` as a number of its own (not inside a longer number such
/// as a timestamp, where six digits can match by chance).
fn contains_code(text: &str, code: &str) -> bool {
    text.match_indices(code).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + code.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_digit()) && !after.is_some_and(|c| c.is_ascii_digit())
    })
}

/// Every table's rows as text: each value that is not a blob, cast to text.
async fn database_text(app: &support::TestApp) -> String {
    let tables = app
        .sql_strings(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'dev_message' \
             AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%'",
        )
        .await;
    assert!(tables.len() > 10, "{tables:?}");
    let mut text = String::new();
    for table in tables {
        let columns = app
            .sql_strings(&format!("SELECT name FROM pragma_table_info('{table}')"))
            .await;
        let row = columns
            .iter()
            .map(|c| {
                format!(
                    "CASE typeof({c}) WHEN 'blob' THEN '' ELSE COALESCE(CAST({c} AS TEXT), '') END"
                )
            })
            .collect::<Vec<_>>()
            .join(" || ' | ' || ");
        let rows = app
            .sql_strings(&format!(
                "SELECT COALESCE(group_concat({row}, char(10)), '') FROM {table}"
            ))
            .await;
        text.push_str(&format!("{table}:\n{}\n", rows.concat()));
    }
    text
}

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_flow_puts_the_code_in_a_log_line_or_a_response() {
    let log = Capture::default();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(log.clone())
        .with_ansi(false)
        .without_time()
        .init();
    tracing::trace!("capture is on");

    let mut smtp = SmtpCapture::start().await;
    let app = spawn_app(&smtp.config()).await;
    let mut bodies: Vec<String> = Vec::new();
    let mut codes: Vec<String> = Vec::new();
    let bearer = format!("Bearer {NAMESPACE}:{SECRET}");

    // The demo app handed to a tenant, whose endpoint asks for every event.
    let mut hook = HttpCapture::start(Reply::Status(200, "ok".into())).await;
    let gw = &app.gateway;
    let made = gw.create_tenant("Leak", "leak@example.com").await.unwrap();
    let ip = "127.0.0.1".parse().unwrap();
    let signed = gw
        .sign_in("leak@example.com", made.password.expose(), ip)
        .await
        .unwrap()
        .signed_in()
        .unwrap();
    let session = gw.session(&signed.token).await.unwrap().unwrap();
    let mut demo = gw.store().find_app(NAMESPACE).await.unwrap().unwrap();
    demo.tenant_id = Some(made.tenant.tenant_id);
    demo.declared = false;
    gw.store().update_app(&demo, 0).await.unwrap();
    let every: Vec<String> = app::gateway::outbox::webhooks::WEBHOOK_EVENTS
        .iter()
        .map(|(name, _)| name.to_string())
        .collect();
    let hook_secret = gw
        .add_app_webhook(
            &session,
            NAMESPACE,
            &hook.url("/hooks"),
            &every,
            "127.0.0.1",
        )
        .await
        .unwrap();

    // otpgateway API over SMTP: create, wrong, right (kept), status, delete.
    let (_, body) = app
        .put_otp("leak-1", &[("to", "l1@example.com"), ("provider", "smtp")])
        .await;
    bodies.push(body.to_string());
    let mail = smtp.next().await;
    let code = find_code(&mime_part(&mail.data, "text/plain").unwrap(), 6);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for form in [
        vec![("otp", wrong)],
        vec![("otp", code.as_str()), ("skip_delete", "true")],
    ] {
        bodies.push(app.check_otp("leak-1", &form).await.1.to_string());
    }
    bodies.push(app.status("leak-1").await.1.to_string());
    let res = app
        .client
        .delete(app.url("/api/otp/leak-1/status"))
        .basic_auth(NAMESPACE, Some(SECRET))
        .send()
        .await
        .unwrap();
    bodies.push(res.text().await.unwrap());
    codes.push(code);

    // Native API with the console provider: create, wrong, resend, right, token, confirm.
    let v1 = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut req = app
            .client
            .request(method, app.url(path))
            .header("authorization", bearer.as_str());
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send()
    };
    let res = v1(
        reqwest::Method::POST,
        "/v1/verifications",
        Some(json!({"id": "leak-2", "provider": "console", "to": "l2@example.com"})),
    )
    .await
    .unwrap();
    bodies.push(res.text().await.unwrap());
    let code = find_code(&app.console_message_for("l2@example.com").await, 6);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    bodies.push(
        v1(
            reqwest::Method::POST,
            "/v1/verifications/leak-2/check",
            Some(json!({"code": wrong})),
        )
        .await
        .unwrap()
        .text()
        .await
        .unwrap(),
    );
    app.clock.advance_ms(31_000);
    bodies.push(
        v1(
            reqwest::Method::POST,
            "/v1/verifications/leak-2/resend",
            None,
        )
        .await
        .unwrap()
        .text()
        .await
        .unwrap(),
    );
    let checked: Value = v1(
        reqwest::Method::POST,
        "/v1/verifications/leak-2/check",
        Some(json!({"code": code})),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    bodies.push(checked.to_string());
    let token = checked["verification_token"]
        .as_str()
        .expect("verified")
        .to_owned();
    bodies.push(
        v1(
            reqwest::Method::POST,
            "/v1/tokens/confirm",
            Some(json!({"token": token})),
        )
        .await
        .unwrap()
        .text()
        .await
        .unwrap(),
    );
    bodies.push(
        v1(reqwest::Method::GET, "/v1/verifications/leak-2", None)
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    codes.push(code);

    // Hosted page: render, wrong through the hydrated page's JSON check, right through the form.
    let (_, body) = app
        .put_otp(
            "leak-3",
            &[("to", "l3@example.com"), ("provider", "console")],
        )
        .await;
    bodies.push(body.to_string());
    let code = find_code(&app.console_message_for("l3@example.com").await, 6);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    bodies.push(app.get_text("/otp/demo/leak-3").await);
    let res = app
        .client
        .post(app.url("/otp/demo/leak-3"))
        .header("accept", "application/json")
        .form(&[("action", "check"), ("otp", wrong)])
        .send()
        .await
        .unwrap();
    assert!(
        res.status().is_success(),
        "the page's JSON check answered {}",
        res.status()
    );
    bodies.push(res.text().await.unwrap());
    let res = app
        .client
        .post(app.url("/otp/demo/leak-3"))
        .form(&[("action", "check"), ("otp", code.as_str())])
        .send()
        .await
        .unwrap();
    bodies.push(format!("{:?}", res.headers()));
    bodies.push(res.text().await.unwrap());
    bodies.push(app.get_text("/otp/demo/leak-3").await);
    bodies.push(app.get_text("/otp/demo/leak-3/status").await);
    codes.push(code);

    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let posted = hook.drain(std::time::Duration::from_millis(1500)).await;
    let types: Vec<String> = posted
        .iter()
        .map(|c| serde_json::from_slice::<Value>(&c.body).unwrap()["type"].to_string())
        .collect();
    for wanted in ["created", "sent", "verified"] {
        let t = format!("\"verification.{wanted}\"");
        assert!(types.contains(&t), "{wanted} was posted: {types:?}");
    }
    assert!(
        types.iter().any(|t| t == "\"token.confirmed\""),
        "{types:?}"
    );
    bodies.extend(
        posted
            .iter()
            .map(|c| String::from_utf8_lossy(&c.body).into_owned()),
    );
    // What Prometheus scrapes, and every text and number the database holds (blobs are
    // keyed digests and sealed codes; the dev inbox keeps messages by design).
    bodies.push(app.get_text("/metrics").await);
    let stored = database_text(&app).await;
    assert!(stored.contains("l1@example.com"), "the dump holds the rows");
    bodies.push(stored);
    let log = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    assert!(
        log.contains("capture is on") && log.lines().count() > 50,
        "the log was captured at TRACE"
    );
    // The secrets issued: the app's, the member's one-time password, the webhook's
    // signing secret (shown once when it is made). None may be logged, scraped or stored
    // in clear, nor come back in an answer.
    let secrets = [SECRET, made.password.expose(), hook_secret.as_str()];
    assert!(secrets.iter().all(|s| s.len() >= 12), "{secrets:?}");
    for secret in secrets {
        assert!(!log.contains(secret), "the log carries a secret");
        for body in &bodies {
            assert!(
                !body.contains(secret),
                "an answer, scrape or stored row carries a secret: {body}"
            );
        }
    }
    for code in &codes {
        for line in log.lines() {
            assert!(
                !contains_code(line, code),
                "a log line carries a code: {line}"
            );
        }
        for body in &bodies {
            assert!(
                !contains_code(body, code),
                "a response carries a code: {body}"
            );
        }
    }
}
