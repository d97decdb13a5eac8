//! An app's own providers in the dashboard, over real HTTP on SQLite and PostgreSQL: forms
//! refused with the field named, secrets sealed in the database and never sent back, a
//! test message and the app's verifications carried by a Twilio-shaped server on loopback,
//! roles, tenant isolation and the audit log.

mod support;

use base64::Engine;
use support::{
    dashboard::{
        csrf, dashboard_app, get, inbox_holding, post, role_text, sign_in, start, tenant,
        viewer_of, OWNER,
    },
    http::{Captured, HttpCapture, Reply},
    spawn_app_on, Backend, TestApp,
};

const TOKEN: &str = "tok-secret-987";

/// The form that adds (or changes) the Twilio provider `tw` reaching `twilio`.
fn twilio_form<'a>(
    token: &'a str,
    base_url: &'a str,
    auth_token: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf", token),
        ("kind", "twilio"),
        ("id", "tw"),
        ("channel", "sms"),
        ("account_sid", "ACtest"),
        ("auth_token", auth_token),
        ("from", "+15005550006"),
        ("messaging_service_sid", ""),
        ("base_url", base_url),
    ]
}

/// A message Twilio received: its Basic credentials, `To`, `From` and `Body`.
fn twilio_message(c: &Captured) -> (String, String, String, String) {
    assert_eq!(c.method, "POST");
    assert_eq!(c.path, "/2010-04-01/Accounts/ACtest/Messages.json");
    let basic = c.header("authorization");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(basic.strip_prefix("Basic ").unwrap())
        .unwrap();
    let form = c.form();
    (
        String::from_utf8(decoded).unwrap(),
        Captured::field(&form, "To"),
        Captured::field(&form, "From"),
        Captured::field(&form, "Body"),
    )
}

async fn stored_rows(app: &TestApp, namespace: &str) -> Vec<app::gateway::store::AppProvider> {
    let found = app
        .gateway
        .store()
        .find_app(namespace)
        .await
        .unwrap()
        .unwrap();
    app.gateway
        .store()
        .app_providers(found.app_id)
        .await
        .unwrap()
}

async fn an_apps_own_provider_is_sealed_tested_and_carries_its_messages(backend: Backend) {
    let mut twilio = HttpCapture::start(Reply::Status(201, r#"{"sid":"SM1"}"#.into())).await;
    let base_url = twilio.url("");
    let app = spawn_app_on(backend, "").await;
    let password = tenant(&app, "Acme", OWNER).await;
    let cookie = sign_in(&app, OWNER, &password).await;
    let (secret, token) = dashboard_app(&app, &cookie, "shop").await;

    let (status, html) = get(&app, "/dashboard/apps/shop/providers", &cookie).await;
    assert_eq!(status, 200);
    assert!(html.contains("no providers of its own"), "{html}");
    let (_, html) = get(&app, "/dashboard/apps/shop/providers?kind=twilio", &cookie).await;
    assert!(
        html.contains(r#"name="auth_token" type="password""#),
        "a secret is typed into a password field: {html}"
    );

    // Refused forms name the field and store nothing.
    let providers = "/dashboard/apps/shop/providers";
    let (status, html) = post(
        &app,
        providers,
        &cookie,
        &twilio_form(&token, &base_url, ""),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(
        role_text(&html, "provider-error"),
        "Auth token is required."
    );
    assert!(
        html.contains(r#"value="ACtest""#),
        "what was typed is kept: {html}"
    );
    let metadata = "http://169.254.169.254/latest";
    let (status, html) = post(
        &app,
        providers,
        &cookie,
        &twilio_form(&token, metadata, TOKEN),
    )
    .await;
    assert_eq!(status, 422);
    let error = role_text(&html, "provider-error");
    assert!(
        error.starts_with("API base URL ") && error.contains("may not reach"),
        "{error}"
    );
    assert!(
        !html.contains(TOKEN),
        "a refused form does not send a secret back"
    );
    let private = "http://10.1.2.3/";
    let (status, _) = post(
        &app,
        providers,
        &cookie,
        &twilio_form(&token, private, TOKEN),
    )
    .await;
    assert_eq!(
        status, 422,
        "private networks stay closed unless the operator opens them"
    );
    let mut bad_id = twilio_form(&token, &base_url, TOKEN);
    bad_id[2] = ("id", "dev_inbox");
    let (status, html) = post(&app, providers, &cookie, &bad_id).await;
    assert_eq!(status, 422);
    assert_eq!(
        role_text(&html, "provider-error"),
        "Id is a name the server keeps."
    );
    assert!(stored_rows(&app, "shop").await.is_empty());

    // Saved: the secret is sealed in the database and never shown again.
    let (status, _) = post(
        &app,
        providers,
        &cookie,
        &twilio_form(&token, &base_url, TOKEN),
    )
    .await;
    assert_eq!(status, 303);
    let rows = stored_rows(&app, "shop").await;
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(
        (row.provider_id.as_str(), row.kind.as_str()),
        ("tw", "twilio")
    );
    assert_eq!(row.fields["account_sid"], "ACtest");
    assert!(!row.fields.contains_key("auth_token"));
    assert!(
        !row.sealed
            .windows(TOKEN.len())
            .any(|w| w == TOKEN.as_bytes()),
        "the auth token is not in the row in the clear"
    );
    for page in [providers, "/dashboard/apps/shop/providers?edit=tw"] {
        let (status, html) = get(&app, page, &cookie).await;
        assert_eq!(status, 200);
        assert!(!html.contains(TOKEN), "{page} shows no secret");
        assert!(html.contains(r#"data-provider="tw""#) || page.contains("edit"));
    }
    let (_, html) = get(&app, providers, &cookie).await;
    assert_eq!(
        role_text(&html, "secrets-set"),
        "Auth token (stored, never shown)"
    );

    // A test message goes out through it now.
    let test = [
        ("csrf", token.as_str()),
        ("id", "tw"),
        ("to", "+14155550100"),
    ];
    let (status, html) = post(&app, "/dashboard/apps/shop/providers/test", &cookie, &test).await;
    assert_eq!(status, 200);
    assert_eq!(
        role_text(&html, "test-outcome"),
        "tw accepted the test message (its id: SM1)."
    );
    let (credentials, to, from, body) = twilio_message(&twilio.next().await);
    assert_eq!(credentials, format!("ACtest:{TOKEN}"));
    assert_eq!(
        (to.as_str(), from.as_str()),
        ("+14155550100", "+15005550006")
    );
    assert!(body.contains("123456"), "the sample code: {body}");

    // The app's verifications use it by its id.
    let (status, created) = start(
        &app,
        "shop",
        &secret,
        serde_json::json!({"provider": "tw", "to": "+14155550101"}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let sent = twilio.next().await;
    let sent_form = sent.form();
    let (credentials, to, _, body) = twilio_message(&sent);
    assert_eq!(credentials, format!("ACtest:{TOKEN}"));
    assert_eq!(to, "+14155550101");
    let code = support::find_code(&body, 6);
    let checked = app
        .client
        .post(app.url(&format!(
            "/v1/verifications/{}/check",
            created["id"].as_str().unwrap()
        )))
        .header("authorization", format!("Bearer shop:{secret}"))
        .json(&serde_json::json!({"code": code}))
        .send()
        .await
        .unwrap();
    let checked: serde_json::Value = checked.json().await.unwrap();
    assert_eq!(checked["status"], "verified", "{checked}");

    // Its delivery receipts come back to the app's own callback, signed with its token;
    // the server's route for a provider of that id knows nothing of them.
    let shop = app.gateway.store().find_app("shop").await.unwrap().unwrap();
    // A receipt names a message the outbox has recorded as sent (with the provider's id),
    // which it does just after the provider answered.
    let id = created["id"].as_str().unwrap();
    app.wait_for_events_of(shop.app_id, id, "sent", 1).await;
    let callback = app.url(&format!("/v1/apps/{}/providers/tw/status", shop.app_id));
    assert_eq!(Captured::field(&sent_form, "StatusCallback"), callback);
    let receipt = [
        ("AccountSid", "ACtest"),
        ("MessageSid", "SM1"),
        ("MessageStatus", "delivered"),
    ];
    let post_receipt = |url: String, token: &str| {
        app.client
            .post(url)
            .header(
                "x-twilio-signature",
                support::sign::twilio(token, &callback, &receipt),
            )
            .form(&receipt)
            .send()
    };
    let res = post_receipt(app.url("/v1/providers/tw/status"), TOKEN)
        .await
        .unwrap();
    assert_eq!(res.status(), 404, "no server provider tw");
    let res = post_receipt(callback.clone(), "not-the-token")
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = post_receipt(callback.clone(), TOKEN).await.unwrap();
    assert_eq!(res.status(), 204);
    let kinds = app.events_of(shop.app_id, id).await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "receipt").count(),
        1,
        "{kinds:?}"
    );

    // Changed with the secret left empty: the stored one is kept.
    let mut change = twilio_form(&token, &base_url, "");
    change[6] = ("from", "+15005550009");
    let (status, html) = post(&app, providers, &cookie, &change).await;
    assert_eq!(status, 303, "{html}");
    post(&app, "/dashboard/apps/shop/providers/test", &cookie, &test).await;
    let (credentials, _, from, _) = twilio_message(&twilio.next().await);
    assert_eq!(credentials, format!("ACtest:{TOKEN}"), "the token was kept");
    assert_eq!(from, "+15005550009");

    // While the app's fallbacks name it, it stays; then it goes, and the API no longer
    // knows it.
    let row = app.gateway.store().find_app("shop").await.unwrap().unwrap();
    let mut named = row.clone();
    named.settings.pages.fallbacks = vec!["tw".into()];
    app.gateway.store().update_app(&named, 0).await.unwrap();
    let remove = [("csrf", token.as_str()), ("id", "tw")];
    let delete = "/dashboard/apps/shop/providers/delete";
    let (status, html) = post(&app, delete, &cookie, &remove).await;
    assert_eq!(status, 422);
    assert!(
        role_text(&html, "provider-error").contains("named in this app"),
        "{html}"
    );
    app.gateway.store().update_app(&row, 0).await.unwrap();
    let (status, _) = post(&app, delete, &cookie, &remove).await;
    assert_eq!(status, 303);
    assert!(stored_rows(&app, "shop").await.is_empty());
    let (status, refused) = start(
        &app,
        "shop",
        &secret,
        serde_json::json!({"provider": "tw", "to": "+14155550101"}),
    )
    .await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["message"], "unknown provider", "{refused}");

    // Every change is in the audit log, no secret with it.
    let (_, audit) = get(&app, "/dashboard/audit", &cookie).await;
    for action in ["provider_saved", "provider_tested", "provider_deleted"] {
        assert!(
            audit.contains(&format!(r#"data-action="{action}""#)),
            "{action}"
        );
    }
    assert!(!audit.contains(TOKEN));
    assert!(
        audit.contains("auth_token"),
        "the changed keys are named: {audit}"
    );
}

async fn providers_are_changed_only_by_their_tenants_managers(backend: Backend) {
    let twilio = HttpCapture::start(Reply::Status(201, "{}".into())).await;
    let base_url = twilio.url("");
    let app = spawn_app_on(backend, "").await;
    let password = tenant(&app, "Acme", OWNER).await;
    let cookie = sign_in(&app, OWNER, &password).await;
    let (_, token) = dashboard_app(&app, &cookie, "shop").await;
    let providers = "/dashboard/apps/shop/providers";
    let (status, _) = post(
        &app,
        providers,
        &cookie,
        &twilio_form(&token, &base_url, TOKEN),
    )
    .await;
    assert_eq!(status, 303);

    // A viewer of the same tenant reads the list, has no forms, and is refused.
    let viewer = viewer_of(&app, &cookie).await;
    let (status, html) = get(&app, providers, &viewer).await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"data-provider="tw""#));
    assert!(!html.contains(r#"action="/dashboard/apps/shop/providers/test""#));
    let viewer_token = csrf(&get(&app, "/dashboard", &viewer).await.1);
    let mut form = twilio_form(&viewer_token, &base_url, "other-token");
    form[6] = ("from", "+15005550001");
    let (status, _) = post(&app, providers, &viewer, &form).await;
    assert_eq!(status, 403);
    let remove = [("csrf", viewer_token.as_str()), ("id", "tw")];
    let (status, _) = post(
        &app,
        "/dashboard/apps/shop/providers/delete",
        &viewer,
        &remove,
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(
        stored_rows(&app, "shop").await[0].fields["from"],
        "+15005550006"
    );

    // Another tenant's member finds nothing, by page or by form.
    let other_password = tenant(&app, "Rival", "rival@rival.example").await;
    let rival = sign_in(&app, "rival@rival.example", &other_password).await;
    let rival_token = csrf(&get(&app, "/dashboard", &rival).await.1);
    for page in [providers, "/dashboard/apps/shop/providers?edit=tw"] {
        assert_eq!(get(&app, page, &rival).await.0, 404, "{page}");
    }
    let test = [
        ("csrf", rival_token.as_str()),
        ("id", "tw"),
        ("to", "+14155550100"),
    ];
    for (path, form) in [
        (providers, twilio_form(&rival_token, &base_url, "x")),
        ("/dashboard/apps/shop/providers/test", test.to_vec()),
        ("/dashboard/apps/shop/providers/delete", test[..2].to_vec()),
    ] {
        assert_eq!(post(&app, path, &rival, &form).await.0, 404, "{path}");
    }
    assert_eq!(stored_rows(&app, "shop").await.len(), 1);
}

async fn a_dev_inbox_provider_keeps_the_apps_messages(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    let password = tenant(&app, "Acme", OWNER).await;
    let cookie = sign_in(&app, OWNER, &password).await;
    let (secret, token) = dashboard_app(&app, &cookie, "shop").await;
    let form = [
        ("csrf", token.as_str()),
        ("kind", "console"),
        ("id", "inbox"),
        ("channel", "email"),
    ];
    let (status, _) = post(&app, "/dashboard/apps/shop/providers", &cookie, &form).await;
    assert_eq!(status, 303);
    let (status, created) = start(
        &app,
        "shop",
        &secret,
        serde_json::json!({"provider": "inbox", "to": "kept@example.com"}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let kept = inbox_holding(&app, &cookie, "kept@example.com").await;
    assert!(
        kept.contains(r#"data-inbox-to="kept@example.com""#),
        "{kept}"
    );
}

on_both_backends!(
    an_apps_own_provider_is_sealed_tested_and_carries_its_messages,
    providers_are_changed_only_by_their_tenants_managers,
    a_dev_inbox_provider_keeps_the_apps_messages,
);
