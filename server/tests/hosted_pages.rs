//! The hosted code page and its form, without a browser: server rendering, the
//! no-JavaScript form post, headers, and the status poll.

mod support;

use support::{smtp::SmtpCapture, spawn_app_on, Backend, TestApp};

async fn create(app: &support::TestApp, id: &str, code: &str) {
    let (status, body) = app
        .put_otp(
            id,
            &[
                ("to", "john@example.com"),
                ("provider", "console"),
                ("otp", code),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

async fn the_code_page_is_rendered_on_the_server_with_a_working_form(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    create(&app, "p1", "246810").await;
    let res = app
        .client
        .get(app.url("/otp/demo/p1"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let headers = res.headers().clone();
    let html = res.text().await.unwrap();
    assert!(html.contains(r#"action="/otp/demo/p1?lang=en""#), "{html}");
    assert!(html.contains(r#"autocomplete="one-time-code""#));
    assert!(html.contains(r#"inputmode="numeric""#));
    assert!(html.contains("jo**@example.com"), "the address is masked");
    assert!(!html.contains("john@example.com"));
    assert!(!html.contains("246810"), "the code never reaches the page");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert!(headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
}

async fn the_form_post_verifies_without_javascript_and_status_reports_closed(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    create(&app, "page-0002", "135790").await;
    let post = |code: &'static str| {
        app.client
            .post(app.url("/otp/demo/page-0002"))
            .form(&[("action", "check"), ("otp", code)])
            .send()
    };
    let res = post("000000").await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(
        res.headers()["location"],
        "/otp/demo/page-0002?result=incorrect"
    );
    let page = app.get_text("/otp/demo/page-0002?result=incorrect").await;
    assert!(
        page.contains("That code is not right. 4 attempts left."),
        "{page}"
    );

    let res = post("135790").await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/otp/demo/page-0002");
    let page = app.get_text("/otp/demo/page-0002").await;
    assert!(page.contains(r#"data-state="verified""#));

    let (status, body) = app.status("page-0002").await;
    assert_eq!(
        (status, body["data"]["closed"].as_bool()),
        (200, Some(true))
    );
    let poll: serde_json::Value = app.get_json("/otp/demo/page-0002/status").await;
    assert_eq!(
        poll,
        serde_json::json!({"status": "success", "data": {"closed": true}})
    );
}

async fn a_cross_site_form_post_is_refused_and_changes_nothing(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    create(&app, "page-0003", "112233").await;
    let res = app
        .client
        .post(app.url("/otp/demo/page-0003"))
        .header("sec-fetch-site", "cross-site")
        .form(&[("action", "check"), ("otp", "112233")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let (status, _) = app.status("page-0003").await;
    assert_eq!(status, 400, "still not verified");
}

async fn unknown_pages_and_verifications_are_404(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    for path in ["/otp/demo/missing", "/otp/nobody/x", "/nowhere"] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 404, "{path}");
    }
    // The page poll answers as otpgateway's does.
    let res = app
        .client
        .get(app.url("/otp/demo/missing/status"))
        .send()
        .await
        .unwrap();
    let (status, body) = support::envelope(res).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("Session expired."))
    );
}

async fn a_poisoned_host_header_does_not_change_the_link_in_the_message(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    let res = app
        .client
        .put(app.url("/api/otp/h1"))
        .basic_auth(support::NAMESPACE, Some(support::SECRET))
        .header("host", "evil.example")
        .header("x-forwarded-host", "evil.example")
        .form(&[("to", "h@example.com"), ("provider", "console")])
        .send()
        .await
        .unwrap();
    let (_, body) = support::envelope(res).await;
    assert_eq!(body["data"]["url"], app.url("/otp/demo/h1"));
    let message = app.console_message_for("h@example.com").await;
    assert!(message.contains(&app.url("/otp/demo/h1")));
    assert!(!message.contains("evil.example"));
}

async fn the_dev_inbox_lists_console_messages(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    create(&app, "p4", "777888").await;
    app.console_message_for("john@example.com").await;
    let page = app.get_text("/dev/inbox").await;
    assert!(page.contains("777888"));
    assert!(page.contains("to john@example.com via console"));
}

/// The address form of `id`'s page, with the picker's country when given: where the
/// post sends the browser.
async fn give_address(app: &TestApp, id: &str, address: &str, country: Option<&str>) -> String {
    let mut form = vec![("action", "address"), ("address", address)];
    form.extend(country.map(|c| ("country", c)));
    app.page_post(id, &form).await
}

async fn the_page_collects_the_address_then_sends_the_code(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    let (status, body) = app
        .put_otp("addr-1", &[("provider", "console"), ("otp", "314159")])
        .await;
    assert_eq!(status, 200, "{body}");
    let html = app.page_html("addr-1").await;
    assert!(html.contains(r#"name="address""#), "an address form first");
    assert!(!html.contains(r#"name="otp""#));

    let bad = give_address(&app, "addr-1", "not an address\u{7}", None).await;
    assert_eq!(bad, "/otp/demo/addr-1?result=invalid_address");
    assert!(
        app.gateway.inbox().unwrap().is_empty(),
        "nothing sent to a refused address"
    );

    let ok = give_address(&app, "addr-1", "jane@example.com", None).await;
    assert_eq!(ok, "/otp/demo/addr-1?result=sent");
    let message = app.console_message_for("jane@example.com").await;
    assert!(message.contains("314159"));
    let html = app.page_html("addr-1").await;
    assert!(html.contains(r#"name="otp""#), "then the code form");
    assert!(html.contains("ja**@example.com"));

    let again = give_address(&app, "addr-1", "eve@example.com", None).await;
    assert_eq!(
        again, "/otp/demo/addr-1?result=invalid_address",
        "the address is set once"
    );
    assert_eq!(app.record("addr-1").await.address, "jane@example.com");
}

async fn resend_waits_for_its_cooldown(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    create(&app, "rs-1", "271828").await;
    let html = app.page_html("rs-1").await;
    assert!(
        html.contains("Send a new code in 0:30"),
        "the cooldown is shown"
    );
    let early = app.page_post("rs-1", &[("action", "resend")]).await;
    assert_eq!(early, "/otp/demo/rs-1?result=limited");
    app.clock.advance_ms(31_000);
    let html = app.page_html("rs-1").await;
    assert!(html.contains(">Send a new code<"), "{html}");
    let later = app.page_post("rs-1", &[("action", "resend")]).await;
    assert_eq!(later, "/otp/demo/rs-1?result=resent");
    app.wait_for_events("rs-1", "sent", 2).await;
    let kinds = app.events("rs-1").await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "resent").count(),
        1,
        "{kinds:?}"
    );
    assert_eq!(app.deliveries("rs-1").await.len(), 2);
}

async fn a_verified_page_returns_to_the_app_with_a_token(backend: Backend) {
    let shop = "[auth.shop]\nnamespace = \"shop\"\nsecret = \"shop-secret-456\"\nredirect_urls = [\"https://shop.example/done?from=otp\"]\n";
    let app = spawn_app_on(backend, shop).await;
    let res = app
        .client
        .post(app.url("/v1/verifications"))
        .basic_auth("shop", Some("shop-secret-456"))
        .json(&serde_json::json!({
            "id": "rd-1", "provider": "console", "to": "john@example.com", "code": "161803",
            "redirect_url": "https://shop.example/done?from=otp", "state": "cart 42"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let res = app
        .client
        .post(app.url("/otp/shop/rd-1"))
        .form(&[("action", "check"), ("otp", "161803")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let (base, query) = location.split_once('?').unwrap();
    assert_eq!(base, "https://shop.example/done");
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap();
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(get("from"), "otp", "the URL's own query is kept");
    assert_eq!(get("id"), "rd-1");
    assert_eq!(get("state"), "cart 42");
    let res = app
        .client
        .post(app.url("/v1/tokens/confirm"))
        .basic_auth("shop", Some("shop-secret-456"))
        .json(&serde_json::json!({ "token": get("verification_token"), "expected_address": "john@example.com" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the token in the redirect confirms");
}

async fn only_listed_sites_may_frame_an_apps_pages(backend: Backend) {
    let shop = "[auth.shop]\nnamespace = \"shop\"\nsecret = \"shop-secret-456\"\nembed_origins = [\"https://shop.example\", \"http://127.0.0.1:8081\"]\n";
    let app = spawn_app_on(backend, shop).await;
    let res = app
        .client
        .get(app.url("/otp/shop/anything"))
        .send()
        .await
        .unwrap();
    let policy = res.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        policy.ends_with("; frame-ancestors https://shop.example http://127.0.0.1:8081"),
        "{policy}"
    );
    assert!(res.headers().get("x-frame-options").is_none());
    let res = app
        .client
        .get(app.url("/otp/demo/anything"))
        .send()
        .await
        .unwrap();
    let policy = res.headers()["content-security-policy"].to_str().unwrap();
    assert!(policy.ends_with("; frame-ancestors 'none'"), "{policy}");
    assert_eq!(res.headers()["x-frame-options"], "DENY");
    let res = app
        .client
        .get(app.url("/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()["content-security-policy"],
        "frame-ancestors 'none'"
    );
}

async fn pages_speak_the_chosen_language(backend: Backend) {
    let shop = "[auth.shop]\nnamespace = \"shop\"\nsecret = \"shop-secret-456\"\nlocale = \"fr\"\n";
    let app = spawn_app_on(backend, shop).await;
    create(&app, "lang-1", "112233").await;
    let get = |path: &str, accept: &str| {
        app.client
            .get(app.url(path))
            .header("accept-language", accept)
            .send()
    };
    let html = get("/otp/demo/lang-1?lang=ar", "de")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains(r#"dir="rtl""#) && html.contains(r#"lang="ar""#),
        "?lang= first, right to left"
    );
    assert!(html.contains("أدخل رمز التحقق"), "Arabic heading");
    let html = get("/otp/demo/lang-1", "pt-BR, de;q=0.8")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains(r#"lang="de""#) && html.contains("Geben Sie Ihren Bestätigungscode ein"),
        "then Accept-Language"
    );
    let html = get("/otp/demo/lang-1", "xx")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains(r#"lang="en""#) && html.contains("Enter your verification code"),
        "then English"
    );

    // The app's default comes before the browser's language.
    let res = app
        .client
        .post(app.url("/v1/verifications"))
        .basic_auth("shop", Some("shop-secret-456"))
        .json(
            &serde_json::json!({ "id": "lang-2", "provider": "console", "to": "jean@example.com" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let html = get("/otp/shop/lang-2", "de")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Saisissez votre code de vérification"),
        "the app's language"
    );
}

async fn an_email_link_asks_for_a_press_and_only_the_post_verifies(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    create(&app, "cl-1", "908172").await;
    let message = app.console_message_for("john@example.com").await;
    assert!(
        message.contains(&app.url("/otp/demo/cl-1?code=908172")),
        "the e-mail carries the one-click link: {message}"
    );
    let html = app.page_html("cl-1?code=908172").await;
    assert!(html.contains(r#"data-role="confirm""#), "a confirm button");
    assert!(html.contains(r#"name="otp" value="908172""#));
    let kinds = app.events("cl-1").await;
    assert!(
        !kinds.iter().any(|k| k == "verified" || k == "attempt"),
        "opening the link (a mail scanner, a prefetch) checks nothing: {kinds:?}"
    );
    let location = app
        .page_post("cl-1", &[("action", "check"), ("otp", "908172")])
        .await;
    assert_eq!(location, "/otp/demo/cl-1");
    assert_eq!(
        app.record("cl-1").await.status,
        app::model::Status::Verified
    );
    // A link with something that is not a code shows the ordinary form.
    create(&app, "cl-2", "101010").await;
    let html = app.page_html("cl-2?code=%3Cscript%3E").await;
    assert!(!html.contains(r#"data-role="confirm""#));
    assert!(html.contains(r#"name="otp""#));
}

/// The nonce in a page's `script-src`, after checking the rest of its policy.
fn script_nonce(policy: &str) -> String {
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    assert!(policy.contains("default-src 'self'"), "{policy}");
    assert!(policy.contains("object-src 'none'"), "{policy}");
    assert!(policy.contains("base-uri 'none'"), "{policy}");
    let script_src = policy
        .split(';')
        .map(str::trim)
        .find_map(|d| d.strip_prefix("script-src "))
        .expect("a script-src directive");
    let nonce = script_src
        .split(' ')
        .find_map(|s| s.strip_prefix("'nonce-")?.strip_suffix('\''))
        .expect("a nonce source")
        .to_owned();
    assert!(nonce.len() >= 22, "128 bits of nonce: {nonce}");
    nonce
}

async fn every_script_on_a_page_carries_the_responses_csp_nonce(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    create(&app, "csp-1", "121212").await;
    let mut nonces = Vec::new();
    for _ in 0..2 {
        let res = app
            .client
            .get(app.url("/otp/demo/csp-1"))
            .send()
            .await
            .unwrap();
        let policy = res.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        let nonce = script_nonce(&policy);
        let html = res.text().await.unwrap();
        let scripts: Vec<&str> = html.split("<script").skip(1).collect();
        assert!(!scripts.is_empty(), "the hydration script is on the page");
        for script in scripts {
            let tag = &script[..script.find('>').unwrap()];
            assert!(tag.contains(&format!("nonce=\"{nonce}\"")), "{tag}");
        }
        nonces.push(nonce);
    }
    assert_ne!(nonces[0], nonces[1], "a fresh nonce per response");
}

async fn an_apps_logo_and_accent_colour_show_on_its_pages(backend: Backend) {
    let shop = "[auth.shop]\nnamespace = \"shop\"\nsecret = \"shop-secret-456\"\nname = \"The Shop\"\nlogo_url = \"/favicon.svg\"\naccent_color = \"#0F766E\"\n";
    let app = spawn_app_on(backend, shop).await;
    let res = app
        .client
        .put(app.url("/api/otp/brand-1"))
        .basic_auth("shop", Some("shop-secret-456"))
        .form(&[("to", "john@example.com"), ("provider", "console")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .client
        .get(app.url("/otp/shop/brand-1"))
        .send()
        .await
        .unwrap();
    let nonce = script_nonce(res.headers()["content-security-policy"].to_str().unwrap());
    let html = res.text().await.unwrap();
    assert!(html.contains(r#"src="/favicon.svg""#), "{html}");
    assert!(html.contains(r#"data-role="logo""#));
    assert!(html.contains("The Shop"));
    let style =
        format!("<style nonce=\"{nonce}\">:root{{--accent:#0f766e;--accent-fg:#ffffff}}</style>");
    assert!(
        html.contains(&style),
        "the accent, allowed by the nonce: {html}"
    );

    // Another app's page keeps the default look.
    create(&app, "plain-1", "343434").await;
    let html = app.page_html("plain-1").await;
    assert!(!html.contains("--accent:#0f766e"));
    assert!(!html.contains(r#"data-role="logo""#));
}

async fn a_national_number_is_read_in_the_picked_country(backend: Backend) {
    // An SMS relay nobody answers: this test is about the address, not the delivery.
    let relay = "[webhooks.sms_relay]\nenabled = true\nurl = \"http://127.0.0.1:9/otp\"\nchannel = \"sms\"\n";
    let app = spawn_app_on(backend, relay).await;
    for id in ["tel-1", "tel-2"] {
        let (status, body) = app.put_otp(id, &[("provider", "sms_relay")]).await;
        assert_eq!(status, 200, "{body}");
    }
    let res = app
        .client
        .get(app.url("/otp/demo/tel-1"))
        .header("accept-language", "de-DE,de;q=0.9")
        .send()
        .await
        .unwrap();
    let html = res.text().await.unwrap();
    assert!(
        html.contains(r#"<select id="country" name="country""#),
        "{html}"
    );
    assert!(
        html.contains(r#"<option value="DE" selected="">DE +49</option>"#)
            || html.contains(r#"<option value="DE" selected>DE +49</option>"#),
        "the browser's region is picked first"
    );
    assert!(html.contains(r#"<option value="IN">IN +91</option>"#));

    // Without a country, a national number cannot be read: refused, nothing stored.
    let refused = give_address(&app, "tel-1", "030 1234567", Some("")).await;
    assert_eq!(refused, "/otp/demo/tel-1?result=invalid_address");
    assert_eq!(app.record("tel-1").await.address, "");
    // A number outside the country's numbering plan is refused too.
    let refused = give_address(&app, "tel-1", "1", Some("DE")).await;
    assert_eq!(refused, "/otp/demo/tel-1?result=invalid_address");

    let sent = give_address(&app, "tel-1", "030 1234567", Some("DE")).await;
    assert_eq!(sent, "/otp/demo/tel-1?result=sent");
    assert_eq!(app.record("tel-1").await.address, "+49301234567");
    // Written internationally, the picked country does not matter.
    let sent = give_address(&app, "tel-2", "+91 98765 43210", Some("DE")).await;
    assert_eq!(sent, "/otp/demo/tel-2?result=sent");
    assert_eq!(app.record("tel-2").await.address, "+919876543210");
}

/// The demo app offers e-mail, a second SMS relay and the QR page when a code does not
/// arrive. The SMS relays answer nobody: the first code never arrives.
async fn fallback_app(backend: Backend) -> (support::TestApp, SmtpCapture) {
    let smtp = SmtpCapture::start().await;
    // These lines continue the demo app's section.
    let toml = format!(
        "fallbacks = [\"smtp\", \"sms_backup\", \"inbound_sms\"]\n\n\
         [webhooks.sms_relay]\nenabled = true\nurl = \"http://127.0.0.1:9/otp\"\nchannel = \"sms\"\n\n\
         [webhooks.sms_backup]\nenabled = true\nurl = \"http://127.0.0.1:9/backup\"\nchannel = \"sms\"\n\n\
         [inbound]\nnumber = \"+1 500 555 0006\"\n\n{}",
        smtp.config()
    );
    (spawn_app_on(backend, &toml).await, smtp)
}

async fn create_by_sms(app: &support::TestApp, id: &str, extra: &[(&str, &str)]) {
    let mut form = vec![
        ("provider", "sms_relay"),
        ("to", "+49 30 1234567"),
        ("otp", "314159"),
    ];
    form.extend_from_slice(extra);
    let (status, body) = app.put_otp(id, &form).await;
    assert_eq!(status, 200, "{body}");
}

async fn didnt_get_it_moves_to_email_with_a_new_code_and_the_same_counters(backend: Backend) {
    let (app, mut smtp) = fallback_app(backend).await;
    create_by_sms(&app, "fb-1", &[]).await;
    let html = app.page_html("fb-1").await;
    assert!(
        html.contains("Didn&#x27;t get it?") || html.contains("Didn't get it?"),
        "{html}"
    );
    assert!(html.contains(r#"name="provider" value="smtp""#));
    assert!(html.contains("Get a code by e-mail instead"));
    assert!(html.contains("Text us a code instead"));
    assert!(
        !html.contains(r#"name="provider" value="sms_relay""#),
        "the channel in use is not offered"
    );
    let wrong = app
        .page_post("fb-1", &[("action", "check"), ("otp", "000000")])
        .await;
    assert_eq!(wrong, "/otp/demo/fb-1?result=incorrect");
    let before = app.record("fb-1").await;

    let switched = app
        .page_post("fb-1", &[("action", "switch"), ("provider", "smtp")])
        .await;
    assert_eq!(
        switched, "/otp/demo/fb-1",
        "nothing sent yet: the page asks for the address"
    );
    let after = app.record("fb-1").await;
    assert_eq!(
        (after.provider.as_str(), after.channel.as_str()),
        ("smtp", "email")
    );
    assert_eq!(after.address, "", "a phone number is no e-mail address");
    assert_ne!(after.code_hmac, before.code_hmac, "a new code");
    assert_eq!(after.attempts, 1, "attempts carry over");
    assert_eq!(after.sends, before.sends, "no send spent before an address");
    assert_eq!(after.expires_at, before.expires_at, "the same deadline");
    let statuses: Vec<String> = app
        .deliveries("fb-1")
        .await
        .into_iter()
        .map(|d| d.0)
        .collect();
    assert_eq!(statuses, ["dropped"], "the SMS still queued is dropped");
    assert!(app
        .events("fb-1")
        .await
        .contains(&"channel_switched".to_owned()));

    let html = app.page_html("fb-1").await;
    assert!(
        html.contains(r#"type="email""#),
        "an e-mail form now: {html}"
    );
    assert!(
        html.contains(r#"name="provider" value="sms_backup""#)
            && !html.contains(r#"name="provider" value="smtp""#),
        "the other fallbacks are offered, not the one in use"
    );
    let sent = give_address(&app, "fb-1", "jane@example.com", None).await;
    assert_eq!(sent, "/otp/demo/fb-1?result=sent");
    let mail = smtp.next().await;
    assert_eq!(mail.to, ["jane@example.com"]);
    let text = support::smtp::mime_part(&mail.data, "text/plain").expect("a text part");
    let code = support::find_code(&text, 6);
    assert_ne!(code, "314159");
    let old = app
        .page_post("fb-1", &[("action", "check"), ("otp", "314159")])
        .await;
    assert_eq!(
        old, "/otp/demo/fb-1?result=incorrect",
        "the SMS code is dead"
    );
    let ok = app
        .page_post("fb-1", &[("action", "check"), ("otp", &code)])
        .await;
    assert_eq!(ok, "/otp/demo/fb-1");
    assert_eq!(
        app.record("fb-1").await.status,
        app::model::Status::Verified
    );
    let closed = app
        .page_post("fb-1", &[("action", "switch"), ("provider", "sms_backup")])
        .await;
    assert_eq!(
        closed, "/otp/demo/fb-1",
        "a closed verification stays as it is"
    );
    assert_eq!(app.record("fb-1").await.provider, "smtp");
}

async fn a_switch_keeps_the_phone_number_and_respects_the_caps(backend: Backend) {
    let (app, _smtp) = fallback_app(backend).await;
    // Another SMS relay: the number is kept and the new code goes out at once.
    create_by_sms(&app, "fb-2", &[]).await;
    let sent = app
        .page_post("fb-2", &[("action", "switch"), ("provider", "sms_backup")])
        .await;
    assert_eq!(sent, "/otp/demo/fb-2?result=sent");
    let record = app.record("fb-2").await;
    assert_eq!(
        (record.provider.as_str(), record.address.as_str()),
        ("sms_backup", "+49301234567")
    );
    assert_eq!(record.sends, 2);

    // Not among the app's fallbacks: refused, nothing changes. (One send in all: the
    // native API counts sends, otpgateway's `max_generate` counts re-sends.)
    let (status, body) = app
        .v1_post(
            "/v1/verifications",
            serde_json::json!({"id": "fb-3", "provider": "sms_relay", "to": "+49 30 1234567", "max_sends": 1}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let before = app.record("fb-3").await;
    let refused = app
        .page_post("fb-3", &[("action", "switch"), ("provider", "console")])
        .await;
    assert_eq!(refused, "/otp/demo/fb-3?result=invalid_address");
    // A switch that sends needs a send left.
    let capped = app
        .page_post("fb-3", &[("action", "switch"), ("provider", "sms_backup")])
        .await;
    assert_eq!(capped, "/otp/demo/fb-3?result=limited");
    let after = app.record("fb-3").await;
    assert_eq!(
        (after.provider, after.code_hmac, after.sends),
        (before.provider, before.code_hmac, before.sends)
    );
    assert!(!app
        .events("fb-3")
        .await
        .contains(&"channel_switched".to_owned()));
}

async fn a_switch_to_the_qr_page_verifies_only_from_the_same_phone(backend: Backend) {
    let (app, _smtp) = fallback_app(backend).await;
    create_by_sms(&app, "fb-4", &[]).await;
    let moved = app
        .page_post("fb-4", &[("action", "switch"), ("provider", "inbound_sms")])
        .await;
    assert_eq!(moved, "/otp/demo/fb-4");
    let html = app.page_html("fb-4").await;
    let at = html
        .find(r#"data-role="inbound-code""#)
        .unwrap_or_else(|| panic!("the QR page: {html}"));
    let start = at + html[at..].find('>').unwrap() + 1;
    let code = html[start..start + 10].to_owned();
    let sms = |id: &str, from: &str| app::gateway::inbound::InboundSms {
        message_id: id.into(),
        from: from.into(),
        to: "+15005550006".into(),
        body: code.clone(),
    };
    let gw = &app.gateway;
    assert!(
        !gw.receive_inbound("generic", &sms("m1", "+14155550100"))
            .await
            .unwrap(),
        "another phone cannot finish it"
    );
    assert!(gw
        .receive_inbound("generic", &sms("m2", "+49301234567"))
        .await
        .unwrap());
    assert_eq!(
        app.record("fb-4").await.status,
        app::model::Status::Verified
    );
}

async fn the_hydrated_page_checks_codes_as_json(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    create(&app, "js-1", "135790").await;
    let check = |code: &'static str| {
        app.client
            .post(app.url("/otp/demo/js-1"))
            .header("accept", "application/json")
            .form(&[("action", "check"), ("otp", code)])
            .send()
    };
    let wrong: serde_json::Value = check("000000").await.unwrap().json().await.unwrap();
    assert_eq!(
        wrong,
        serde_json::json!({ "result": "incorrect", "attempts_left": 4 })
    );
    let right: serde_json::Value = check("135790").await.unwrap().json().await.unwrap();
    assert_eq!(right, serde_json::json!({ "result": "verified" }));
    assert_eq!(
        app.record("js-1").await.status,
        app::model::Status::Verified
    );
    let missing = app
        .client
        .post(app.url("/otp/demo/nobody"))
        .header("accept", "application/json")
        .form(&[("action", "check"), ("otp", "000000")])
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

async fn a_form_post_returns_to_the_page_in_its_language_and_modal(backend: Backend) {
    // This line continues the demo app's section.
    let app = spawn_app_on(backend, "embed_origins = [\"https://shop.example\"]\n").await;
    create(&app, "keep-1", "246810").await;
    let post = |query: &'static str| {
        app.client
            .post(app.url(&format!("/otp/demo/keep-1{query}")))
            .form(&[("action", "check"), ("otp", "000000")])
            .send()
    };
    let location = |res: reqwest::Response| {
        assert_eq!(res.status(), 303);
        res.headers()["location"].to_str().unwrap().to_owned()
    };
    assert_eq!(
        location(
            post("?lang=de&origin=https%3A%2F%2Fshop.example")
                .await
                .unwrap()
        ),
        "/otp/demo/keep-1?result=incorrect&lang=de&origin=https%3A%2F%2Fshop.example"
    );
    // A site the app does not list, and a language the pages do not speak, are dropped.
    assert_eq!(
        location(
            post("?lang=xx&origin=https%3A%2F%2Fevil.example")
                .await
                .unwrap()
        ),
        "/otp/demo/keep-1?result=incorrect"
    );
}

on_both_backends!(
    a_form_post_returns_to_the_page_in_its_language_and_modal,
    the_hydrated_page_checks_codes_as_json,
    didnt_get_it_moves_to_email_with_a_new_code_and_the_same_counters,
    a_switch_keeps_the_phone_number_and_respects_the_caps,
    a_switch_to_the_qr_page_verifies_only_from_the_same_phone,
    every_script_on_a_page_carries_the_responses_csp_nonce,
    an_apps_logo_and_accent_colour_show_on_its_pages,
    a_national_number_is_read_in_the_picked_country,
    the_code_page_is_rendered_on_the_server_with_a_working_form,
    the_form_post_verifies_without_javascript_and_status_reports_closed,
    a_cross_site_form_post_is_refused_and_changes_nothing,
    unknown_pages_and_verifications_are_404,
    a_poisoned_host_header_does_not_change_the_link_in_the_message,
    the_dev_inbox_lists_console_messages,
    the_page_collects_the_address_then_sends_the_code,
    resend_waits_for_its_cooldown,
    a_verified_page_returns_to_the_app_with_a_token,
    only_listed_sites_may_frame_an_apps_pages,
    pages_speak_the_chosen_language,
    an_email_link_asks_for_a_press_and_only_the_post_verifies,
);

#[tokio::test]
async fn a_fallback_that_is_not_configured_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().display().to_string();
    let toml = "[auth.shop]\nnamespace = \"shop\"\nsecret = \"shop-secret-456\"\nfallbacks = [\"carrier_pigeon\"]\n";
    let settings = otpgate::config::Settings::from_toml(toml, |k| {
        (k == "OTPGATE_DATA_DIR").then(|| data_dir.clone())
    })
    .unwrap();
    let clock = std::sync::Arc::new(app::gateway::clock::ManualClock::default());
    let err = otpgate::build_gateway(&settings, clock).await.unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("fallbacks") && message.contains("carrier_pigeon"),
        "{message}"
    );
}
