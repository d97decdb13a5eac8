//! The native `/v1` API over real HTTP, on SQLite and on PostgreSQL.

mod support;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use serde_json::{json, Value};
use support::{find_code, spawn_app_on, Backend, TestApp, NAMESPACE, SECRET};

const BEARER: &str = "Bearer demo:demo-secret-123";

/// Verifies a token's EdDSA signature with the key the JWKS publishes for its `kid`.
async fn verify_with_jwks(app: &TestApp, token: &str) -> Value {
    let jwks: Value = app.get_json("/.well-known/jwks.json").await;
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header["alg"], "EdDSA");
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("kid in JWKS");
    assert_eq!(
        (jwk["kty"].as_str(), jwk["crv"].as_str()),
        (Some("OKP"), Some("Ed25519"))
    );
    let x: [u8; 32] = URL_SAFE_NO_PAD
        .decode(jwk["x"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let key = ed25519_dalek::VerifyingKey::from_bytes(&x).unwrap();
    let sig: [u8; 64] = URL_SAFE_NO_PAD
        .decode(parts[2])
        .unwrap()
        .try_into()
        .unwrap();
    key.verify_strict(
        format!("{}.{}", parts[0], parts[1]).as_bytes(),
        &ed25519_dalek::Signature::from_bytes(&sig),
    )
    .expect("signature verifies against the JWKS");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap()
}

async fn a_verification_runs_from_create_to_a_confirmed_token(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    let (status, created) = app.v1_post("/v1/verifications",
        json!({"id": "n-1", "provider": "console", "to": "n1@example.com", "extra": {"order": 7}}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["status"], "pending");
    assert_eq!(
        (
            created["attempts_left"].as_u64(),
            created["sends_left"].as_u64()
        ),
        (Some(5), Some(4))
    );
    assert_eq!(created["url"], app.url("/otp/demo/n-1"));
    assert_eq!(created["extra"], json!({"order": 7}));
    let code = find_code(&app.console_message_for("n1@example.com").await, 6);
    assert!(!created.to_string().contains(&code));

    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (status, body) = app
        .v1_post("/v1/verifications/n-1/check", json!({"code": wrong}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"verified": false, "status": "pending", "attempts_left": 4, "reason": "incorrect_code"})
    );

    let (status, body) = app
        .v1_post("/v1/verifications/n-1/check", json!({"code": code}))
        .await;
    assert_eq!(
        (status, body["verified"].as_bool()),
        (200, Some(true)),
        "{body}"
    );
    let token = body["verification_token"].as_str().unwrap().to_owned();
    let claims = verify_with_jwks(&app, &token).await;
    assert_eq!(
        (claims["aud"].as_str(), claims["sub"].as_str()),
        (Some(NAMESPACE), Some("n-1"))
    );
    assert_eq!(claims["address"], "n1@example.com");
    assert!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap() <= 300);

    let (status, body) = app
        .v1_post("/v1/verifications/n-1/check", json!({"code": code}))
        .await;
    assert_eq!(
        (status, body["verified"].as_bool(), body["reason"].as_str()),
        (200, Some(false), Some("already_verified"))
    );

    let (status, body) = app
        .v1_post(
            "/v1/tokens/confirm",
            json!({"token": token, "expected_address": "someone@example.com"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("invalid_token"))
    );
    let (status, body) = app
        .v1_post(
            "/v1/tokens/confirm",
            json!({"token": token, "expected_address": "n1@example.com"}),
        )
        .await;
    assert_eq!(
        (status, body["confirmed"].as_bool(), body["id"].as_str()),
        (200, Some(true), Some("n-1")),
        "{body}"
    );
    let (status, body) = app
        .v1_post("/v1/tokens/confirm", json!({"token": token}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("token_used"))
    );
}

async fn tokens_with_other_algorithms_or_audiences_are_refused(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    app.v1_post(
        "/v1/verifications",
        json!({"id": "t-1", "provider": "console", "to": "t@example.com", "code": "246801"}),
    )
    .await;
    let (_, body) = app
        .v1_post("/v1/verifications/t-1/check", json!({"code": "246801"}))
        .await;
    let token = body["verification_token"].as_str().unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let hs_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    for forged in [
        format!("{none_header}.{}.", parts[1]),
        format!("{hs_header}.{}.{}", parts[1], parts[2]),
        "not-a-token".into(),
    ] {
        let (status, body) = app
            .v1_post("/v1/tokens/confirm", json!({"token": forged}))
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (422, Some("invalid_token")),
            "{forged}"
        );
    }
    // Another app's credentials: the audience does not match.
    app.gateway
        .create_app(
            &app::model::Namespace::parse("other").unwrap(),
            "Other",
            Some(app::gateway::secret::ApiSecret::parse("other-secret-1").unwrap()),
        )
        .await
        .unwrap();
    let res = app
        .client
        .post(app.url("/v1/tokens/confirm"))
        .header("authorization", "Bearer other:other-secret-1")
        .json(&json!({"token": token}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
}

async fn a_repeated_idempotency_key_replays_the_first_answer(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    let send = |body: Value| {
        app.client
            .post(app.url("/v1/verifications"))
            .header("authorization", BEARER)
            .header("idempotency-key", "order-42")
            .json(&body)
            .send()
    };
    let body = json!({"provider": "console", "to": "i@example.com"});
    let first = send(body.clone()).await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let again = send(body).await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(first["id"], again["id"]);
    let other = send(json!({"provider": "console", "to": "j@example.com"}))
        .await
        .unwrap();
    assert_eq!(other.status(), 422);
    let other: Value = other.json().await.unwrap();
    assert_eq!(other["error"]["code"], "idempotency_conflict");
}

async fn malformed_requests_get_one_stable_error_body(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    app.v1_post(
        "/v1/verifications",
        json!({"id": "e-1", "provider": "console", "to": "e@example.com", "code": "135791"}),
    )
    .await;
    let raw = |path: &'static str, body: &'static str, ct: &'static str| {
        app.client
            .post(app.url(path))
            .header("authorization", BEARER)
            .header("content-type", ct)
            .body(body)
            .send()
    };
    for (path, body, ct, status) in [
        ("/v1/verifications", "{not json", "application/json", 400),
        (
            "/v1/verifications",
            r#"{"provider":"console","surprise":1}"#,
            "application/json",
            400,
        ),
        (
            "/v1/verifications",
            r#"{"provider":"pigeon"}"#,
            "application/json",
            422,
        ),
        (
            "/v1/verifications",
            r#"{"provider":"console","ttl":0}"#,
            "application/json",
            422,
        ),
        (
            "/v1/verifications",
            r#"{"provider":"console","id":"bad id"}"#,
            "application/json",
            422,
        ),
        (
            "/v1/verifications",
            "provider=console",
            "application/x-www-form-urlencoded",
            415,
        ),
        (
            "/v1/verifications/e-1/check",
            r#"{"code":135791}"#,
            "application/json",
            400,
        ),
        (
            "/v1/verifications/e-1/check",
            r#"{"code":true}"#,
            "application/json",
            400,
        ),
        (
            "/v1/verifications/e-1/check",
            r#"{"code":null}"#,
            "application/json",
            400,
        ),
        (
            "/v1/verifications/e-1/check",
            r#"{"code":[]}"#,
            "application/json",
            400,
        ),
        (
            "/v1/verifications/nope/check",
            r#"{"code":"135791"}"#,
            "application/json",
            404,
        ),
    ] {
        let res = raw(path, body, ct).await.unwrap();
        assert_eq!(res.status().as_u16(), status, "{path} {body}");
        let err: Value = res.json().await.unwrap();
        assert!(
            err["error"]["code"].is_string() && err["error"]["message"].is_string(),
            "{err}"
        );
        assert!(
            !err.to_string().contains("135791"),
            "the code is never echoed"
        );
    }
    for code in ["", "13579", "1357911", "13579\u{0}", "abcdef"] {
        let (status, body) = app
            .v1_post("/v1/verifications/e-1/check", json!({"code": code}))
            .await;
        assert_eq!(
            (status, body["verified"].as_bool(), body["reason"].as_str()),
            (200, Some(false), Some("malformed_code"))
        );
    }
    let (status, body) = app
        .v1_post(
            "/v1/verifications/e-1/check",
            json!({"code": "1".repeat(10_000)}),
        )
        .await;
    assert_eq!((status, body["verified"].as_bool()), (200, Some(false)));
    let res = app
        .client
        .get(app.url("/v1/verifications/e-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = app
        .client
        .get(app.url("/v1/verifications/e-1"))
        .basic_auth(NAMESPACE, Some(SECRET))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "Basic auth works too");
    let (status, body) = app
        .v1_post("/v1/verifications/e-1/check", json!({"code": "135791"}))
        .await;
    assert_eq!(
        (status, body["verified"].as_bool()),
        (200, Some(true)),
        "nothing above spent the code"
    );
}

async fn resend_repeats_the_code_after_the_cooldown_and_cancel_closes(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    app.v1_post(
        "/v1/verifications",
        json!({"id": "r-1", "provider": "console", "to": "r@example.com", "max_sends": 2}),
    )
    .await;
    let first = find_code(&app.console_message_for("r@example.com").await, 6);
    let (status, headers, body) = app
        .v1(reqwest::Method::POST, "/v1/verifications/r-1/resend", None)
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("rate_limited"))
    );
    assert_eq!(headers["retry-after"], "30");
    app.clock.advance_ms(31_000);
    let (status, _, body) = app
        .v1(reqwest::Method::POST, "/v1/verifications/r-1/resend", None)
        .await;
    assert_eq!(
        (status, body["sends_left"].as_u64()),
        (200, Some(0)),
        "{body}"
    );
    for _ in 0..200 {
        if app
            .gateway
            .inbox()
            .unwrap()
            .iter()
            .filter(|m| m.to == "r@example.com")
            .count()
            == 2
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let bodies: Vec<String> = app
        .gateway
        .inbox()
        .unwrap()
        .into_iter()
        .filter(|m| m.to == "r@example.com")
        .map(|m| m.body)
        .collect();
    assert_eq!(bodies.len(), 2);
    assert!(
        bodies.iter().all(|b| find_code(b, 6) == first),
        "the same code is sent again"
    );
    app.clock.advance_ms(31_000);
    let (status, _, body) = app
        .v1(reqwest::Method::POST, "/v1/verifications/r-1/resend", None)
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("send_limit"))
    );

    let (status, _, body) = app
        .v1(reqwest::Method::POST, "/v1/verifications/r-1/cancel", None)
        .await;
    assert_eq!((status, body["status"].as_str()), (200, Some("cancelled")));
    let (_, body) = app
        .v1_post("/v1/verifications/r-1/check", json!({"code": first}))
        .await;
    assert_eq!(
        (body["verified"].as_bool(), body["reason"].as_str()),
        (Some(false), Some("cancelled"))
    );
    let (status, _, body) = app
        .v1(reqwest::Method::POST, "/v1/verifications/r-1/cancel", None)
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("closed"))
    );
}

async fn wait_returns_when_the_verification_closes(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    app.v1_post(
        "/v1/verifications",
        json!({"id": "w-1", "provider": "console", "to": "w@example.com", "code": "112358"}),
    )
    .await;
    let (status, _, body) = app
        .v1(
            reqwest::Method::GET,
            "/v1/verifications/w-1/wait?timeout=1",
            None,
        )
        .await;
    assert_eq!((status, body["status"].as_str()), (200, Some("pending")));
    let waiter = {
        let client = app.client.clone();
        let url = app.url("/v1/verifications/w-1/wait?timeout=20");
        tokio::spawn(async move {
            client
                .get(url)
                .header("authorization", BEARER)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    app.v1_post("/v1/verifications/w-1/check", json!({"code": "112358"}))
        .await;
    let body = tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
        .await
        .expect("wait answered promptly")
        .unwrap();
    assert_eq!(
        (body["status"].as_str(), body["verified"].as_bool()),
        (Some("verified"), Some(true))
    );
    let (status, _, _) = app
        .v1(
            reqwest::Method::GET,
            "/v1/verifications/w-1/wait?timeout=0",
            None,
        )
        .await;
    assert_eq!(status, 422);
}

async fn a_storage_failure_during_a_check_answers_503_never_verified(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    app.v1_post(
        "/v1/verifications",
        json!({"id": "fail-0001", "provider": "console", "to": "f@example.com", "code": "909090"}),
    )
    .await;
    app.sql("ALTER TABLE verification RENAME TO verification_gone")
        .await;
    let (status, body) = app
        .v1_post(
            "/v1/verifications/fail-0001/check",
            json!({"code": "909090"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("unavailable")),
        "{body}"
    );
    assert!(body.get("verified").is_none());
    let (status, body) = app.check_otp("fail-0001", &[("otp", "909090")]).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "error");
}

const SHOP: &str = "[auth.shop]\nnamespace = \"shop\"\nsecret = \"shop-secret-123\"\nname = \"The Shop\"\necho_otp = true\nredirect_urls = [\"https://shop.example/done\"]\n";

async fn redirect_urls_match_the_app_allow_list_exactly(backend: Backend) {
    let app = spawn_app_on(backend, SHOP).await;
    let create = |body: Value| {
        app.client
            .post(app.url("/v1/verifications"))
            .header("authorization", "Bearer shop:shop-secret-123")
            .json(&body)
            .send()
    };
    let ok = create(json!({"provider": "console", "to": "s@example.com", "redirect_url": "https://shop.example/done", "state": "cart-9", "locale": "pt-BR"})).await.unwrap();
    assert_eq!(ok.status(), 201);
    let ok: Value = ok.json().await.unwrap();
    assert_eq!(
        (
            ok["redirect_url"].as_str(),
            ok["state"].as_str(),
            ok["locale"].as_str()
        ),
        (
            Some("https://shop.example/done"),
            Some("cart-9"),
            Some("pt-BR")
        )
    );
    for (field, value) in [
        ("redirect_url", "https://shop.example/done/../evil"),
        ("redirect_url", "https://shop.example"),
        ("redirect_url", "https://shop.example/done?x=1"),
        (
            "redirect_url",
            "https://evil.example/https://shop.example/done",
        ),
        ("locale", "en_US"),
        ("state", "line\nbreak"),
    ] {
        let mut body = json!({"provider": "console", "to": "s@example.com"});
        body[field] = json!(value);
        let res = create(body).await.unwrap();
        assert_eq!(res.status(), 422, "{field} = {value}");
    }
    // The demo app has no allow-list at all.
    let (status, _) = app
        .v1_post(
            "/v1/verifications",
            json!({"provider": "console", "redirect_url": "https://shop.example/done"}),
        )
        .await;
    assert_eq!(status, 422);
}

async fn an_app_that_asks_for_the_otpgateway_echo_gets_the_code(backend: Backend) {
    let app = spawn_app_on(backend, SHOP).await;
    let res = app
        .client
        .put(app.url("/api/otp/echo-1"))
        .basic_auth("shop", Some("shop-secret-123"))
        .form(&[("to", "echo@example.com"), ("provider", "console")])
        .send()
        .await
        .unwrap();
    let (status, body) = support::envelope(res).await;
    assert_eq!(status, 200);
    let code = find_code(&app.console_message_for("echo@example.com").await, 6);
    assert_eq!(body["data"]["otp"], code.as_str());
    let page = app.get_text("/otp/shop/echo-1").await;
    assert!(page.contains("The Shop"), "the configured name is shown");
}

on_both_backends!(
    redirect_urls_match_the_app_allow_list_exactly,
    an_app_that_asks_for_the_otpgateway_echo_gets_the_code,
    a_storage_failure_during_a_check_answers_503_never_verified,
    a_verification_runs_from_create_to_a_confirmed_token,
    tokens_with_other_algorithms_or_audiences_are_refused,
    a_repeated_idempotency_key_replays_the_first_answer,
    malformed_requests_get_one_stable_error_body,
    resend_repeats_the_code_after_the_cooldown_and_cancel_closes,
    wait_returns_when_the_verification_closes,
);

#[tokio::test]
async fn every_route_is_in_the_openapi_document() {
    let app = support::spawn_app("").await;
    let doc: Value = app.get_json("/v1/openapi.json").await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let routes = [
        ("post", "/v1/verifications"),
        ("get", "/v1/verifications/{id}"),
        ("post", "/v1/verifications/{id}/check"),
        ("post", "/v1/verifications/{id}/resend"),
        ("post", "/v1/verifications/{id}/cancel"),
        ("get", "/v1/verifications/{id}/wait"),
        ("post", "/v1/tokens/confirm"),
        ("get", "/.well-known/jwks.json"),
        ("post", "/v1/providers/{provider}/status"),
        ("post", "/v1/apps/{app}/providers/{provider}/status"),
        ("get", "/v1/verifications/{id}/events"),
        ("post", "/v1/inbound/{provider}"),
        ("post", "/v1/factors"),
        ("get", "/v1/factors"),
        ("get", "/v1/factors/{factor}"),
        ("delete", "/v1/factors/{factor}"),
    ];
    for (method, path) in routes {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} is documented"
        );
        // And the documented route is served (anything but 404/405 without a body).
        let url = app.url(
            &path
                .replace("{id}", "x")
                .replace("{provider}", "console")
                .replace("{app}", "1")
                .replace("{factor}", "fa_x"),
        );
        let res = app
            .client
            .request(method.to_uppercase().parse().unwrap(), url)
            .header("authorization", BEARER)
            .send()
            .await
            .unwrap();
        assert!(res.status() != 405, "{method} {path} is routed");
    }
    let documented: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| item.as_object().unwrap().len())
        .sum();
    assert_eq!(
        documented,
        routes.len(),
        "no undocumented extras and nothing missing"
    );
}

/// Each refusal the shared steps make (credentials, body, id, query) answers a status the
/// document declares for that operation, in the error body; the document names this
/// server's providers and links a start to what follows it.
#[tokio::test]
async fn the_openapi_document_declares_every_refusal_the_server_makes() {
    let app = support::spawn_app("").await;
    let doc: Value = app.get_json("/v1/openapi.json").await;
    assert_eq!(
        doc["components"]["schemas"]["CreateBody"]["properties"]["provider"]["enum"],
        json!(["console", "totp"])
    );
    let links = &doc["paths"]["/v1/verifications"]["post"]["responses"]["201"]["links"];
    for operation in ["fetch", "check", "resend", "cancel", "wait"] {
        assert_eq!(links[operation]["operationId"], operation, "{links}");
    }
    let (status, body) = app
        .v1_post(
            "/v1/verifications",
            json!({"id": "no-address", "provider": "console"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    let json_body = |body: &str| Some(("application/json", body.to_owned()));
    /// method, documented path, requested path, body, with credentials, expected status
    type Case<'a> = (
        &'a str,
        &'a str,
        &'a str,
        Option<(&'a str, String)>,
        bool,
        u16,
    );
    let cases: Vec<Case> = vec![
        (
            "post",
            "/v1/verifications",
            "/v1/verifications",
            json_body("{}"),
            false,
            401,
        ),
        (
            "post",
            "/v1/verifications",
            "/v1/verifications",
            Some(("text/plain", "x".into())),
            true,
            415,
        ),
        (
            "post",
            "/v1/verifications",
            "/v1/verifications",
            json_body("{\"provider\": 1}"),
            true,
            400,
        ),
        (
            "post",
            "/v1/verifications",
            "/v1/verifications",
            json_body("{\"provider\": \"console\", \"ttl\": 0}"),
            true,
            422,
        ),
        (
            "post",
            "/v1/verifications/{id}/check",
            "/v1/verifications/not%20an%20id/check",
            json_body("{\"code\": \"1\"}"),
            true,
            422,
        ),
        (
            "post",
            "/v1/verifications/{id}/check",
            "/v1/verifications/unknown-0001/check",
            json_body("{\"code\": \"1\"}"),
            true,
            404,
        ),
        (
            "get",
            "/v1/verifications/{id}/wait",
            "/v1/verifications/no-address/wait?timeout=0",
            None,
            true,
            422,
        ),
        (
            "get",
            "/v1/verifications/{id}/wait",
            "/v1/verifications/no-address/wait?timeout=soon",
            None,
            true,
            422,
        ),
        (
            "post",
            "/v1/verifications/{id}/resend",
            "/v1/verifications/no-address/resend",
            None,
            true,
            409,
        ),
        (
            "post",
            "/v1/tokens/confirm",
            "/v1/tokens/confirm",
            json_body("{\"token\": \"x\"}"),
            true,
            422,
        ),
        (
            "get",
            "/v1/verifications/{id}/events",
            "/v1/verifications/no-address/events?token=x",
            None,
            false,
            404,
        ),
    ];
    for (method, documented, path, body, authed, expected) in cases {
        let mut req = app
            .client
            .request(method.to_uppercase().parse().unwrap(), app.url(path));
        if authed {
            req = req.header("authorization", BEARER);
        }
        if let Some((content_type, body)) = body {
            req = req.header("content-type", content_type).body(body);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let answer: Value = res.json().await.unwrap_or(Value::Null);
        assert_eq!(status, expected, "{method} {path}: {answer}");
        assert!(
            answer["error"]["code"].is_string(),
            "{method} {path} answers the error body: {answer}"
        );
        let declared = &doc["paths"][documented][method]["responses"][expected.to_string()];
        assert!(
            declared["content"]["application/json"]["schema"]["$ref"]
                .as_str()
                .is_some_and(|r| r.ends_with("/ErrorBody")),
            "{method} {documented} declares {expected} with the error body"
        );
    }
}
