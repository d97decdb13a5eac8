//! An app's event webhooks from the dashboard, over real HTTP on SQLite and PostgreSQL: an
//! endpoint on loopback receives each event it asked for, signed with Standard Webhooks
//! under the secret shown once, retried with the same id after a failure, replayed on
//! demand; the log shows each answer; other tenants find nothing.

mod support;

use app::gateway::delivery::verify_signed_request;
use base64::Engine;
use support::{
    dashboard::{
        csrf, dashboard_app, get, get_until, post, role_text, sign_in, start, tenant, viewer_of,
        OWNER,
    },
    http::{Captured, HttpCapture, Reply},
    spawn_app_on, Backend, TestApp,
};

/// A posted event: checked against `key` at the app's time, its id and parsed body.
fn event(app: &TestApp, key: &[u8], c: &Captured) -> (String, serde_json::Value) {
    assert_eq!((c.method.as_str(), c.path.as_str()), ("POST", "/hooks"));
    assert_eq!(c.header("content-type"), "application/json");
    verify_signed_request(key, &c.headers, &c.body, app.gateway.now_ms() / 1000)
        .expect("the Standard Webhooks signature verifies under the secret shown");
    (
        c.header("webhook-id"),
        serde_json::from_slice(&c.body).unwrap(),
    )
}

fn key_of(secret: &str) -> Vec<u8> {
    let encoded = secret.strip_prefix("whsec_").expect("a whsec_ secret");
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap()
}

async fn log_of(app: &TestApp, cookie: &str) -> String {
    get(app, "/dashboard/apps/shop/webhooks", cookie).await.1
}

async fn events_reach_the_endpoint_signed_retried_and_replayed(backend: Backend) {
    let mut hook = HttpCapture::start(Reply::Status(200, "ok".into())).await;
    hook.script([Reply::Status(500, "down for a moment".into())]);
    let app = spawn_app_on(backend, "").await;
    let password = tenant(&app, "Acme", OWNER).await;
    let cookie = sign_in(&app, OWNER, &password).await;
    let (secret, token) = dashboard_app(&app, &cookie, "shop").await;
    let page = "/dashboard/apps/shop/webhooks";
    assert!(log_of(&app, &cookie).await.contains("No endpoints yet."));

    // Refused: a network the server may not reach, no events.
    let metadata = [
        ("csrf", token.as_str()),
        ("url", "http://169.254.169.254/latest"),
        ("event_sent", "on"),
    ];
    let (status, html) = post(&app, page, &cookie, &metadata).await;
    assert_eq!(status, 422);
    assert_eq!(
        role_text(&html, "webhook-error"),
        "The URL points at 169.254.169.254, a network this server may not reach."
    );
    let url = hook.url("/hooks");
    let (status, html) = post(&app, page, &cookie, &[("csrf", &token), ("url", &url)]).await;
    assert_eq!(status, 422);
    assert_eq!(
        role_text(&html, "webhook-error"),
        "The events must name at least one."
    );
    assert!(
        html.contains(&format!(r#"value="{url}""#)),
        "the URL typed is kept"
    );

    // Added: the secret shows once and is sealed in the database.
    let form = [
        ("csrf", token.as_str()),
        ("url", url.as_str()),
        ("event_sent", "on"),
        ("event_verified", "on"),
    ];
    let (status, html) = post(&app, page, &cookie, &form).await;
    assert_eq!(status, 200);
    let shown = role_text(&html, "webhook-secret");
    let key = key_of(&shown);
    assert_eq!(key.len(), 32);
    let shop = app.gateway.store().find_app("shop").await.unwrap().unwrap();
    let endpoints = app.gateway.store().app_webhooks(shop.app_id).await.unwrap();
    assert_eq!(endpoints.len(), 1);
    assert_eq!(endpoints[0].events, ["sent", "verified"]);
    assert!(!endpoints[0].sealed.windows(32).any(|w| w == key.as_slice()));
    assert!(!log_of(&app, &cookie).await.contains(&shown), "shown once");

    // A verification: `created` was not asked for; `sent` fails once, then arrives with
    // the same id and body.
    let (status, created) = start(
        &app,
        "shop",
        &secret,
        serde_json::json!({"id": "hooked-1", "provider": "console", "to": "alice@example.com", "code": "424242"}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let first = hook.next().await;
    let (id, body) = event(&app, &key, &first);
    assert_eq!(body["type"], "verification.sent");
    assert_eq!(body["data"]["id"], "hooked-1");
    assert_eq!(body["data"]["namespace"], "shop");
    assert_eq!(body["data"]["provider"], "console");
    assert!(
        !body.to_string().contains("a@example.com"),
        "the address is masked: {body}"
    );
    let answered = |log: &str| log.contains("answered 500: down for a moment");
    let log = get_until(&app, page, &cookie, answered).await;
    assert!(log.contains("answered 500: down for a moment"), "{log}");
    assert!(
        hook.drain(std::time::Duration::from_millis(300))
            .await
            .is_empty(),
        "not before 5 s"
    );
    app.clock.advance_ms(6_000);
    let second = hook.next().await;
    let (again, body_again) = event(&app, &key, &second);
    assert_eq!((again.as_str(), &body_again), (id.as_str(), &body));

    // Verified: its own event; never the code.
    let checked = app
        .client
        .post(app.url("/v1/verifications/hooked-1/check"))
        .header("authorization", format!("Bearer shop:{secret}"))
        .json(&serde_json::json!({"code": "424242"}))
        .send()
        .await
        .unwrap();
    assert_eq!(checked.status(), 200);
    let verified = hook.next().await;
    let (verified_id, body) = event(&app, &key, &verified);
    assert_eq!(body["type"], "verification.verified");
    assert_ne!(verified_id, id);
    assert!(!String::from_utf8_lossy(&verified.body).contains("424242"));
    assert!(!String::from_utf8_lossy(&first.body).contains("424242"));

    // The log shows the answers; a delivered message is replayed with its id and body.
    let delivered = |log: &str| log.matches(r#"data-status="delivered""#).count() == 2;
    let log = get_until(&app, page, &cookie, delivered).await;
    assert_eq!(
        log.matches(r#"data-status="delivered""#).count(),
        2,
        "{log}"
    );
    let (_, timeline) = get(
        &app,
        "/dashboard/apps/shop/verifications?id=hooked-1",
        &cookie,
    )
    .await;
    assert!(
        timeline.contains(r#"data-timeline="webhook""#),
        "{timeline}"
    );
    assert!(timeline.contains("event: verification.sent"), "{timeline}");
    let message = id.strip_prefix("msg_").unwrap();
    assert!(
        log.contains(&format!(
            r#"data-message="{message}" data-status="delivered""#
        )),
        "{log}"
    );
    let replay = [("csrf", token.as_str()), ("id", message)];
    let (status, _) = post(
        &app,
        "/dashboard/apps/shop/webhooks/replay",
        &cookie,
        &replay,
    )
    .await;
    assert_eq!(status, 303);
    let replayed = hook.next().await;
    let (replayed_id, replayed_body) = event(&app, &key, &replayed);
    assert_eq!(
        (replayed_id, replayed_body["type"].clone()),
        (id.clone(), "verification.sent".into())
    );

    // Audited, never with the secret; removed, nothing more is posted.
    let (_, audit) = get(&app, "/dashboard/audit", &cookie).await;
    for action in ["webhook_added", "webhook_replayed"] {
        assert!(
            audit.contains(&format!(r#"data-action="{action}""#)),
            "{action}"
        );
    }
    assert!(!audit.contains(&shown));
    let endpoint = endpoints[0].webhook_id.to_string();
    let remove = [("csrf", token.as_str()), ("id", endpoint.as_str())];
    let (status, _) = post(
        &app,
        "/dashboard/apps/shop/webhooks/remove",
        &cookie,
        &remove,
    )
    .await;
    assert_eq!(status, 303);
    assert!(app
        .gateway
        .store()
        .app_webhooks(shop.app_id)
        .await
        .unwrap()
        .is_empty());
    let (status, _) = start(
        &app,
        "shop",
        &secret,
        serde_json::json!({"provider": "console", "to": "b@example.com"}),
    )
    .await;
    assert_eq!(status, 201);
    assert!(hook
        .drain(std::time::Duration::from_millis(500))
        .await
        .is_empty());
}

async fn webhooks_are_changed_only_by_their_tenants_managers(backend: Backend) {
    let hook = HttpCapture::start(Reply::Status(200, "ok".into())).await;
    let url = hook.url("/hooks");
    let app = spawn_app_on(backend, "").await;
    let password = tenant(&app, "Acme", OWNER).await;
    let cookie = sign_in(&app, OWNER, &password).await;
    let (_, token) = dashboard_app(&app, &cookie, "shop").await;
    let page = "/dashboard/apps/shop/webhooks";
    let form = [
        ("csrf", token.as_str()),
        ("url", url.as_str()),
        ("event_sent", "on"),
    ];
    assert_eq!(post(&app, page, &cookie, &form).await.0, 200);
    let shop = app.gateway.store().find_app("shop").await.unwrap().unwrap();
    let endpoint = app.gateway.store().app_webhooks(shop.app_id).await.unwrap()[0]
        .webhook_id
        .to_string();

    let viewer = viewer_of(&app, &cookie).await;
    let (status, html) = get(&app, page, &viewer).await;
    assert_eq!(status, 200);
    assert!(html.contains(&format!(r#"data-endpoint="{url}""#)));
    assert!(!html.contains("Add endpoint"));
    let viewer_token = csrf(&get(&app, "/dashboard", &viewer).await.1);
    let add = [
        ("csrf", viewer_token.as_str()),
        ("url", url.as_str()),
        ("event_sent", "on"),
    ];
    assert_eq!(post(&app, page, &viewer, &add).await.0, 403);
    let remove = [("csrf", viewer_token.as_str()), ("id", endpoint.as_str())];
    assert_eq!(
        post(&app, &format!("{page}/remove"), &viewer, &remove)
            .await
            .0,
        403
    );

    let rival_password = tenant(&app, "Rival", "rival@rival.example").await;
    let rival = sign_in(&app, "rival@rival.example", &rival_password).await;
    let rival_token = csrf(&get(&app, "/dashboard", &rival).await.1);
    assert_eq!(get(&app, page, &rival).await.0, 404);
    let add = [
        ("csrf", rival_token.as_str()),
        ("url", url.as_str()),
        ("event_sent", "on"),
    ];
    assert_eq!(post(&app, page, &rival, &add).await.0, 404);
    let one = [("csrf", rival_token.as_str()), ("id", endpoint.as_str())];
    for path in [format!("{page}/remove"), format!("{page}/replay")] {
        assert_eq!(post(&app, &path, &rival, &one).await.0, 404, "{path}");
    }
    assert_eq!(
        app.gateway
            .store()
            .app_webhooks(shop.app_id)
            .await
            .unwrap()
            .len(),
        1
    );
}

on_both_backends!(
    events_reach_the_endpoint_signed_retried_and_replayed,
    webhooks_are_changed_only_by_their_tenants_managers,
);
