//! One verification's timeline in the dashboard, over real HTTP on SQLite and PostgreSQL:
//! every event in order, the address masked, never the code, and only for the app's tenant.

mod support;

use support::{
    dashboard::{dashboard_app, get, get_until, sign_in, start, tenant, viewer_of, OWNER},
    spawn_app_on, Backend,
};

async fn a_verifications_timeline_shows_its_events_in_order(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    let password = tenant(&app, "Acme", OWNER).await;
    let cookie = sign_in(&app, OWNER, &password).await;
    let (secret, _) = dashboard_app(&app, &cookie, "shop").await;
    let body = serde_json::json!({
        "id": "tl-1", "provider": "console", "to": "alice@example.com", "code": "424242",
    });
    let (status, created) = start(&app, "shop", &secret, body).await;
    assert_eq!(status, 201, "{created}");
    let page = "/dashboard/apps/shop/verifications?id=tl-1";
    get_until(&app, page, &cookie, |p| {
        p.contains(r#"data-timeline="sent""#)
    })
    .await;
    for code in ["000000", "424242"] {
        let res = app
            .client
            .post(app.url("/v1/verifications/tl-1/check"))
            .header("authorization", format!("Bearer shop:{secret}"))
            .json(&serde_json::json!({"code": code}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }

    let (status, html) = get(&app, page, &cookie).await;
    assert_eq!(status, 200);
    let at = |what: &str| {
        html.find(&format!(r#"data-timeline="{what}""#))
            .unwrap_or_else(|| panic!("{what} in {html}"))
    };
    assert!(
        at("created") < at("sent") && at("sent") < at("attempt") && at("attempt") < at("verified")
    );
    assert!(html.contains("al***@example.com"), "masked");
    assert!(!html.contains("alice@"), "never the whole address");
    assert!(!html.contains("424242"), "never the code");
    assert!(
        html.contains("provider: console"),
        "the send's detail: {html}"
    );

    // Unknown ids, other tenants: not found; a viewer of the same tenant reads it.
    assert_eq!(
        get(&app, "/dashboard/apps/shop/verifications?id=nope", &cookie)
            .await
            .0,
        404
    );
    let rival_password = tenant(&app, "Rival", "rival@rival.example").await;
    let rival = sign_in(&app, "rival@rival.example", &rival_password).await;
    assert_eq!(get(&app, page, &rival).await.0, 404);
    let viewer = viewer_of(&app, &cookie).await;
    assert_eq!(get(&app, page, &viewer).await.0, 200);
}

on_both_backends!(a_verifications_timeline_shows_its_events_in_order);
