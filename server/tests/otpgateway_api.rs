//! The otpgateway-compatible API, driven over real HTTP against a fresh database, on SQLite
//! and on PostgreSQL.

mod support;

use serde_json::json;
use support::{
    find_code,
    smtp::{mime_part, SmtpCapture},
    spawn_app_on, Backend, NAMESPACE, SECRET,
};

async fn creating_a_verification_answers_the_envelope_with_the_hosted_url(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    let (status, body) = app
        .put_otp(
            "john-0001",
            &[("to", "john@example.com"), ("provider", "console")],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "success");
    let data = &body["data"];
    assert_eq!(data["url"], app.url("/otp/demo/john-0001"));
    assert_eq!(data["namespace"], NAMESPACE);
    assert_eq!(data["id"], "john-0001");
    assert_eq!(data["to"], "john@example.com");
    assert_eq!(data["provider"], "console");
    assert_eq!(data["otp"], "", "the code must not be echoed by default");
    assert_eq!(data["closed"], false);
    assert_eq!(
        (data["attempts"].as_u64(), data["max_attempts"].as_u64()),
        (Some(0), Some(5))
    );
    assert_eq!(
        (data["generate"].as_u64(), data["max_generate"].as_u64()),
        (Some(1), Some(4)),
        "five sends: the first and four re-sends"
    );
    assert_eq!(data["ttl"], 600);
    assert_eq!(data["extra"], json!({}));
    let message = app.console_message_for("john@example.com").await;
    assert_eq!(find_code(&message, 6).len(), 6);
}

async fn a_put_without_an_id_gets_a_random_128_bit_id(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    let res = app
        .client
        .put(app.url("/api/otp"))
        .basic_auth(NAMESPACE, Some(SECRET))
        .form(&[("provider", "console"), ("to", "a@example.com")])
        .send()
        .await
        .unwrap();
    let (status, body) = support::envelope(res).await;
    assert_eq!(status, 200);
    let id = body["data"]["id"].as_str().unwrap();
    assert_eq!(id.len(), 22, "16 random bytes in base64url");
}

async fn the_code_sent_over_smtp_verifies_once_through_the_api(backend: Backend) {
    let mut smtp = SmtpCapture::start().await;
    let app = spawn_app_on(backend, &smtp.config()).await;
    let (status, body) = app
        .put_otp(
            "john-0001",
            &[
                ("to", "john@example.com"),
                ("provider", "smtp"),
                ("extra", r#"{"yes":true}"#),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["extra"], json!({"yes": true}));

    let mail = smtp.next().await;
    assert_eq!(mail.to, ["john@example.com"]);
    assert_eq!(mail.from, "otp@example.test");
    assert!(mail
        .data
        .to_ascii_lowercase()
        .contains("multipart/alternative"));
    let text = mime_part(&mail.data, "text/plain").expect("a text/plain part");
    let html = mime_part(&mail.data, "text/html").expect("a text/html part");
    let code = find_code(&text, 6);
    assert!(html.contains(&code), "the HTML part carries the code too");
    assert!(text.contains(&app.url("/otp/demo/john-0001")));

    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (status, body) = app.check_otp("john-0001", &[("otp", wrong)]).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("Incorrect OTP"))
    );
    assert_eq!(body["data"]["attempts"], 1);

    let (status, body) = app.check_otp("john-0001", &[("otp", &code)]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["closed"], true);

    // Without skip_delete the record is consumed: a replay finds nothing.
    let (status, body) = app.check_otp("john-0001", &[("otp", &code)]).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("the OTP does not exist"))
    );
    let (status, _) = app.status("john-0001").await;
    assert_eq!(status, 400);
}

async fn skip_delete_keeps_a_verified_record_readable_until_delete(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    app.put_otp(
        "keep-0001",
        &[
            ("to", "k@example.com"),
            ("provider", "console"),
            ("otp", "424242"),
        ],
    )
    .await;
    let (status, _) = app.status("keep-0001").await;
    assert_eq!(status, 400, "not verified yet");
    let (status, body) = app
        .check_otp("keep-0001", &[("otp", "424242"), ("skip_delete", "true")])
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app.status("keep-0001").await;
    assert_eq!(
        (status, body["data"]["closed"].as_bool()),
        (200, Some(true))
    );
    // Kept until it expires, then gone as in otpgateway.
    app.put_otp(
        "keep-0004",
        &[
            ("to", "k@example.com"),
            ("provider", "console"),
            ("otp", "424242"),
            ("ttl", "60"),
        ],
    )
    .await;
    let keep = [("otp", "424242"), ("skip_delete", "true")];
    assert_eq!(app.check_otp("keep-0004", &keep).await.0, 200);
    app.clock.advance_ms(61_000);
    for (status, body) in [
        app.status("keep-0004").await,
        app.check_otp("keep-0004", &keep).await,
    ] {
        assert_eq!(
            (status, body["message"].as_str()),
            (400, Some("the OTP does not exist"))
        );
    }

    let res = app
        .client
        .delete(app.url("/api/otp/keep-0001/status"))
        .basic_auth(NAMESPACE, Some(SECRET))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (status, body) = app.status("keep-0001").await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("the OTP does not exist"))
    );
}

async fn a_custom_code_is_used_and_not_echoed(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    let (status, body) = app
        .put_otp(
            "custom-0001",
            &[
                ("to", "c@example.com"),
                ("provider", "console"),
                ("otp", "123456"),
            ],
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["otp"], "");
    let message = app.console_message_for("c@example.com").await;
    assert!(message.contains("123456"));
    let (status, _) = app.check_otp("custom-0001", &[("otp", "123456")]).await;
    assert_eq!(status, 200);
}

async fn exactly_max_attempts_wrong_codes_are_allowed_then_even_the_right_one_is_refused(
    backend: Backend,
) {
    let app = spawn_app_on(backend, "").await;
    app.put_otp(
        "max-0001",
        &[
            ("to", "m@example.com"),
            ("provider", "console"),
            ("otp", "555555"),
            ("max_attempts", "3"),
        ],
    )
    .await;
    for n in 1..=3 {
        let (status, body) = app.check_otp("max-0001", &[("otp", "000000")]).await;
        assert_eq!(
            (status, body["message"].as_str()),
            (400, Some("Incorrect OTP")),
            "attempt {n}"
        );
        assert_eq!(body["data"]["attempts"], n);
    }
    // Locked: otpgateway answers 400 with its message and the record.
    let res = app
        .client
        .post(app.url("/api/otp/max-0001"))
        .basic_auth(NAMESPACE, Some(SECRET))
        .form(&[("otp", "555555")])
        .send()
        .await
        .unwrap();
    let retry_after: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let (status, body) = support::envelope(res).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (
            400,
            Some(format!("Too many attempts. Please retry after {retry_after} seconds.").as_str())
        ),
        "{body}"
    );
    assert!((1..=600).contains(&retry_after));
    assert_eq!(
        (
            body["data"]["attempts"].as_u64(),
            body["data"]["closed"].as_bool()
        ),
        (Some(3), Some(false))
    );
    let (status, _) = app.status("max-0001").await;
    assert_eq!(status, 400, "never verified");
}

async fn a_re_put_replaces_the_code_but_never_resets_the_counters(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    app.put_otp(
        "reput-0001",
        &[
            ("to", "r@example.com"),
            ("provider", "console"),
            ("otp", "111111"),
        ],
    )
    .await;
    app.check_otp("reput-0001", &[("otp", "999999")]).await;
    app.check_otp("reput-0001", &[("otp", "999999")]).await;
    let (status, body) = app
        .put_otp(
            "reput-0001",
            &[
                ("to", "r2@example.com"),
                ("provider", "console"),
                ("otp", "222222"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["attempts"], 2);
    assert_eq!(body["data"]["generate"], 2);
    assert_eq!(body["data"]["to"], "r2@example.com");
    let (status, _) = app.check_otp("reput-0001", &[("otp", "111111")]).await;
    assert_eq!(status, 400, "the replaced code no longer works");
    let (status, _) = app.check_otp("reput-0001", &[("otp", "222222")]).await;
    assert_eq!(status, 200);
}

async fn max_generate_allows_that_many_re_sends_after_the_first(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    let form = [
        ("to", "g@example.com"),
        ("provider", "console"),
        ("otp", "424242"),
        ("max_generate", "2"),
    ];
    for n in 1..=3 {
        let (status, body) = app.put_otp("gen-0001", &form).await;
        assert_eq!(status, 200, "PUT {n}: {body}");
        assert_eq!(
            (
                body["data"]["generate"].as_u64(),
                body["data"]["max_generate"].as_u64()
            ),
            (Some(n), Some(2))
        );
    }
    app.check_otp("gen-0001", &[("otp", "000000")]).await;
    let (status, body) = app.put_otp("gen-0001", &form).await;
    assert_eq!(status, 429, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.starts_with("OTP attempts exceeded. Retry after "),
        "{message}"
    );
    // The attempt counters, as otpgateway reports them, not the send counters.
    assert_eq!(
        (
            body["data"]["attempts"].as_u64(),
            body["data"]["max_attempts"].as_u64()
        ),
        (Some(1), Some(5)),
        "{body}"
    );
    assert!(body["data"]["ttl_seconds"].as_u64().unwrap() > 0);
    assert_eq!(app.record("gen-0001").await.sends, 3);
    let (status, body) = app
        .put_otp(
            "gen-0002",
            &[("provider", "console"), ("max_generate", "10")],
        )
        .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (
            400,
            Some("Invalid `max_generate` value: must be between 1 and 9.")
        ),
    );
}

async fn a_record_kept_by_skip_delete_checks_again_until_consumed(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    let put = [
        ("to", "keep@example.com"),
        ("provider", "console"),
        ("otp", "424242"),
    ];
    assert_eq!(app.put_otp("keep-0002", &put).await.0, 200);
    let (status, body) = app.check_otp("keep-0002", &[("otp", "000000")]).await;
    assert_eq!((status, body["data"]["attempts"].as_u64()), (400, Some(1)));
    let keep = [("otp", "424242"), ("skip_delete", "true")];
    let (status, body) = app.check_otp("keep-0002", &keep).await;
    assert_eq!(
        (status, body["data"]["closed"].as_bool()),
        (200, Some(true))
    );
    // Kept: the right code answers 200 again, and without skip_delete consumes the record.
    let consume = [("otp", "424242"), ("skip_delete", "false")];
    let (status, body) = app.check_otp("keep-0002", &consume).await;
    assert_eq!(
        (status, body["data"]["closed"].as_bool()),
        (200, Some(true)),
        "{body}"
    );
    let (status, body) = app.check_otp("keep-0002", &consume).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("the OTP does not exist"))
    );
    assert_eq!(app.status("keep-0002").await.0, 400);
    let events = app.events("keep-0002").await;
    assert_eq!(
        events.iter().filter(|e| *e == "verified").count(),
        1,
        "verified once; the re-check is its own event: {events:?}"
    );
    assert!(events.contains(&"recheck".to_owned()), "{events:?}");
}

async fn wrong_codes_on_a_kept_record_are_429_and_spend_its_attempts(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    let put = [
        ("to", "kept@example.com"),
        ("provider", "console"),
        ("otp", "424242"),
        ("max_attempts", "3"),
    ];
    assert_eq!(app.put_otp("keep-0003", &put).await.0, 200);
    let keep = |otp| [("otp", otp), ("skip_delete", "true")];
    assert_eq!(app.check_otp("keep-0003", &keep("424242")).await.0, 200);
    for attempts in [2, 3] {
        let (status, body) = app.check_otp("keep-0003", &keep("000000")).await;
        assert_eq!(
            (status, body["message"].as_str()),
            (429, Some("Incorrect OTP")),
            "{body}"
        );
        assert_eq!(
            (
                body["data"]["attempts"].as_u64(),
                body["data"]["closed"].as_bool()
            ),
            (Some(attempts), Some(true))
        );
    }
    // The budget is spent: nothing more is compared, not even the right code.
    for otp in ["000000", "424242"] {
        let (status, body) = app.check_otp("keep-0003", &keep(otp)).await;
        assert_eq!(status, 429, "{body}");
        let message = body["message"].as_str().unwrap();
        assert!(
            message.starts_with("Too many attempts. Please retry after "),
            "{message}"
        );
    }
    assert_eq!(app.record("keep-0003").await.attempts, 3);
    let (status, body) = app.status("keep-0003").await;
    assert_eq!(
        (status, body["data"]["closed"].as_bool()),
        (200, Some(true)),
        "still verified"
    );
}

async fn ids_shorter_than_six_characters_are_refused_by_check_and_status(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    let put = [
        ("to", "s@example.com"),
        ("provider", "console"),
        ("otp", "424242"),
    ];
    assert_eq!(app.put_otp("abc12", &put).await.0, 200, "PUT takes any id");
    let (status, body) = app.check_otp("abc12", &[("otp", "424242")]).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("ID should be min 6 chars"))
    );
    let (status, body) = app.status("abc12").await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("ID should be min 6 chars."))
    );
    let record = app.record("abc12").await;
    assert_eq!(
        (record.attempts, record.status),
        (0, app::model::Status::Pending),
        "nothing was checked"
    );
}

async fn each_malformed_authorization_gets_otpgateway_s_message(backend: Backend) {
    use base64::{engine::general_purpose::STANDARD, Engine};
    let app = spawn_app_on(backend, "").await;
    let basic = |pair: &str| format!("Basic {}", STANDARD.encode(pair));
    let cases = [
        (None, "Missing Basic Authorization header."),
        (
            Some(format!("Bearer {NAMESPACE}:{SECRET}")),
            "Missing Basic Authorization header.",
        ),
        (
            Some("Basic !!not-base64!!".to_owned()),
            "Invalid Base64 value in Basic Authorization header.",
        ),
        (
            Some(basic("no-colon-here")),
            "Invalid value in Basic Authorization header.",
        ),
        (
            Some(basic(&format!("{NAMESPACE}:wrong-secret"))),
            "Invalid API credentials.",
        ),
    ];
    for (header, message) in cases {
        let mut req = app
            .client
            .put(app.url("/api/otp/auth-0001"))
            .form(&[("provider", "console"), ("to", "a@example.com")]);
        if let Some(header) = &header {
            req = req.header("authorization", header);
        }
        let (status, body) = support::envelope(req.send().await.unwrap()).await;
        assert_eq!(
            (status, body["message"].as_str()),
            (401, Some(message)),
            "{header:?}"
        );
    }
    let demo = app.gateway.authenticate(NAMESPACE, SECRET).await.unwrap();
    let created = app
        .gateway
        .store()
        .find_verification(demo.app_id, "auth-0001")
        .await
        .unwrap();
    assert!(created.is_none(), "no refused request created anything");
}

async fn wrong_credentials_are_401_in_the_envelope(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    for (user, pass) in [(NAMESPACE, "wrong-secret"), ("nobody", SECRET), ("", "")] {
        let res = app
            .client
            .put(app.url("/api/otp/x"))
            .basic_auth(user, Some(pass))
            .form(&[("provider", "console")])
            .send()
            .await
            .unwrap();
        let (status, body) = support::envelope(res).await;
        assert_eq!((status, body["status"].as_str()), (401, Some("error")));
    }
    let res = app
        .client
        .get(app.url("/api/providers"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

async fn bad_input_gets_the_otpgateway_messages_and_creates_nothing(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("provider", "pigeon"), ("to", "a@example.com")],
            "Unknown provider.",
        ),
        (&[("to", "a@example.com")], "Unknown provider."),
        (
            &[("provider", "console"), ("to", "a\r\nBcc: evil@x.test")],
            "Invalid `to` address: the address contains control characters.",
        ),
        (
            &[("provider", "console"), ("ttl", "0")],
            "Invalid `ttl` value.",
        ),
        (
            &[("provider", "console"), ("ttl", "abc")],
            "Invalid `ttl` value.",
        ),
        (
            &[("provider", "console"), ("ttl", "90000")],
            "Invalid `ttl` value: must be between 1 and 86400.",
        ),
        (
            &[("provider", "console"), ("max_attempts", "-1")],
            "Invalid `max_attempts` value.",
        ),
        (
            &[("provider", "console"), ("max_generate", "0")],
            "Invalid `max_generate` value.",
        ),
        (
            &[("provider", "console"), ("extra", "{nope")],
            "Invalid JSON in `extra`: key must be a string at line 1 column 2.",
        ),
    ];
    for (form, message) in cases {
        let (status, body) = app.put_otp("bad-0001", form).await;
        assert_eq!(
            (status, body["message"].as_str()),
            (400, Some(*message)),
            "{form:?}"
        );
    }
    let (status, body) = app.status("bad-0001").await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("the OTP does not exist"))
    );
}

async fn checks_refuse_empty_and_non_string_codes(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    app.put_otp(
        "types-0001",
        &[
            ("to", "t@example.com"),
            ("provider", "console"),
            ("otp", "123456"),
        ],
    )
    .await;
    let (status, body) = app.check_otp("types-0001", &[("otp", "")]).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("`otp` is empty."))
    );
    for bad in [
        json!(true),
        json!(123456),
        json!(null),
        json!([]),
        json!("12345\u{0}"),
        json!("1".repeat(10_000)),
    ] {
        let res = app
            .client
            .post(app.url("/api/otp/types-0001"))
            .basic_auth(NAMESPACE, Some(SECRET))
            .json(&json!({ "otp": bad }))
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        assert!((400..500).contains(&status), "{bad} answered {status}");
    }
    let (status, _) = app.check_otp("types-0001", &[("otp", "123456")]).await;
    assert_eq!(
        status, 200,
        "none of the bad inputs spent or consumed the code"
    );
}

async fn providers_and_health_answer(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    let res = app
        .client
        .get(app.url("/api/providers"))
        .basic_auth(NAMESPACE, Some(SECRET))
        .send()
        .await
        .unwrap();
    let (status, body) = support::envelope(res).await;
    // The authenticator-app pseudo-provider is always there.
    assert_eq!(
        (status, body["data"].clone()),
        (200, json!(["console", "totp"]))
    );
    let res = app.client.get(app.url("/api/health")).send().await.unwrap();
    let (status, body) = support::envelope(res).await;
    assert_eq!((status, body["data"].clone()), (200, json!("OK")));
}

on_both_backends!(
    creating_a_verification_answers_the_envelope_with_the_hosted_url,
    a_put_without_an_id_gets_a_random_128_bit_id,
    the_code_sent_over_smtp_verifies_once_through_the_api,
    skip_delete_keeps_a_verified_record_readable_until_delete,
    a_custom_code_is_used_and_not_echoed,
    exactly_max_attempts_wrong_codes_are_allowed_then_even_the_right_one_is_refused,
    a_re_put_replaces_the_code_but_never_resets_the_counters,
    max_generate_allows_that_many_re_sends_after_the_first,
    a_record_kept_by_skip_delete_checks_again_until_consumed,
    wrong_codes_on_a_kept_record_are_429_and_spend_its_attempts,
    ids_shorter_than_six_characters_are_refused_by_check_and_status,
    each_malformed_authorization_gets_otpgateway_s_message,
    wrong_credentials_are_401_in_the_envelope,
    bad_input_gets_the_otpgateway_messages_and_creates_nothing,
    checks_refuse_empty_and_non_string_codes,
    providers_and_health_answer,
);
