//! Verify-then-act: a verification started for an action (and a payload hash) earns a
//! token that names them, and `/v1/tokens/confirm` accepts it once, only for exactly that;
//! a verification bound to a session is checked, and its token issued, only where the
//! binding is presented (the API's check, the browser the hosted page gave its cookie to,
//! a live subscriber that presents it), so a code relayed elsewhere yields nothing there.

mod support;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use serde_json::{json, Value};
use std::time::Duration;
use support::{spawn_app_on, Backend, TestApp, NAMESPACE};

const BINDING: &str = "sess-4f1c2b9a7d3e5f60";

/// The claims of a JWT (its signature is checked by the confirmations below).
fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

async fn create(app: &TestApp, body: Value) -> Value {
    let (status, v) = app.v1_post("/v1/verifications", body).await;
    assert_eq!(status, 201, "{v}");
    v
}

async fn confirm(app: &TestApp, body: Value) -> (u16, Value) {
    app.v1_post("/v1/tokens/confirm", body).await
}

async fn attempts(app: &TestApp, id: &str) -> u32 {
    app.record(id).await.attempts
}

async fn a_token_is_confirmed_only_for_its_action_and_payload(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    let hash = "n4bQgYhMfWWaL-qgxVrQFaO_TxsrC4Is0V1sFbDwCgg";
    let v = create(
        &app,
        json!({"id": "act-1", "provider": "console", "to": "ana@example.com", "code": "424242",
               "action": "change_email", "payload_hash": hash}),
    )
    .await;
    assert_eq!(v["action"], "change_email");
    assert_eq!(v["payload_hash"], hash);
    let (status, checked) = app
        .v1_post("/v1/verifications/act-1/check", json!({"code": "424242"}))
        .await;
    assert_eq!(status, 200, "{checked}");
    let token = checked["verification_token"].as_str().unwrap().to_owned();
    let c = claims(&token);
    assert_eq!(c["act"], "change_email");
    assert_eq!(c["payload_hash"], hash);
    assert_eq!(c["sub"], "act-1");

    // Anything but exactly its action and payload is refused, and does not use it up.
    for (action, payload) in [
        (Some("set_password"), Some(hash)),
        (None, Some(hash)),
        (Some("change_email"), None),
        (Some("change_email"), Some("c2FtZQ")),
        (None, None),
    ] {
        let (status, answer) = confirm(
            &app,
            json!({"token": token, "action": action, "payload_hash": payload}),
        )
        .await;
        assert_eq!(status, 422, "{action:?} {payload:?}: {answer}");
        assert_eq!(answer["error"]["code"], "action_mismatch");
    }
    let (status, answer) = confirm(
        &app,
        json!({"token": token, "action": "change_email", "payload_hash": hash,
               "expected_address": "ana@example.com"}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["action"], "change_email");
    assert_eq!(answer["payload_hash"], hash);
    // A second confirmation is refused, whatever it says.
    let (status, answer) = confirm(
        &app,
        json!({"token": token, "action": "change_email", "payload_hash": hash}),
    )
    .await;
    assert_eq!(status, 409, "{answer}");
    assert_eq!(answer["error"]["code"], "token_used");

    // A token without an action is refused for one.
    create(
        &app,
        json!({"id": "act-2", "provider": "console", "to": "ana@example.com", "code": "535353"}),
    )
    .await;
    let (_, checked) = app
        .v1_post("/v1/verifications/act-2/check", json!({"code": "535353"}))
        .await;
    let plain = checked["verification_token"].as_str().unwrap().to_owned();
    assert!(claims(&plain).get("act").is_none());
    let (status, _) = confirm(&app, json!({"token": plain, "action": "login"})).await;
    assert_eq!(status, 422);
    let (status, answer) = confirm(&app, json!({"token": plain})).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.get("action").is_none());

    // Malformed purposes change nothing.
    for (body, field) in [
        (json!({"action": "Set Password"}), "action"),
        (json!({"payload_hash": "not a hash"}), "payload_hash"),
        (json!({"action": ""}), "action"),
        (json!({"payload_hash": ""}), "payload_hash"),
        (json!({"session_binding": ""}), "session_binding"),
        (json!({"session_binding": "short"}), "session_binding"),
        (
            json!({"session_binding": "semi;colon;0123456789"}),
            "session_binding",
        ),
    ] {
        let mut body = body;
        body["provider"] = json!("console");
        body["to"] = json!("bo@example.com");
        body["id"] = json!("act-bad");
        let (status, answer) = app.v1_post("/v1/verifications", body).await;
        assert_eq!(status, 422, "{answer}");
        assert!(answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("`{field}`")));
    }
    let (status, _, _) = app
        .v1(reqwest::Method::GET, "/v1/verifications/act-bad", None)
        .await;
    assert_eq!(status, 404, "nothing was created");
}

async fn a_bound_verification_is_checked_only_with_its_binding(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    let v = create(
        &app,
        json!({"id": "bound-1", "provider": "console", "to": "ana@example.com", "code": "424242",
               "action": "set_password", "session_binding": BINDING}),
    )
    .await;
    assert_eq!(v["bound"], true);
    assert!(
        !v.to_string().contains(BINDING),
        "the binding is never shown"
    );
    // Only a keyed digest is stored.
    let stored = app
        .sql_strings("SELECT intent FROM verification WHERE public_id = 'bound-1'")
        .await;
    assert!(!stored[0].contains(BINDING), "{stored:?}");
    assert!(stored[0].contains("set_password"));

    // Without it, or with another, the check is refused before the code is looked at.
    for binding in [None, Some("sess-0000000000000000")] {
        let (status, answer) = app
            .v1_post(
                "/v1/verifications/bound-1/check",
                json!({"code": "424242", "session_binding": binding}),
            )
            .await;
        assert_eq!(status, 403, "{answer}");
        assert_eq!(answer["error"]["code"], "binding_mismatch");
    }
    // otpgateway's API has no way to present it.
    let (status, _) = app.check_otp("bound-1", &[("otp", "424242")]).await;
    assert_eq!(status, 403);
    assert_eq!(attempts(&app, "bound-1").await, 0, "nothing was counted");

    let (status, answer) = app
        .v1_post(
            "/v1/verifications/bound-1/check",
            json!({"code": "424242", "session_binding": BINDING}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["verified"], true);
    let token = answer["verification_token"].as_str().unwrap();
    let (status, answer) = confirm(&app, json!({"token": token, "action": "set_password"})).await;
    assert_eq!(status, 200, "{answer}");
}

/// Posts the hosted page's form, with a cookie header when given; the answer's status
/// and `Location`.
async fn page_check(app: &TestApp, id: &str, code: &str, cookie: Option<&str>) -> (u16, String) {
    let mut req = app
        .client
        .post(app.url(&format!("/otp/{NAMESPACE}/{id}")))
        .form(&[("action", "check"), ("otp", code)]);
    if let Some(cookie) = cookie {
        req = req.header("cookie", cookie);
    }
    let res = req.send().await.unwrap();
    let location = res
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (res.status().as_u16(), location)
}

/// Opens the verification's event stream (SSE) with `query` and collects it until it ends.
fn listen(app: &TestApp, id: &str, query: String) -> tokio::task::JoinHandle<String> {
    let url = app.url(&format!("/v1/verifications/{id}/events?{query}"));
    let client = app.client.clone();
    tokio::spawn(async move {
        let res = client.get(url).send().await.unwrap();
        assert_eq!(res.status(), 200);
        tokio::time::timeout(Duration::from_secs(20), res.text())
            .await
            .expect("the stream ends after `verified`")
            .unwrap()
    })
}

async fn only_the_browser_given_the_binding_gets_the_token(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    let v = create(
        &app,
        json!({"id": "bound-2", "provider": "console", "to": "ana@example.com", "code": "424242",
               "session_binding": BINDING}),
    )
    .await;
    let live = v["client_token"].as_str().unwrap().to_owned();

    // Another browser (no cookie) can open the page, but a right code there does nothing.
    let (status, location) = page_check(&app, "bound-2", "424242", None).await;
    assert_eq!(status, 303);
    assert!(location.ends_with("result=unbound"), "{location}");
    let html = app
        .get_text(&format!("/otp/{NAMESPACE}/bound-2?result=unbound"))
        .await;
    assert!(html.contains("Finish on the device where you started"));
    assert_eq!(attempts(&app, "bound-2").await, 0);
    // Nor can it have the code sent again, or sent elsewhere.
    for form in [
        vec![("action", "resend")],
        vec![("action", "switch"), ("provider", "console")],
    ] {
        let res = app
            .client
            .post(app.url(&format!("/otp/{NAMESPACE}/bound-2")))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        assert!(res.headers()["location"]
            .to_str()
            .unwrap()
            .ends_with("result=unbound"));
    }
    assert_eq!(
        app.record("bound-2").await.sends,
        1,
        "nothing more was sent"
    );

    // A wrong binding in the link sets nothing; the right one sets the cookie and is
    // dropped from the URL.
    let res = app
        .client
        .get(app.url(&format!(
            "/otp/{NAMESPACE}/bound-2?binding=sess-0000000000000000&lang=de"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert!(res.headers().get("set-cookie").is_none());
    let res = app
        .client
        .get(app.url(&format!(
            "/otp/{NAMESPACE}/bound-2?binding={BINDING}&lang=de"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(
        res.headers()["location"],
        format!("/otp/{NAMESPACE}/bound-2?lang=de")
    );
    let set = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        set.starts_with(&format!("otpgate_bind_bound-2={BINDING}; Path=/;")),
        "{set}"
    );
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax"),
        "{set}"
    );
    let cookie = set.split(';').next().unwrap().to_owned();

    // Live subscribers: one without the binding hears `verified` without a token; one
    // with the browser's cookie hears it with the token.
    let bare = listen(&app, "bound-2", format!("token={live}"));
    let with_cookie = {
        let url = app.url(&format!("/v1/verifications/bound-2/events?token={live}"));
        let req = app.client.get(url).header("cookie", cookie.clone());
        tokio::spawn(async move {
            let res = req.send().await.unwrap();
            tokio::time::timeout(Duration::from_secs(20), res.text())
                .await
                .unwrap()
                .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;

    let (status, location) = page_check(&app, "bound-2", "424242", Some(&cookie)).await;
    assert_eq!(status, 303);
    assert_eq!(location, format!("/otp/{NAMESPACE}/bound-2"), "verified");
    assert_eq!(app.record("bound-2").await.status.as_str(), "verified");

    let bare = bare.await.unwrap();
    let verified = bare
        .lines()
        .find(|l| l.contains(r#""type":"verified""#))
        .unwrap();
    assert!(!verified.contains("verification_token"), "{verified}");
    let with_cookie = with_cookie.await.unwrap();
    let verified = with_cookie
        .lines()
        .find(|l| l.contains(r#""type":"verified""#))
        .unwrap();
    assert!(verified.contains("verification_token"), "{verified}");
}

on_both_backends!(
    a_token_is_confirmed_only_for_its_action_and_payload,
    a_bound_verification_is_checked_only_with_its_binding,
    only_the_browser_given_the_binding_gets_the_token,
);
