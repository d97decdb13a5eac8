//! The hourly upkeep's counters: rate buckets whose window is over, records of used
//! tokens that expired, and idempotent answers past a day are deleted; nothing that still
//! counts is.

mod support;

use app::gateway::retention::{CountersPurged, IDEMPOTENCY_KEPT_MS};
use serde_json::json;
use support::{spawn_app_on, Backend, TestApp, NAMESPACE, SECRET};

const HOUR_MS: i64 = 3_600_000;

/// Rows in `table`.
async fn rows(app: &TestApp, table: &str) -> i64 {
    let n = app
        .sql_strings(&format!("SELECT CAST(COUNT(*) AS TEXT) FROM {table}"))
        .await;
    n[0].parse().unwrap()
}

/// Rows in the three tables: rate buckets, used tokens, idempotent answers.
async fn counters(app: &TestApp) -> (i64, i64, i64) {
    (
        rows(app, "rate_bucket").await,
        rows(app, "token_use").await,
        rows(app, "idempotency_key").await,
    )
}

fn purged(buckets: i64, tokens: i64, answers: i64) -> CountersPurged {
    let n = |v: i64| u64::try_from(v).unwrap();
    CountersPurged {
        buckets: n(buckets),
        tokens: n(tokens),
        answers: n(answers),
    }
}

/// A create with an `Idempotency-Key`, a wrong and a right code, the token confirmed:
/// each table holds rows. They go only once they count no more: the token's record an
/// hour after it expired, the answer after a day, the buckets a day and an hour after
/// their windows (of an hour at most) began; before then, a purge deletes nothing.
async fn counters_go_once_they_count_no_more(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    let body =
        json!({"id": "u-1", "provider": "console", "to": "u1@example.com", "code": "123456"});
    let post = |key: &'static str| {
        let app = &app;
        let body = body.clone();
        async move {
            let res = app
                .client
                .post(app.url("/v1/verifications"))
                .header("authorization", format!("Bearer {NAMESPACE}:{SECRET}"))
                .header("idempotency-key", key)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            (status, res.json::<serde_json::Value>().await.unwrap())
        }
    };
    let (status, first) = post("k-1").await;
    assert_eq!(status, 201, "{first}");
    let (_, wrong) = app
        .v1_post("/v1/verifications/u-1/check", json!({"code": "000000"}))
        .await;
    assert_eq!(wrong["reason"], "incorrect_code");
    let (_, right) = app
        .v1_post("/v1/verifications/u-1/check", json!({"code": "123456"}))
        .await;
    let token = right["verification_token"].as_str().unwrap().to_owned();
    let (status, confirmed) = app
        .v1_post("/v1/tokens/confirm", json!({"token": token}))
        .await;
    assert_eq!(
        (status, confirmed["confirmed"].as_bool()),
        (200, Some(true))
    );

    let (buckets, tokens, answers) = counters(&app).await;
    assert!(
        buckets >= 3,
        "the create's and the checks' buckets: {buckets}"
    );
    assert_eq!((tokens, answers), (1, 1));
    let gw = &app.gateway;
    assert_eq!(gw.purge_counters().await.unwrap(), purged(0, 0, 0));
    assert_eq!(
        counters(&app).await,
        (buckets, 1, 1),
        "all of it still counts"
    );

    // Two hours on, the token has long expired: its record goes. The answer is still
    // replayed, and the used token is still refused.
    app.clock.advance_ms(2 * HOUR_MS);
    assert_eq!(gw.purge_counters().await.unwrap(), purged(0, 1, 0));
    let (status, replayed) = post("k-1").await;
    assert_eq!(
        (status, &replayed),
        (201, &first),
        "the first answer, replayed"
    );
    let (status, again) = app
        .v1_post("/v1/tokens/confirm", json!({"token": token}))
        .await;
    assert_eq!(
        (status, again["error"]["code"].as_str()),
        (422, Some("invalid_token")),
        "an expired token is refused without its record: {again}"
    );

    // A day and a minute after the create: the answer goes, the buckets not yet.
    app.clock
        .advance_ms(IDEMPOTENCY_KEPT_MS - 2 * HOUR_MS + 60_000);
    assert_eq!(gw.purge_counters().await.unwrap(), purged(0, 0, 1));
    assert_eq!(counters(&app).await, (buckets, 0, 0));

    // A day, an hour and two minutes after: every bucket goes.
    app.clock.advance_ms(HOUR_MS + 60_000);
    assert_eq!(gw.purge_counters().await.unwrap(), purged(buckets, 0, 0));
    assert_eq!(counters(&app).await, (0, 0, 0));

    // New hits make new buckets, which the next purge leaves alone.
    let (status, _) = post("k-2").await;
    assert_eq!(status, 201);
    let fresh = rows(&app, "rate_bucket").await;
    assert!(fresh >= 2, "{fresh}");
    assert_eq!(gw.purge_counters().await.unwrap(), purged(0, 0, 0));
    assert_eq!(counters(&app).await, (fresh, 0, 1));
}

#[tokio::test]
async fn counters_go_once_they_count_no_more_on_sqlite() {
    counters_go_once_they_count_no_more(Backend::Sqlite).await;
}

#[tokio::test]
async fn counters_go_once_they_count_no_more_on_postgres() {
    counters_go_once_they_count_no_more(Backend::Postgres).await;
}

/// 2,500 buckets, every third still in its window, the rest a month old, read a page of
/// 1,000 keys at a time: exactly the old ones go, whichever page they were on.
async fn buckets_go_a_page_at_a_time(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    let now = app.gateway.now_ms();
    let old = now - 30 * 24 * HOUR_MS;
    app.sql(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2500) \
         INSERT INTO rate_bucket (bucket_key, window_start, hits) \
         SELECT 'page:' || (100000 + i), CASE WHEN i % 3 = 0 THEN {now} ELSE {old} END, 1 \
         FROM n"
    ))
    .await;
    assert_eq!(rows(&app, "rate_bucket").await, 2500);

    assert_eq!(
        app.gateway.purge_counters().await.unwrap(),
        purged(2500 - 833, 0, 0)
    );
    let kept = app
        .sql_strings("SELECT bucket_key FROM rate_bucket ORDER BY bucket_key")
        .await;
    let expected: Vec<String> = (1..=2500)
        .filter(|i| i % 3 == 0)
        .map(|i| format!("page:{}", 100_000 + i))
        .collect();
    assert_eq!(kept, expected);
}

#[tokio::test]
async fn buckets_go_a_page_at_a_time_on_sqlite() {
    buckets_go_a_page_at_a_time(Backend::Sqlite).await;
}

#[tokio::test]
async fn buckets_go_a_page_at_a_time_on_postgres() {
    buckets_go_a_page_at_a_time(Backend::Postgres).await;
}
