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
        (Some(1), Some(5))
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
        "k1",
        &[
            ("to", "k@example.com"),
            ("provider", "console"),
            ("otp", "424242"),
        ],
    )
    .await;
    let (status, _) = app.status("k1").await;
    assert_eq!(status, 400, "not verified yet");
    let (status, body) = app
        .check_otp("k1", &[("otp", "424242"), ("skip_delete", "true")])
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app.status("k1").await;
    assert_eq!(
        (status, body["data"]["closed"].as_bool()),
        (200, Some(true))
    );

    let res = app
        .client
        .delete(app.url("/api/otp/k1/status"))
        .basic_auth(NAMESPACE, Some(SECRET))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (status, body) = app.status("k1").await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("the OTP does not exist"))
    );
}

async fn a_custom_code_is_used_and_not_echoed(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    let (status, body) = app
        .put_otp(
            "c1",
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
    let (status, _) = app.check_otp("c1", &[("otp", "123456")]).await;
    assert_eq!(status, 200);
}

async fn exactly_max_attempts_wrong_codes_are_allowed_then_even_the_right_one_is_refused(
    backend: Backend,
) {
    let app = spawn_app_on(backend, "").await;
    app.put_otp(
        "m1",
        &[
            ("to", "m@example.com"),
            ("provider", "console"),
            ("otp", "555555"),
            ("max_attempts", "3"),
        ],
    )
    .await;
    for n in 1..=3 {
        let (status, body) = app.check_otp("m1", &[("otp", "000000")]).await;
        assert_eq!(
            (status, body["message"].as_str()),
            (400, Some("Incorrect OTP")),
            "attempt {n}"
        );
        assert_eq!(body["data"]["attempts"], n);
    }
    let (status, body) = app.check_otp("m1", &[("otp", "555555")]).await;
    assert_eq!(status, 429, "{body}");
    assert!(body["message"]
        .as_str()
        .unwrap()
        .starts_with("Too many attempts. Please retry after "));
}

async fn a_re_put_replaces_the_code_but_never_resets_the_counters(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    app.put_otp(
        "r1",
        &[
            ("to", "r@example.com"),
            ("provider", "console"),
            ("otp", "111111"),
        ],
    )
    .await;
    app.check_otp("r1", &[("otp", "999999")]).await;
    app.check_otp("r1", &[("otp", "999999")]).await;
    let (status, body) = app
        .put_otp(
            "r1",
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
    let (status, _) = app.check_otp("r1", &[("otp", "111111")]).await;
    assert_eq!(status, 400, "the replaced code no longer works");
    let (status, _) = app.check_otp("r1", &[("otp", "222222")]).await;
    assert_eq!(status, 200);
}

async fn sends_past_max_generate_are_refused_with_429(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    let form = [
        ("to", "g@example.com"),
        ("provider", "console"),
        ("max_generate", "2"),
    ];
    assert_eq!(app.put_otp("g1", &form).await.0, 200);
    assert_eq!(app.put_otp("g1", &form).await.0, 200);
    let (status, body) = app.put_otp("g1", &form).await;
    assert_eq!(status, 429, "{body}");
    assert!(body["message"]
        .as_str()
        .unwrap()
        .starts_with("OTP attempts exceeded. Retry after "));
    assert_eq!(body["data"]["max_attempts"], 2);
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
        (&[("provider", "console"), ("ttl", "0")], "Invalid `ttl`."),
        (&[("provider", "console"), ("ttl", "abc")], "Invalid `ttl`."),
        (
            &[("provider", "console"), ("ttl", "90000")],
            "Invalid `ttl`: must be between 1 and 86400.",
        ),
        (
            &[("provider", "console"), ("max_attempts", "-1")],
            "Invalid `max_attempts`.",
        ),
        (
            &[("provider", "console"), ("max_generate", "0")],
            "Invalid `max_generate`.",
        ),
        (
            &[("provider", "console"), ("extra", "{nope")],
            "Invalid JSON in `extra`.",
        ),
    ];
    for (form, message) in cases {
        let (status, body) = app.put_otp("bad-1", form).await;
        assert_eq!(
            (status, body["message"].as_str()),
            (400, Some(*message)),
            "{form:?}"
        );
    }
    let (status, body) = app.status("bad-1").await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("the OTP does not exist"))
    );
}

async fn checks_refuse_empty_and_non_string_codes(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    app.put_otp(
        "t1",
        &[
            ("to", "t@example.com"),
            ("provider", "console"),
            ("otp", "123456"),
        ],
    )
    .await;
    let (status, body) = app.check_otp("t1", &[("otp", "")]).await;
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
            .post(app.url("/api/otp/t1"))
            .basic_auth(NAMESPACE, Some(SECRET))
            .json(&json!({ "otp": bad }))
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        assert!((400..500).contains(&status), "{bad} answered {status}");
    }
    let (status, _) = app.check_otp("t1", &[("otp", "123456")]).await;
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
    assert_eq!((status, body["data"].clone()), (200, json!(["console"])));
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
    sends_past_max_generate_are_refused_with_429,
    wrong_credentials_are_401_in_the_envelope,
    bad_input_gets_the_otpgateway_messages_and_creates_nothing,
    checks_refuse_empty_and_non_string_codes,
    providers_and_health_answer,
);
