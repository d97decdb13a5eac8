//! An app's history in the dashboard, over real HTTP on SQLite and PostgreSQL: newest
//! first, filtered, found by id, by full address and by masked address (never shown
//! whole), exported as CSV
//! with the same filters and masking, and only to the app's tenant. Keyset pages are
//! proved below on the engine: they neither skip nor repeat rows while new ones arrive.

mod support;

use app::{
    gateway::{
        clock::ManualClock,
        store::{PostgresStore, SqliteStore, Store},
        tenants::history::Cursor,
        CreateRequest,
    },
    model::{Namespace, VerificationId},
};
use std::{collections::HashSet, sync::Arc};
use support::{
    console_gateway,
    dashboard::{dashboard_app, get, sign_in, start, tenant, viewer_of, OWNER},
    drop_postgres_database, fresh_postgres_database, spawn_app_on, Backend,
};

/// The ids of the history rows of a page, top to bottom.
fn listed(html: &str) -> Vec<String> {
    html.match_indices(r#"data-history=""#)
        .map(|(at, m)| {
            let rest = &html[at + m.len()..];
            rest[..rest.find('"').unwrap()].to_owned()
        })
        .collect()
}

async fn history_lists_filters_finds_and_exports(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    let password = tenant(&app, "Acme", OWNER).await;
    let cookie = sign_in(&app, OWNER, &password).await;
    let (secret, _) = dashboard_app(&app, &cookie, "shop").await;
    for i in 0..6 {
        let body = serde_json::json!({
            "id": format!("h-{i}"), "provider": "console", "to": format!("user{i}@example.com"),
            "code": "424242",
        });
        assert_eq!(start(&app, "shop", &secret, body).await.0, 201);
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    let res = app
        .client
        .post(app.url("/v1/verifications/h-2/check"))
        .header("authorization", format!("Bearer shop:{secret}"))
        .json(&serde_json::json!({"code": "424242"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let (status, html) = get(&app, "/dashboard/apps/shop/history", &cookie).await;
    assert_eq!(status, 200);
    assert_eq!(listed(&html), ["h-5", "h-4", "h-3", "h-2", "h-1", "h-0"]);
    assert!(html.contains("us***@example.com"), "masked");
    assert!(!html.contains("user3@example.com"), "never a whole address");
    assert!(html.contains(r#"href="/dashboard/apps/shop/verifications?id=h-3""#));

    let only = |query: &'static str| {
        let app = &app;
        let cookie = &cookie;
        async move {
            let (status, html) = get(
                app,
                &format!("/dashboard/apps/shop/history?{query}"),
                cookie,
            )
            .await;
            assert_eq!(status, 200, "{query}: {html}");
            listed(&html)
        }
    };
    assert_eq!(only("status=verified").await, ["h-2"]);
    assert_eq!(only("status=pending&channel=other").await.len(), 5);
    assert_eq!(only("provider=twilio").await, Vec::<String>::new());
    assert_eq!(only("q=h-4").await, ["h-4"]);
    assert_eq!(
        only("q=user1%40example.com").await,
        ["h-1"],
        "by full address"
    );
    assert_eq!(only("q=nobody%40example.com").await, Vec::<String>::new());
    // By the address as the page shows it: every address with that mask, case and
    // length exact.
    assert_eq!(
        only("q=us***%40example.com").await,
        ["h-5", "h-4", "h-3", "h-2", "h-1", "h-0"],
        "by masked address"
    );
    assert_eq!(only("q=us***%40example.com&status=verified").await, ["h-2"]);
    assert_eq!(only("q=us****%40example.com").await, Vec::<String>::new());
    assert_eq!(only("q=US***%40example.com").await, Vec::<String>::new());
    assert_eq!(only("q=us***%40example.org").await, Vec::<String>::new());
    let (status, refused) = get(
        &app,
        "/dashboard/apps/shop/history?q=u****%40example.com",
        &cookie,
    )
    .await;
    assert_eq!(status, 422, "not a mask the history shows");
    assert!(
        refused.contains("is not an address as the history shows it"),
        "{refused}"
    );
    assert_eq!(
        only("from=2020-01-01&to=2020-12-31").await,
        Vec::<String>::new()
    );
    assert_eq!(only("from=2020-01-01").await.len(), 6);

    let (status, refused) = get(&app, "/dashboard/apps/shop/history?status=gone", &cookie).await;
    assert_eq!(status, 422);
    assert!(refused.contains("The status is not one of the statuses."));
    let (status, _) = get(
        &app,
        "/dashboard/apps/shop/history?before=nonsense",
        &cookie,
    )
    .await;
    assert_eq!(status, 422);

    // The export: the same rows and masking, as an attachment.
    let res = app
        .client
        .get(app.url("/dashboard/apps/shop/history.csv?status=pending"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("shop-verifications.csv"));
    let csv = res.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "id,started_utc,status,channel,provider,to,wrong_codes,sends,last_change_utc"
    );
    assert_eq!(lines.len(), 6, "a header and five pending: {csv}");
    assert!(lines[1].starts_with("h-5,"));
    assert!(lines[1].contains(",pending,other,console,us***@example.com,0,1,"));
    assert!(!csv.contains("user"), "never a whole address");
    let res = app
        .client
        .get(app.url("/dashboard/apps/shop/history.csv?channel=fax"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);

    // Other tenants see none of it; a viewer of the team reads it.
    let rival_password = tenant(&app, "Rival", "rival@rival.example").await;
    let rival = sign_in(&app, "rival@rival.example", &rival_password).await;
    assert_eq!(
        get(&app, "/dashboard/apps/shop/history", &rival).await.0,
        404
    );
    assert_eq!(
        get(&app, "/dashboard/apps/shop/history.csv", &rival)
            .await
            .0,
        404
    );
    let viewer = viewer_of(&app, &cookie).await;
    assert_eq!(
        listed(&get(&app, "/dashboard/apps/shop/history", &viewer).await.1).len(),
        6
    );
}

on_both_backends!(history_lists_filters_finds_and_exports);

/// Pages of three, read while more verifications arrive (some in the same millisecond as
/// others): every row that existed when the first page was read shows up exactly once,
/// newest first, and nothing newer leaks into later pages.
async fn keyset_pages_neither_skip_nor_repeat(store: Arc<dyn Store>) {
    let clock = Arc::new(ManualClock::default());
    let gw = console_gateway(store, clock.clone());
    let (app, _) = gw
        .create_app(&Namespace::parse("pages").unwrap(), "Pages", None)
        .await
        .unwrap();
    let create = |i: usize| {
        let gw = &gw;
        let app = &app;
        async move {
            let target = gw.target(app, "console", "p@example.com").await.unwrap();
            let id = VerificationId::parse(&format!("p-{i:03}")).unwrap();
            gw.create(
                app,
                CreateRequest {
                    id: Some(id),
                    ..CreateRequest::new(target)
                },
            )
            .await
            .unwrap();
        }
    };
    for i in 0..20 {
        create(i).await;
        if i % 3 == 0 {
            clock.advance_ms(1); // others share a millisecond: the id breaks the tie
        }
    }
    let query = app::gateway::store::HistoryQuery {
        app_ids: vec![app.app_id],
        limit: 3,
        ..Default::default()
    };
    let mut seen: Vec<(i64, i64, String)> = Vec::new();
    let mut before: Option<Cursor> = None;
    let mut more = 100;
    loop {
        let page = gw.history_page(&query, before).await.unwrap();
        seen.extend(
            page.rows
                .iter()
                .map(|r| (r.created_at, r.verification_id, r.public_id.clone())),
        );
        // New ones arrive between pages.
        create(more).await;
        more += 1;
        match page.next {
            Some(next) => before = Some(next),
            None => break,
        }
    }
    let ids: Vec<&str> = seen.iter().map(|(_, _, id)| id.as_str()).collect();
    let unique: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "a row repeated: {ids:?}");
    let expected: HashSet<String> = (0..20).map(|i| format!("p-{i:03}")).collect();
    let got: HashSet<String> = ids.iter().map(|s| s.to_string()).collect();
    assert_eq!(got, expected, "rows skipped, or newer ones leaked in");
    assert!(
        seen.windows(2).all(|w| (w[0].0, w[0].1) > (w[1].0, w[1].1)),
        "newest first: {seen:?}"
    );
}

#[tokio::test]
async fn keyset_pages_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("pages.db").display());
    keyset_pages_neither_skip_nor_repeat(Arc::new(SqliteStore::connect(&url).await.unwrap())).await;
}

#[tokio::test]
async fn keyset_pages_on_postgres() {
    let (url, name) = fresh_postgres_database().await;
    keyset_pages_neither_skip_nor_repeat(Arc::new(PostgresStore::connect(&url).await.unwrap()))
        .await;
    drop_postgres_database(name);
}
