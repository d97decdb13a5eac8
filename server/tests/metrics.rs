//! `/metrics` after a known workload: the exact counts of what happened, in a text that
//! parses as Prometheus' exposition format; and the bearer token when one is set. The only
//! test of its binary, so the process-wide counters hold this workload alone.

mod support;

use prometheus_parse::{Scrape, Value};
use serde_json::json;
use support::{spawn_app, TestApp};

async fn scrape(app: &TestApp, token: Option<&str>) -> (u16, String, String) {
    let mut req = app.client.get(app.url("/metrics"));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let kind = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, kind, res.text().await.unwrap())
}

/// The value of the sample `name` whose labels include every pair of `labels`.
fn sample(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
            Value::Summary(_) => f64::NAN,
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_a_known_workload_exactly() {
    support::within_deadline(async {
        // Installed before anything is counted (the server installs it at start-up).
        otpgate::http::metrics::recorder();
        let app = spawn_app("").await;
        // A burst of requests with a pair not yet remembered: argon2id runs at most once
        // per core, the rest find the pair remembered.
        let burst: Vec<_> = (0..16)
            .map(|_| app.v1(reqwest::Method::GET, "/v1/verifications/nobody", None))
            .collect();
        for (status, _, _) in futures_util::future::join_all(burst).await {
            assert_eq!(status, 404, "authenticated, then not found");
        }
        for n in 0..3 {
            let (status, body) = app
                .v1_post(
                    "/v1/verifications",
                    json!({"id": format!("m-{n}"), "provider": "console",
                           "to": format!("m{n}@example.com"), "code": "123456",
                           "max_attempts": 2}),
                )
                .await;
            assert_eq!(status, 201, "{body}");
        }
        for n in 0..3 {
            app.wait_for_events(&format!("m-{n}"), "sent", 1).await;
        }
        let check = |id: &'static str, code: &'static str| {
            let path = format!("/v1/verifications/{id}/check");
            let app = &app;
            async move { app.v1_post(&path, json!({ "code": code })).await }
        };
        assert_eq!(check("m-0", "123456").await.0, 200);
        check("m-1", "000000").await;
        check("m-1", "000000").await; // the last attempt: locked
        check("m-1", "123456").await; // locked already
        app.clock.advance_ms(11 * 60 * 1000);
        check("m-2", "123456").await; // expired

        let (status, kind, text) = scrape(&app, None).await;
        assert_eq!(status, 200);
        assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
        let parsed = Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
        assert!(!parsed.samples.is_empty());
        // The console provider delivers on the channel "other".
        let verifications = |event| {
            sample(&parsed, "otpgate_verifications_total",
                   &[("app", "demo"), ("channel", "other"), ("event", event)])
        };
        assert_eq!(verifications("created"), Some(3.0), "{text}");
        assert_eq!(verifications("verified"), Some(1.0));
        assert_eq!(verifications("locked"), Some(1.0));
        assert_eq!(verifications("expired"), Some(1.0));
        let checks = |result| sample(&parsed, "otpgate_checks_total", &[("app", "demo"), ("result", result)]);
        assert_eq!(checks("verified"), Some(1.0));
        assert_eq!(checks("incorrect"), Some(2.0));
        assert_eq!(checks("locked"), Some(1.0));
        assert_eq!(checks("expired"), Some(1.0));
        assert_eq!(
            sample(&parsed, "otpgate_messages_sent_total", &[("provider", "console")]),
            Some(3.0)
        );
        let hashed = sample(&parsed, "otpgate_app_secret_checks_total", &[("result", "match")])
            .unwrap_or(0.0);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        assert!((1.0..=cores).contains(&hashed), "{hashed} argon2id checks for 16 requests");
        // Each create handed its message to the worker, leased as it was written: none
        // was claimed from the table.
        assert_eq!(
            sample(&parsed, "otpgate_outbox_taken_total", &[("how", "handed")]),
            Some(3.0)
        );
        assert_eq!(sample(&parsed, "otpgate_outbox_taken_total", &[("how", "claimed")]), None);
        assert_eq!(sample(&parsed, "otpgate_outbox_depth", &[]), Some(0.0));
        assert_eq!(sample(&parsed, "otpgate_outbox_oldest_due_seconds", &[]), Some(0.0));
        let created = &[("method", "POST"), ("route", "/v1/verifications"), ("status", "201")];
        assert_eq!(
            sample(&parsed, "otpgate_http_request_duration_seconds_count", created),
            Some(3.0)
        );
        assert_eq!(
            sample(&parsed, "otpgate_http_request_duration_seconds", created),
            Some(3.0),
            "the histogram's +Inf bucket holds all three"
        );
        assert!(sample(&parsed, "otpgate_write_batch_writes_count", &[]).is_some_and(|n| n > 0.0));
        assert!(sample(&parsed, "otpgate_write_commit_seconds_count", &[]).is_some_and(|n| n > 0.0));
        assert!(sample(&parsed, "otpgate_db_connections", &[("state", "idle")]).is_some());
        // At least the outbox, the event pump and this scrape's connection.
        assert!(sample(&parsed, "otpgate_runtime_tasks", &[]).is_some_and(|n| n >= 3.0));
        // Nothing that identifies a person or a code.
        for secret in ["123456", "m0@example.com", "m-0"] {
            assert!(!text.contains(secret), "{secret} in /metrics");
        }

        // With a token, only its bearer reads.
        let guarded = spawn_app("[metrics]\ntoken = \"metrics-token-0123456789\"\n").await;
        let (status, _, _) = scrape(&guarded, None).await;
        assert_eq!(status, 401);
        let (status, _, _) = scrape(&guarded, Some("metrics-token-wrong-12345")).await;
        assert_eq!(status, 401);
        let (status, _, text) = scrape(&guarded, Some("metrics-token-0123456789")).await;
        assert_eq!(status, 200);
        assert!(text.contains("otpgate_verifications_total"));
    })
    .await
}
