//! The stats pages over real HTTP on SQLite and PostgreSQL: verifications started, sent
//! and checked through the API show up in the app's and the team's charts, funnel and
//! provider table with the right numbers; ranges are read and refused; other tenants see
//! nothing.

mod support;

use support::{
    dashboard::{dashboard_app, get, get_until, sign_in, start, tenant, viewer_of, OWNER},
    spawn_app_on, Backend,
};

/// The text of the element whose attributes include `attribute` (`data-figure="Started"`).
fn text_of(html: &str, attribute: &str) -> String {
    let at = html
        .find(attribute)
        .unwrap_or_else(|| panic!("{attribute} in {html}"));
    let rest = &html[at..];
    let open = rest.find('>').unwrap() + 1;
    rest[open..].split('<').next().unwrap().to_owned()
}

fn figure(html: &str, label: &str) -> String {
    text_of(html, &format!(r#"data-figure="{label}""#))
}

/// The sum of the `data-value`s of the volume chart's bars of `series`.
fn bars_of(html: &str, series: &str) -> i64 {
    let marker = format!(r#"data-series="{series}" data-value=""#);
    html.match_indices(&marker)
        .map(|(at, _)| {
            let rest = &html[at + marker.len()..];
            rest[..rest.find('"').unwrap()].parse::<i64>().unwrap()
        })
        .sum()
}

async fn stats_count_what_happened(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    let password = tenant(&app, "Acme", OWNER).await;
    let cookie = sign_in(&app, OWNER, &password).await;
    let (secret, _) = dashboard_app(&app, &cookie, "shop").await;
    let (other_secret, _) = dashboard_app(&app, &cookie, "blog").await;
    for i in 0..5 {
        let body = serde_json::json!({
            "id": format!("st-{i}"), "provider": "console", "to": format!("user{i}@example.com"),
            "code": "424242",
        });
        let (status, created) = start(&app, "shop", &secret, body).await;
        assert_eq!(status, 201, "{created}");
    }
    let body = serde_json::json!({"id": "b-1", "provider": "console", "to": "b@example.com"});
    assert_eq!(start(&app, "blog", &other_secret, body).await.0, 201);
    // Two verified (one after a wrong code), one locked out by five wrong codes.
    let check = |id: &'static str, code: &'static str| {
        let app = &app;
        let secret = &secret;
        async move {
            let res = app
                .client
                .post(app.url(&format!("/v1/verifications/{id}/check")))
                .header("authorization", format!("Bearer shop:{secret}"))
                .json(&serde_json::json!({"code": code}))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
        }
    };
    check("st-0", "424242").await;
    check("st-1", "000000").await;
    check("st-1", "424242").await;
    for _ in 0..5 {
        check("st-2", "000000").await;
    }

    let page = "/dashboard/apps/shop/stats?range=24h";
    let html = get_until(&app, page, &cookie, |p| {
        p.contains(r#"data-col="sent""#) && text_of(p, r#"data-col="sent""#) == "5"
    })
    .await;
    assert_eq!(figure(&html, "Started"), "5");
    assert_eq!(figure(&html, "Verification rate"), "40%");
    assert_eq!(figure(&html, "Locked"), "1");
    assert_eq!(
        figure(&html, "Wrong codes"),
        "6",
        "five before the lock, and one"
    );
    assert_eq!(
        bars_of(&html, "other"),
        5,
        "the volume chart's bars: {html}"
    );
    assert!(html.contains(r#"role="img" aria-labelledby="volume-title volume-desc""#));
    assert!(html.contains("<desc id=\"volume-desc\">5 verifications started"));
    assert!(
        html.contains(r#"data-label="Verified" data-value="2""#),
        "funnel: {html}"
    );
    assert!(
        html.contains(r#"data-label="1 wrong code" data-value="1""#),
        "tries"
    );
    assert!(!html.contains("424242"), "never a code");

    // The team's page adds the other app's verification.
    let (status, team) = get(&app, "/dashboard/stats?range=7d", &cookie).await;
    assert_eq!(status, 200);
    assert_eq!(figure(&team, "Started"), "6");
    assert!(team.contains("Acme: all apps"));

    // Dates: a range in the past holds nothing; a bad one is refused and says why.
    let (status, past) = get(
        &app,
        "/dashboard/apps/shop/stats?range=custom&from=2020-01-01&to=2020-01-31",
        &cookie,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(figure(&past, "Started"), "0");
    assert!(past.contains("2020-01-01 00:00 to 2020-02-01 00:00 UTC"));
    let (status, refused) = get(
        &app,
        "/dashboard/apps/shop/stats?range=custom&from=2020-02-01&to=2020-01-01",
        &cookie,
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        refused.contains("The to must not be before the start."),
        "{refused}"
    );
    assert_eq!(
        get(&app, "/dashboard/apps/shop/stats?range=1y", &cookie)
            .await
            .0,
        422
    );

    // Other tenants see none of it; a viewer of the team reads it.
    let rival_password = tenant(&app, "Rival", "rival@rival.example").await;
    let rival = sign_in(&app, "rival@rival.example", &rival_password).await;
    assert_eq!(get(&app, page, &rival).await.0, 404);
    let (_, theirs) = get(&app, "/dashboard/stats", &rival).await;
    assert_eq!(figure(&theirs, "Started"), "0");
    let viewer = viewer_of(&app, &cookie).await;
    assert_eq!(get(&app, page, &viewer).await.0, 200);
    assert_eq!(
        get(&app, page, "").await.0,
        303,
        "signed out: to the sign-in page"
    );
}

on_both_backends!(stats_count_what_happened);
