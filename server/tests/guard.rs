//! The SMS fraud guard over real HTTP, on SQLite and PostgreSQL: geo permissions refuse a
//! number's country before anything is queued (API, otpgateway API, hosted page, inbound
//! SMS); budgets hold exactly under 100 parallel sends, across two instances on
//! PostgreSQL; and a simulated pumping attack (thousands of sends to one country's
//! sequential numbers beside normal traffic that verifies) is held within the window,
//! alerted to the app's webhook and lifted by its owner, with no normal send refused.

mod support;

use serde_json::{json, Value};
use support::{
    dashboard::{
        csrf, dashboard_app, get, post, sign_in, sms_gateway, start, tenant, viewer_of, OWNER,
    },
    http::{HttpCapture, Reply},
    spawn_app_on, spawn_peer, Backend,
};

fn ok() -> Reply {
    Reply::Status(200, "OK".into())
}

/// The `to` of every message the SMS gateway got within `wait`.
async fn sent_to(sms: &mut HttpCapture, wait: std::time::Duration) -> Vec<String> {
    sms.drain(wait)
        .await
        .iter()
        .map(|c| {
            let v: Value = serde_json::from_slice(&c.body).unwrap();
            v["to"].as_str().unwrap().to_owned()
        })
        .collect()
}

async fn countries_are_refused_before_anything_is_queued(backend: Backend) {
    let mut sms = HttpCapture::start(ok()).await;
    // The demo app sends to the US and Canada; the server refuses Jamaica everywhere.
    let config = format!(
        "countries = [\"us\", \"CA\", \"JM\"]\n\n[guard]\nblocked_countries = [\"JM\"]\n\n{}",
        sms_gateway(&sms)
    );
    let app = spawn_app_on(backend, &config).await;
    let create = |id: &str, to: &str| json!({"id": id, "provider": "gateway", "to": to});

    // Jamaica shares +1 with the US: its country comes from the numbering plan.
    for (id, to, country) in [
        ("jm-1", "+1 876 555 0100", "JM"),
        ("gb-1", "+44 7400 123456", "GB"),
    ] {
        let (status, body) = app.v1_post("/v1/verifications", create(id, to)).await;
        assert_eq!(status, 422, "{to}: {body}");
        assert_eq!(body["error"]["code"], "country_not_allowed", "{body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(country),
            "{body}"
        );
        let (status, _, _) = app
            .v1(
                reqwest::Method::GET,
                &format!("/v1/verifications/{id}"),
                None,
            )
            .await;
        assert_eq!(status, 404, "nothing stored for {to}");
    }
    // The otpgateway API refuses it in its own shape.
    let (status, body) = app
        .put_otp("jm-2", &[("to", "+18765550101"), ("provider", "gateway")])
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("country"),
        "{body}"
    );

    // The hosted page: the number typed there is refused, and nothing is sent.
    let (status, body) = app
        .v1_post(
            "/v1/verifications",
            json!({"id": "page-1", "provider": "gateway"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let location = app
        .page_post(
            "page-1",
            &[("action", "address"), ("address", "+1 876 555 0102")],
        )
        .await;
    assert_eq!(location, "/otp/demo/page-1?result=country");
    let page = app.get_text(&location).await;
    assert!(
        page.contains("We cannot send codes to numbers of this country here."),
        "the page says why"
    );
    assert!(app.record("page-1").await.address.is_empty());

    // Allowed countries go out; nothing refused ever reached the provider.
    for (id, to) in [("us-1", "+1 415 555 0100"), ("ca-1", "+1 613 555 0100")] {
        let (status, body) = app.v1_post("/v1/verifications", create(id, to)).await;
        assert_eq!(status, 201, "{to}: {body}");
    }
    let mut got = sent_to(&mut sms, std::time::Duration::from_millis(800)).await;
    got.sort();
    assert_eq!(got, ["+14155550100", "+16135550100"]);

    // The refusals are counted for the dashboard, per reason and country.
    app.gateway.guard_tick().await.unwrap();
    let mut counted = app
        .sql_strings("SELECT reason || ' ' || country || ' ' || CAST(n AS TEXT) FROM guard_refusal")
        .await;
    counted.sort();
    assert_eq!(
        counted,
        ["country_not_allowed GB 1", "country_not_allowed JM 3",]
    );
}

/// The demo app with a price of 0.01 per message through `gateway` and `budget` a day.
fn priced(sms: &HttpCapture, budget: &str) -> String {
    format!(
        "daily_budget = \"{budget}\"\nmonthly_budget = \"100\"\n\n[limits]\ncaller_limits = false\n\n\
         [guard.prices.gateway]\n\"*\" = \"0.01\"\nIN = \"0.004\"\n\n{}",
        sms_gateway(sms)
    )
}

async fn budgets_hold_exactly_under_parallel_sends(backend: Backend) {
    let mut sms = HttpCapture::start(ok()).await;
    let app = spawn_app_on(backend, &priced(&sms, "0.5")).await;
    // On PostgreSQL a second instance shares the database and the budget.
    let peer = match backend {
        Backend::Postgres => Some(spawn_peer(&app, std::time::Duration::from_millis(50)).await),
        Backend::Sqlite => None,
    };
    // 40 of the 50 messages the day's budget buys.
    for n in 0..40 {
        let to = format!("+1415555{n:04}");
        let (status, body) = app
            .v1_post(
                "/v1/verifications",
                json!({"provider": "gateway", "to": to}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    // 100 at once, half through each instance where there are two: exactly 10 fit.
    let tasks: Vec<_> = (0..100)
        .map(|n| {
            let base = match (&peer, n % 2) {
                (Some(peer), 1) => peer.base.clone(),
                _ => app.base.clone(),
            };
            let client = app.client.clone();
            tokio::spawn(async move {
                let res = client
                    .post(format!("{base}/v1/verifications"))
                    .header("authorization", "Bearer demo:demo-secret-123")
                    .json(&json!({"provider": "gateway", "to": format!("+1212555{n:04}")}))
                    .send()
                    .await
                    .unwrap();
                let status = res.status().as_u16();
                let retry = res
                    .headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
                let body: Value = res.json().await.unwrap();
                (status, retry, body)
            })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        let (status, retry, body) = task.await.unwrap();
        match status {
            201 => created += 1,
            429 => {
                assert_eq!(body["error"]["code"], "budget_exceeded", "{body}");
                assert!(body["error"]["message"].as_str().unwrap().contains("daily"));
                let until_midnight = retry.expect("Retry-After");
                assert!((1..=86_400).contains(&until_midnight), "{until_midnight}");
            }
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(created, 10, "exactly the budget's last 10 messages");
    let spent = app
        .sql_strings(
            "SELECT CAST(spent AS TEXT) || ' ' || CAST(sends AS TEXT) FROM guard_spend \
             WHERE country = '' ORDER BY period",
        )
        .await;
    assert_eq!(
        spent,
        ["500000 50", "500000 50"],
        "day and month: 0.5 in 50 messages"
    );
    assert_eq!(
        sent_to(&mut sms, std::time::Duration::from_millis(1500))
            .await
            .len(),
        50,
        "the provider got exactly what was paid for"
    );

    // A cheaper country still fits under what is left? No: the day is spent to the unit.
    let (status, body) = app
        .v1_post(
            "/v1/verifications",
            json!({"provider": "gateway", "to": "+919876543210"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("budget_exceeded"))
    );
    // E-mail and the console cost nothing and are never refused for money.
    let (status, body) = app
        .v1_post(
            "/v1/verifications",
            json!({"provider": "console", "to": "a@example.com"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    // The next UTC day has a budget of its own: India's price is counted per country.
    app.clock.advance_ms(86_400_000);
    let (status, body) = app
        .v1_post(
            "/v1/verifications",
            json!({"id": "in-1", "provider": "gateway", "to": "+919876543210"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let today = app
        .sql_strings(
            "SELECT country || ' ' || CAST(spent AS TEXT) FROM guard_spend \
             WHERE period LIKE 'd%' AND spent > 0 AND sends = 1 ORDER BY country",
        )
        .await;
    assert_eq!(today, [" 4000", "IN 4000"]);
}

async fn a_resend_is_charged_and_a_refused_one_costs_nothing(backend: Backend) {
    let sms = HttpCapture::start(ok()).await;
    // Budget for two messages.
    let app = spawn_app_on(backend, &priced(&sms, "0.02")).await;
    let (status, body) = app
        .v1_post(
            "/v1/verifications",
            json!({"id": "r-1", "provider": "gateway", "to": "+14155550100"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    // Too early: the cooldown refuses the resend, and its charge is taken back.
    let (status, _) = app.v1_post("/v1/verifications/r-1/resend", json!({})).await;
    assert_eq!(status, 429);
    app.clock.advance_ms(31_000);
    let (status, body) = app.v1_post("/v1/verifications/r-1/resend", json!({})).await;
    assert_eq!(status, 200, "{body}");
    app.clock.advance_ms(31_000);
    let (status, body) = app.v1_post("/v1/verifications/r-1/resend", json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("budget_exceeded"))
    );
    let spent = app
        .sql_strings(
            "SELECT CAST(spent AS TEXT) FROM guard_spend WHERE country = '' AND period LIKE 'd%'",
        )
        .await;
    assert_eq!(spent, ["20000"]);
    assert_eq!(app.record("r-1").await.sends, 2);
}

async fn a_tenant_sets_countries_budgets_and_prices_in_the_dashboard(backend: Backend) {
    let mut sms = HttpCapture::start(ok()).await;
    let app = spawn_app_on(backend, &sms_gateway(&sms)).await;
    let password = tenant(&app, "Acme", OWNER).await;
    let cookie = sign_in(&app, OWNER, &password).await;
    let (secret, token) = dashboard_app(&app, &cookie, "shop").await;
    let settings = "/dashboard/apps/shop/settings";
    // Refused with the reason, nothing changed.
    for (field, value, reason) in [
        ("countries", "IN India", "INDIA"),
        (
            "prices",
            "gateway IN cheap",
            "write a provider, a country code or *, and a price",
        ),
        ("daily_budget", "ten", "write an amount"),
    ] {
        let (status, html) =
            post(&app, settings, &cookie, &[("csrf", &token), (field, value)]).await;
        assert_eq!(status, 422, "{field}");
        assert!(html.contains(reason), "{field}: {html}");
    }
    let form = [
        ("csrf", token.as_str()),
        ("countries", "in gb"),
        ("blocked_countries", "GB"),
        ("daily_budget", "0.01"),
        ("prices", "gateway * 0.01\ngateway IN 0.005"),
    ];
    let (status, _) = post(&app, settings, &cookie, &form).await;
    assert_eq!(status, 303);
    let (_, page) = get(&app, "/dashboard/apps/shop", &cookie).await;
    assert!(page.contains(r#"value="IN GB""#), "the countries read back");
    assert!(page.contains("gateway IN 0.005"), "the prices read back");

    let send = |to: &'static str| {
        let (app, secret) = (&app, secret.clone());
        async move {
            start(
                app,
                "shop",
                &secret,
                json!({"provider": "gateway", "to": to}),
            )
            .await
        }
    };
    let (status, body) = send("+14155550100").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("country_not_allowed"))
    );
    let (status, body) = send("+447400123456").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("country_not_allowed")),
        "blocked wins: {body}"
    );
    // Two Indian messages at 0.005 fill the budget of 0.01; a third is refused.
    for _ in 0..2 {
        let (status, body) = send("+919876543210").await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = send("+919876543211").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("budget_exceeded"))
    );
    assert_eq!(
        sent_to(&mut sms, std::time::Duration::from_millis(800))
            .await
            .len(),
        2
    );
    let (_, page) = get(&app, "/dashboard/apps/shop/guard", &cookie).await;
    assert!(page.contains("0.01 of 0.01 · 2 messages"), "{page}");
    assert!(page.contains("IN GB; refused: GB"), "{page}");
}

/// A few numbers of India that verify, as people do: not sequential.
fn normal_number(n: u64) -> String {
    let scrambled = (n * 7_919 + 104_729) % 1_000_000;
    format!("+9198{:02}{scrambled:06}", n % 100)
}

async fn a_pumping_attack_is_held_and_its_owner_lifts_it(backend: Backend) {
    let sms = HttpCapture::start(ok()).await;
    let mut hook = HttpCapture::start(Reply::Status(200, "ok".into())).await;
    let config = format!("[limits]\ncaller_limits = false\n\n{}", sms_gateway(&sms));
    let app = spawn_app_on(backend, &config).await;
    let password = tenant(&app, "Acme", OWNER).await;
    let cookie = sign_in(&app, OWNER, &password).await;
    let (secret, token) = dashboard_app(&app, &cookie, "shop").await;
    let form = [
        ("csrf", token.as_str()),
        ("url", &hook.url("/hooks")),
        ("event_fraud_hold", "on"),
    ];
    let (status, html) = post(&app, "/dashboard/apps/shop/webhooks", &cookie, &form).await;
    assert_eq!(status, 200, "{html}");

    // Ten simulated minutes in steps of ten seconds. Each step: two people in India
    // start a verification and enter the code the step after; a bot asks for 40 codes to
    // Nigerian numbers counting up from +234 803 000 0000.
    let (mut attack_sent, mut attack_held, mut normal_refused, mut normal_verified) = (0, 0, 0, 0);
    let mut held_at_step = None;
    let mut waiting: Vec<String> = Vec::new();
    let mut next_attack = 0u64;
    for step in 0..60u64 {
        for id in std::mem::take(&mut waiting) {
            let res = app
                .client
                .post(app.url(&format!("/v1/verifications/{id}/check")))
                .header("authorization", format!("Bearer shop:{secret}"))
                .json(&json!({"code": "135790"}))
                .send()
                .await
                .unwrap();
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["status"], "verified", "{body}");
            normal_verified += 1;
        }
        for k in 0..2 {
            let id = format!("in-{step}-{k}");
            let to = normal_number(step * 2 + k);
            let body = json!({"id": id, "provider": "gateway", "to": to, "code": "135790"});
            match start(&app, "shop", &secret, body).await {
                (201, _) => waiting.push(id),
                (_, body) => {
                    normal_refused += 1;
                    eprintln!("a normal send was refused: {body}");
                }
            }
        }
        for _ in 0..40 {
            let to = format!("+234803{:07}", next_attack);
            next_attack += 1;
            let (status, body) = start(
                &app,
                "shop",
                &secret,
                json!({"provider": "gateway", "to": to}),
            )
            .await;
            match status {
                201 => attack_sent += 1,
                403 => {
                    assert_eq!(body["error"]["code"], "suspected_fraud", "{body}");
                    attack_held += 1;
                }
                other => panic!("{other}: {body}"),
            }
        }
        app.clock.advance_ms(10_000);
        let opened = app.gateway.guard_tick().await.unwrap();
        if held_at_step.is_none()
            && opened
                .iter()
                .any(|h| h.scope.as_str() == "country" && h.subject == "NG")
        {
            held_at_step = Some(step);
        }
    }
    eprintln!(
        "pumping simulation ({backend:?}): {} attack requests, {attack_sent} sent before the hold, \
         {attack_held} refused; country held after step {held_at_step:?} (10 s each); \
         {normal_verified} normal verified, {normal_refused} normal refused",
        attack_sent + attack_held
    );
    assert_eq!(normal_refused, 0, "no false positives");
    assert_eq!(normal_verified, 118);
    let step = held_at_step.expect("the country was held");
    assert!(step < 6, "held within the first minute, at step {step}");
    assert!(
        attack_sent <= 150,
        "at most the surge floor and a step's worth got out: {attack_sent}"
    );
    assert_eq!(attack_sent + attack_held, 2400);

    // The owner was told: a signed `fraud.hold` posted to the webhook.
    let alert = hook.next().await;
    let body: Value = serde_json::from_slice(&alert.body).unwrap();
    assert_eq!(alert.header("content-type"), "application/json");
    assert!(!alert.header("webhook-signature").is_empty());
    assert_eq!(body["type"], "fraud.hold", "{body}");
    assert_eq!(body["data"]["namespace"], "shop");

    // The dashboard shows the hold on the app's pages.
    let (_, page) = get(&app, "/dashboard/apps/shop", &cookie).await;
    assert!(
        page.contains("data-role=\"held-banner\""),
        "banner on the app page"
    );
    assert!(page.contains("numbers of NG"));
    let (status, page) = get(&app, "/dashboard/apps/shop/guard", &cookie).await;
    assert_eq!(status, 200);
    assert!(page.contains("far more sends than usual"), "{page}");
    assert!(page.contains("data-refusal=\"suspected_fraud\""));
    let hold_id: i64 = app
        .sql_strings(
            "SELECT CAST(hold_id AS TEXT) FROM guard_hold WHERE scope = 'country' AND subject = 'NG'",
        )
        .await[0]
        .parse()
        .unwrap();
    let lift = format!("/dashboard/apps/shop/guard/holds/{hold_id}/lift");

    // On the hosted page a held number gets the notice, and the app's "didn't get it?"
    // fallbacks stay offered: here the person moves to the console (e-mail, QR inbound).
    let (_, settings_page) = get(&app, "/dashboard/apps/shop", &cookie).await;
    let form = [
        ("csrf", csrf(&settings_page)),
        ("fallbacks", "console".to_owned()),
    ];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, html) = post(&app, "/dashboard/apps/shop/settings", &cookie, &form).await;
    assert_eq!(status, 303, "{html}");
    let (status, body) = start(
        &app,
        "shop",
        &secret,
        json!({"id": "held-page", "provider": "gateway"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let page_post = |form| app.page_post_in("shop", "held-page", form);
    let to = page_post(&[("action", "address"), ("address", "+2348039999999")]).await;
    assert_eq!(to, "/otp/shop/held-page?result=refused");
    let html = app.get_text(&to).await;
    assert!(html.contains("We cannot send a code to this number right now. Try another way."));
    assert!(
        html.contains(r#"data-role="fallbacks""#),
        "another way is offered"
    );
    let to = page_post(&[("action", "switch"), ("provider", "console")]).await;
    assert!(!to.contains("result=refused"), "{to}");

    // Only an owner lifts it.
    let viewer = viewer_of(&app, &cookie).await;
    let (_, viewer_page) = get(&app, "/dashboard/apps/shop/guard", &viewer).await;
    assert!(!viewer_page.contains(&lift), "no lift button for a viewer");
    let viewer_token = csrf(&viewer_page);
    let (status, _) = post(&app, &lift, &viewer, &[("csrf", &viewer_token)]).await;
    assert_eq!(status, 403);
    let (_, page) = get(&app, "/dashboard/apps/shop/guard", &cookie).await;
    assert!(page.contains(&lift));
    let res = app
        .client
        .post(app.url(&lift))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf(&page))])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);

    // Lifted: Nigeria is sent to again at once (numbers outside the attacked blocks), and
    // the detector judges it afresh from the lift.
    let (status, body) = start(
        &app,
        "shop",
        &secret,
        json!({"provider": "gateway", "to": "+2348031234567"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    app.clock.advance_ms(10_000);
    let opened = app.gateway.guard_tick().await.unwrap();
    assert!(
        opened.is_empty(),
        "not held again on old figures: {opened:?}"
    );
    let (_, page) = get(&app, "/dashboard/apps/shop/guard", &cookie).await;
    assert!(page.contains(&format!("by {OWNER}")), "the lift is shown");
    let audit = get(&app, "/dashboard/audit?action=hold_lifted", &cookie)
        .await
        .1;
    assert!(audit.contains("hold_lifted"));
}

on_both_backends!(
    countries_are_refused_before_anything_is_queued,
    budgets_hold_exactly_under_parallel_sends,
    a_resend_is_charged_and_a_refused_one_costs_nothing,
    a_tenant_sets_countries_budgets_and_prices_in_the_dashboard,
    a_pumping_attack_is_held_and_its_owner_lifts_it,
);
