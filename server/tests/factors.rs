//! Authenticator-app (TOTP) factors: enrolment through `/v1/factors` and its hosted page,
//! activation by the first right code, checks through the verification API with the same
//! limits, the drift window's edges, each time step accepted once (also under parallel
//! checks), deletion, and the secret sealed at rest. Codes are computed here by an
//! implementation of RFC 6238 of the test's own, not the server's.

mod support;

use serde_json::{json, Value};
use support::{
    totp::{base32_decode, totp},
    Backend, TestApp,
};

/// A factor enrolled for `user`: its answer, and its secret's bytes read from the URI.
async fn enrol(app: &TestApp, body: Value) -> (Value, Vec<u8>) {
    let (status, enrolled) = app.v1_post("/v1/factors", body).await;
    assert_eq!(status, 201, "{enrolled}");
    let uri = enrolled["uri"].as_str().unwrap();
    let query = uri.split_once('?').unwrap().1;
    let secret = query
        .split('&')
        .find_map(|p| p.strip_prefix("secret="))
        .unwrap();
    assert_eq!(secret, enrolled["secret"].as_str().unwrap());
    let bytes = base32_decode(secret);
    assert!(bytes.len() >= 20, "at least 160 bits");
    (enrolled, bytes)
}

/// Starts a `totp` verification for `factor`.
async fn start(app: &TestApp, factor: &str) -> String {
    let (status, v) = app
        .v1_post(
            "/v1/verifications",
            json!({"provider": "totp", "to": factor}),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["channel"], "totp");
    v["id"].as_str().unwrap().to_owned()
}

async fn check(app: &TestApp, id: &str, code: &str) -> Value {
    let (status, answer) = app
        .v1_post(
            &format!("/v1/verifications/{id}/check"),
            json!({ "code": code }),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    answer
}

fn now_secs(app: &TestApp) -> i64 {
    app.gateway.now_ms() / 1000
}

async fn factor_status(app: &TestApp, factor: &str) -> String {
    let (status, _, f) = app
        .v1(reqwest::Method::GET, &format!("/v1/factors/{factor}"), None)
        .await;
    assert_eq!(status, 200, "{f}");
    f["status"].as_str().unwrap().to_owned()
}

async fn enrolment_activates_on_the_first_right_code(backend: Backend) {
    let app = support::spawn_app_on(backend, "").await;
    let (enrolled, secret) = enrol(
        &app,
        json!({"user": "user-1", "label": "ana@example.com", "issuer": "Acme Bank"}),
    )
    .await;
    let factor = enrolled["factor"]["id"].as_str().unwrap().to_owned();
    assert!(factor.starts_with("fa_"));
    assert_eq!(enrolled["factor"]["status"], "pending");
    assert_eq!(enrolled["factor"]["label"], "ana@example.com");
    assert_eq!(
        enrolled["uri"].as_str().unwrap().split_once('?').unwrap().0,
        "otpauth://totp/Acme%20Bank:ana%40example.com"
    );
    assert!(enrolled["uri"]
        .as_str()
        .unwrap()
        .ends_with("&issuer=Acme%20Bank&algorithm=SHA1&digits=6&period=30"));
    // The enrolment verification's hosted page shows the QR code and the key.
    let verification = enrolled["verification"]["id"].as_str().unwrap().to_owned();
    assert_eq!(enrolled["verification"]["to"], factor.as_str());
    let html = app.page_html(&verification).await;
    assert!(html.contains(r#"data-role="totp-qr""#), "{html}");
    assert!(html.contains("<svg"));
    let key = enrolled["secret"].as_str().unwrap();
    let grouped: Vec<String> = key
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    assert!(
        html.contains(&grouped.join(" ")),
        "the key, in groups of four"
    );
    // Nothing is sent for an authenticator app.
    assert!(app.deliveries(&verification).await.is_empty());

    let now = now_secs(&app);
    let right = totp(&secret, "SHA1", 6, 30, now);
    let wrong = format!("{:06}", (right.parse::<u32>().unwrap() + 1) % 1_000_000);
    let answer = check(&app, &verification, &wrong).await;
    assert_eq!(answer["verified"], false);
    assert_eq!(answer["reason"], "incorrect_code");
    assert_eq!(factor_status(&app, &factor).await, "pending");
    let answer = check(&app, &verification, &right).await;
    assert_eq!(answer["verified"], true, "{answer}");
    assert!(answer["verification_token"].is_string());
    assert_eq!(factor_status(&app, &factor).await, "active");

    // Once active, a new verification's page shows no key.
    let next = start(&app, &factor).await;
    let html = app.page_html(&next).await;
    assert!(!html.contains(r#"data-role="totp-qr""#));
    assert!(!html.contains(&grouped.join(" ")));
    // The step just accepted is never accepted again: the same code is wrong now.
    let answer = check(&app, &next, &right).await;
    assert_eq!(answer["verified"], false, "a replayed step: {answer}");
    // The next step's code is right.
    app.clock.advance_ms(30_000);
    let later = totp(&secret, "SHA1", 6, 30, now_secs(&app));
    let answer = check(&app, &next, &later).await;
    assert_eq!(answer["verified"], true, "{answer}");
}

async fn the_window_is_one_step_either_side(backend: Backend) {
    let app = support::spawn_app_on(backend, "").await;
    let (enrolled, secret) = enrol(&app, json!({"user": "user-2"})).await;
    let factor = enrolled["factor"]["id"].as_str().unwrap().to_owned();
    // Pin the clock to the first second of a step, so that ±1 and ±2 steps are exact.
    let now = now_secs(&app);
    app.clock.advance_ms((30 - now.rem_euclid(30)) * 1000);
    let now = now_secs(&app);
    assert_eq!(now % 30, 0);
    // Two steps away either side: refused (each on a verification of its own).
    for offset in [-2i64, 2] {
        let id = start(&app, &factor).await;
        let code = totp(&secret, "SHA1", 6, 30, now + offset * 30);
        let answer = check(&app, &id, &code).await;
        assert_eq!(answer["verified"], false, "offset {offset}: {answer}");
    }
    // One step back, then the current step, then one ahead: each accepted once, in order.
    for offset in [-1i64, 0, 1] {
        let id = start(&app, &factor).await;
        let code = totp(&secret, "SHA1", 6, 30, now + offset * 30);
        let answer = check(&app, &id, &code).await;
        assert_eq!(answer["verified"], true, "offset {offset}: {answer}");
    }
    // An older step after a later one was accepted: refused.
    let id = start(&app, &factor).await;
    let code = totp(&secret, "SHA1", 6, 30, now);
    assert_eq!(check(&app, &id, &code).await["verified"], false);
}

async fn parallel_checks_of_one_code_verify_once(backend: Backend) {
    let app = support::spawn_app_on(backend, "").await;
    let (enrolled, secret) = enrol(&app, json!({"user": "user-3"})).await;
    let factor = enrolled["factor"]["id"].as_str().unwrap().to_owned();
    let mut ids = Vec::new();
    for _ in 0..20 {
        ids.push(start(&app, &factor).await);
    }
    let code = totp(&secret, "SHA1", 6, 30, now_secs(&app));
    let app = std::sync::Arc::new(app);
    let mut tasks = Vec::new();
    for id in ids {
        let app = app.clone();
        let code = code.clone();
        tasks.push(tokio::spawn(async move { check(&app, &id, &code).await }));
    }
    let mut verified = 0;
    for task in tasks {
        if task.await.unwrap()["verified"] == true {
            verified += 1;
        }
    }
    assert_eq!(verified, 1, "one time step, one success");
}

async fn other_algorithms_and_lengths(backend: Backend) {
    let app = support::spawn_app_on(backend, "").await;
    for (algorithm, digits, period) in [("SHA256", 8u32, 60i64), ("sha-512", 6, 30)] {
        let (enrolled, secret) = enrol(
            &app,
            json!({"user": "user-4", "algorithm": algorithm, "digits": digits, "period": period}),
        )
        .await;
        let canonical = enrolled["factor"]["algorithm"].as_str().unwrap().to_owned();
        assert_eq!(canonical, algorithm.to_ascii_uppercase().replace('-', ""));
        assert!(enrolled["uri"].as_str().unwrap().contains(&format!(
            "algorithm={canonical}&digits={digits}&period={period}"
        )));
        let id = enrolled["verification"]["id"].as_str().unwrap();
        let code = totp(&secret, &canonical, digits, period, now_secs(&app));
        assert_eq!(code.len(), digits as usize);
        // A six-digit code for an eight-digit factor is malformed, and counts nothing.
        if digits == 8 {
            let answer = check(&app, id, &code[2..]).await;
            assert_eq!(answer["reason"], "malformed_code");
        }
        let answer = check(&app, id, &code).await;
        assert_eq!(answer["verified"], true, "{algorithm}: {answer}");
    }
    // Both are listed for their user, none for another.
    let (status, _, list) = app
        .v1(reqwest::Method::GET, "/v1/factors?user=user-4", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(list["factors"].as_array().unwrap().len(), 2);
    assert!(list["factors"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["status"] == "active" && f.get("secret").is_none()));
    let (_, _, none) = app
        .v1(reqwest::Method::GET, "/v1/factors?user=nobody", None)
        .await;
    assert_eq!(none["factors"], json!([]));
}

async fn wrong_codes_lock_like_any_verification(backend: Backend) {
    let app = support::spawn_app_on(backend, "").await;
    let (enrolled, secret) = enrol(&app, json!({"user": "user-5"})).await;
    let factor = enrolled["factor"]["id"].as_str().unwrap().to_owned();
    let (status, v) = app
        .v1_post(
            "/v1/verifications",
            json!({"provider": "totp", "to": factor, "max_attempts": 3}),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let id = v["id"].as_str().unwrap();
    let right = totp(&secret, "SHA1", 6, 30, now_secs(&app));
    let wrong = format!("{:06}", (right.parse::<u32>().unwrap() + 7) % 1_000_000);
    for left in [2, 1, 0] {
        let answer = check(&app, id, &wrong).await;
        assert_eq!(answer["attempts_left"], left, "{answer}");
    }
    // Locked: the right code no longer verifies it.
    let answer = check(&app, id, &right).await;
    assert_eq!(answer["verified"], false);
    assert_eq!(answer["status"], "locked");
}

async fn deleted_factors_and_bad_requests_are_refused(backend: Backend) {
    let app = support::spawn_app_on(backend, "").await;
    let (enrolled, secret) = enrol(&app, json!({"user": "user-6"})).await;
    let factor = enrolled["factor"]["id"].as_str().unwrap().to_owned();
    let id = enrolled["verification"]["id"].as_str().unwrap().to_owned();

    // Refusals that change nothing.
    for (body, field) in [
        (json!({"user": ""}), "user"),
        (json!({"user": "u", "digits": 7}), "digits"),
        (json!({"user": "u", "period": 5}), "period"),
        (json!({"user": "u", "algorithm": "md5"}), "algorithm"),
        (json!({"user": "u\u{7}"}), "user"),
    ] {
        let (status, answer) = app.v1_post("/v1/factors", body).await;
        assert_eq!(status, 422, "{answer}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains(&format!("`{field}`")),
            "{answer}"
        );
    }
    for (body, what) in [
        (
            json!({"provider": "totp", "to": "fa_unknown"}),
            "names no factor",
        ),
        (
            json!({"provider": "totp", "to": "someone@example.com"}),
            "not a factor id",
        ),
        (json!({"provider": "totp"}), "must name a factor"),
        (
            json!({"provider": "totp", "to": factor, "code": "123456"}),
            "make their own code",
        ),
    ] {
        let (status, answer) = app.v1_post("/v1/verifications", body).await;
        assert_eq!(status, 422, "{answer}");
        assert!(
            answer["error"]["message"].as_str().unwrap().contains(what),
            "{answer}"
        );
    }
    let (status, answer) = app
        .v1_post(&format!("/v1/verifications/{id}/resend"), json!({}))
        .await;
    assert_eq!(status, 409, "{answer}");
    assert_eq!(answer["error"]["code"], "nothing_to_send");
    let (_, _, list) = app.v1(reqwest::Method::GET, "/v1/factors", None).await;
    assert_eq!(list["factors"].as_array().unwrap().len(), 1, "{list}");

    // Deleted: gone from the API, and its codes are refused.
    let (status, _, _) = app
        .v1(
            reqwest::Method::DELETE,
            &format!("/v1/factors/{factor}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _, body) = app
        .v1(reqwest::Method::GET, &format!("/v1/factors/{factor}"), None)
        .await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["message"], "no such factor");
    let (status, _, _) = app
        .v1(
            reqwest::Method::DELETE,
            &format!("/v1/factors/{factor}"),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let code = totp(&secret, "SHA1", 6, 30, now_secs(&app));
    assert_eq!(check(&app, &id, &code).await["verified"], false);
}

async fn the_secret_is_sealed_at_rest(backend: Backend) {
    let app = support::spawn_app_on(backend, "").await;
    let (enrolled, secret) = enrol(&app, json!({"user": "user-7"})).await;
    let key = enrolled["secret"].as_str().unwrap();
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let stored = match backend {
        Backend::Sqlite => "SELECT hex(sealed) || ' ' || label || ' ' || user_id FROM factor",
        Backend::Postgres => {
            "SELECT encode(sealed, 'hex') || ' ' || label || ' ' || user_id FROM factor"
        }
    };
    let rows = app.sql_strings(stored).await;
    assert_eq!(rows.len(), 1);
    let row = rows[0].to_ascii_lowercase();
    assert!(
        !row.contains(&hex),
        "the secret's bytes are not stored as they are"
    );
    assert!(!row.contains(&key.to_ascii_lowercase()));
    // Another app's copy of the row does not open: the seal is bound to its factor.
    let moved = "UPDATE factor SET public_id = 'fa_moved'";
    app.sql(moved).await;
    let (status, answer) = app
        .v1_post(
            "/v1/verifications",
            json!({"provider": "totp", "to": "fa_moved"}),
        )
        .await;
    assert_eq!(status, 201, "{answer}");
    let id = answer["id"].as_str().unwrap();
    let (status, answer) = app
        .v1_post(
            &format!("/v1/verifications/{id}/check"),
            json!({"code": totp(&secret, "SHA1", 6, 30, now_secs(&app))}),
        )
        .await;
    assert_eq!(
        status, 503,
        "a seal that does not open is refused: {answer}"
    );
}

async fn the_dashboard_lists_factors_without_their_secrets(backend: Backend) {
    use support::dashboard::{dashboard_app, get, sign_in, tenant, viewer_of, OWNER};
    let app = support::spawn_app_on(backend, "").await;
    let password = tenant(&app, "Acme", OWNER).await;
    let owner = sign_in(&app, OWNER, &password).await;
    let (secret, _) = dashboard_app(&app, &owner, "shop").await;
    let post = |path: &'static str, body: Value| {
        let req = app
            .client
            .post(app.url(path))
            .header("authorization", format!("Bearer shop:{secret}"))
            .json(&body);
        async move {
            let res = req.send().await.unwrap();
            (res.status().as_u16(), res.json::<Value>().await.unwrap())
        }
    };
    let (status, first) = post(
        "/v1/factors",
        json!({"user": "u-1", "label": "ana@shop.example"}),
    )
    .await;
    assert_eq!(status, 201, "{first}");
    let (_, second) = post("/v1/factors", json!({"user": "u-2", "digits": 8})).await;
    let key = base32_decode(first["secret"].as_str().unwrap());
    let id = first["verification"]["id"].as_str().unwrap().to_owned();
    let code = totp(&key, "SHA1", 6, 30, now_secs(&app));
    let checked = format!("/v1/verifications/{id}/check");
    let req = app
        .client
        .post(app.url(&checked))
        .header("authorization", format!("Bearer shop:{secret}"))
        .json(&json!({ "code": code }));
    assert_eq!(req.send().await.unwrap().status(), 200);

    // Every member sees them: id, user, label, status, kind; never the secret.
    let viewer = viewer_of(&app, &owner).await;
    let (status, html) = get(&app, "/dashboard/apps/shop/factors", &viewer).await;
    assert_eq!(status, 200, "{html}");
    for factor in [&first, &second] {
        let id = factor["factor"]["id"].as_str().unwrap();
        assert!(html.contains(&format!(r#"data-factor="{id}""#)), "{id}");
        let secret = factor["secret"].as_str().unwrap();
        assert!(!html.contains(secret), "the secret is not shown");
        assert!(!html.contains(&secret[..8]));
    }
    assert!(html.contains("ana@shop.example"));
    assert!(html.contains("SHA1 · 8 digits · 30 s"));
    let statuses: Vec<&str> = html
        .match_indices(r#"data-role="factor-status" class="px-3 py-2">"#)
        .map(|(at, m)| &html[at + m.len()..at + m.len() + 7])
        .collect();
    assert_eq!(statuses, ["active<", "pending"], "{html}");
    // Another tenant finds nothing there.
    let rival = tenant(&app, "Rival", "rival@rival.example").await;
    let rival = sign_in(&app, "rival@rival.example", &rival).await;
    let (status, _) = get(&app, "/dashboard/apps/shop/factors", &rival).await;
    assert_eq!(status, 404);
}

on_both_backends!(
    the_dashboard_lists_factors_without_their_secrets,
    enrolment_activates_on_the_first_right_code,
    the_window_is_one_step_either_side,
    parallel_checks_of_one_code_verify_once,
    other_algorithms_and_lengths,
    wrong_codes_lock_like_any_verification,
    deleted_factors_and_bad_requests_are_refused,
    the_secret_is_sealed_at_rest,
);
