//! HTTP hardening over real sockets: the client address behind trusted proxies only, slow
//! and silent clients cut off without holding the server, size limits on heads and bodies,
//! and the security headers on every kind of route.

mod support;

use serde_json::json;
use std::time::{Duration, Instant};
use support::{spawn_app, spawn_app_env, TestApp, NAMESPACE, SECRET};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// A create from `forwarded` (as `X-Forwarded-For`): its status.
async fn create_from(app: &TestApp, n: usize, forwarded: &str) -> u16 {
    app.client
        .post(app.url("/v1/verifications"))
        .header("authorization", format!("Bearer {NAMESPACE}:{SECRET}"))
        .header("x-forwarded-for", forwarded)
        .json(&json!({"provider": "console", "to": format!("h{n}@example.com")}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Creates `count` verifications from `forwarded`: how many were accepted.
async fn accepted(app: &TestApp, from: usize, count: usize, forwarded: &str) -> usize {
    let mut ok = 0;
    for n in from..from + count {
        match create_from(app, n, forwarded).await {
            201 => ok += 1,
            429 => {}
            other => panic!("create answered {other}"),
        }
    }
    ok
}

#[tokio::test]
async fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
    // Behind a trusted proxy each forwarded client has its own per-IP budget (60 creates
    // a minute), and the client cannot reset it by writing another address first.
    let app = spawn_app_env(
        "",
        &[("OTPGATE_TRUSTED_PROXIES", "127.0.0.1/32, 10.0.0.0/8")],
    )
    .await;
    assert_eq!(accepted(&app, 0, 61, "203.0.113.9").await, 60);
    assert_eq!(accepted(&app, 100, 3, "198.51.100.1, 203.0.113.9").await, 0);
    assert_eq!(accepted(&app, 200, 3, "203.0.113.9, 10.0.0.5").await, 0);
    assert_eq!(accepted(&app, 300, 3, "203.0.113.10").await, 3);
    let buckets = app
        .sql_strings("SELECT bucket_key FROM rate_bucket WHERE bucket_key LIKE 'create_ip:%' ORDER BY bucket_key")
        .await;
    let subjects: Vec<&str> = buckets
        .iter()
        .filter_map(|k| k.rsplit(':').next())
        .collect();
    assert_eq!(subjects, ["203.0.113.10", "203.0.113.9"], "{buckets:?}");

    // Without trusted proxies the header is ignored: every request is the peer's.
    let app = spawn_app("").await;
    let mut ok = 0;
    for n in 0..61 {
        if create_from(&app, n, &format!("203.0.113.{n}")).await == 201 {
            ok += 1;
        }
    }
    assert_eq!(
        ok, 60,
        "61 creates from one peer, each claiming another address"
    );
}

#[test]
fn trusted_proxies_that_are_not_addresses_are_refused_at_start() {
    for (value, ok) in [
        ("10.0.0.0/8", true),
        ("::1, 10.1.2.3", true),
        ("proxy.internal", false),
        ("10.0.0.0/40", false),
    ] {
        let loaded = otpgate::config::Settings::from_toml("", |k| {
            (k == "OTPGATE_TRUSTED_PROXIES").then(|| value.to_owned())
        });
        match (loaded, ok) {
            (Ok(_), true) => {}
            (Err(e), false) => assert!(e.to_string().contains("trusted_proxies"), "{e}"),
            (Ok(_), false) => panic!("{value:?} was accepted"),
            (Err(e), true) => panic!("{value:?} was refused: {e}"),
        }
    }
}

/// Reads what the server sends until it closes the connection (or `limit` passes).
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let read = tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&got).into_owned())
}

#[tokio::test]
async fn slow_and_silent_clients_are_cut_off_without_holding_the_server() {
    let app = spawn_app_env("", &[("OTPGATE_SERVER_TIMEOUT", "1s")]).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    // 150 clients that connect and say nothing, 150 that send half a head and stop.
    let mut idle = Vec::new();
    for n in 0..300 {
        let mut s = TcpStream::connect(&addr).await.unwrap();
        if n % 2 == 1 {
            s.write_all(b"POST /v1/verifications HTTP/1.1\r\nHost: x\r\nContent-")
                .await
                .unwrap();
        }
        idle.push(s);
    }
    // The server still answers everyone else at once.
    let started = Instant::now();
    for _ in 0..20 {
        assert_eq!(app.get_text("/healthz").await, "ok");
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    // And drops the slow ones once their second is up.
    let started = Instant::now();
    for s in &mut idle {
        let left = Duration::from_secs(5).saturating_sub(started.elapsed());
        assert!(
            read_until_closed(s, left).await.is_some(),
            "a silent connection was still open after 5 s"
        );
    }
    assert!(started.elapsed() >= Duration::from_millis(500));

    // A body that stops coming: 408, and nothing created.
    let mut s = TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /v1/verifications HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {NAMESPACE}:{SECRET}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"provider\""
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let answer = read_until_closed(&mut s, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let count = app
        .sql_strings("SELECT CAST(COUNT(*) AS TEXT) FROM verification")
        .await;
    assert_eq!(count, ["0"]);
}

/// Sends `request` whole and reads the answer's status line.
async fn status_of(app: &TestApp, request: &[u8]) -> String {
    let mut s = TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .unwrap();
    // The server may answer (and close) before it has read everything.
    let _ = s.write_all(request).await;
    let answer = read_until_closed(&mut s, Duration::from_secs(5))
        .await
        .unwrap();
    answer.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn heads_and_bodies_over_their_limits_are_refused() {
    let app = spawn_app("").await;
    let auth = format!("Authorization: Bearer {NAMESPACE}:{SECRET}\r\n");
    // A head over 32 KiB, and one with more than 100 headers.
    let big = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(40 * 1024)
    );
    let got = status_of(&app, big.as_bytes()).await;
    assert!(got.starts_with("HTTP/1.1 431"), "{got:?}");
    let many: String = (0..120).map(|n| format!("X-H{n}: v\r\n")).collect();
    let many = format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{many}Connection: close\r\n\r\n");
    let got = status_of(&app, many.as_bytes()).await;
    assert!(got.starts_with("HTTP/1.1 431"), "{got:?}");
    // A body declared over 64 KiB, and a chunked one that grows past it.
    let declared = format!(
        "POST /v1/verifications HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: 70000\r\n\r\n"
    );
    assert_eq!(
        status_of(&app, declared.as_bytes()).await,
        "HTTP/1.1 413 Payload Too Large"
    );
    let chunk = format!("{:x}\r\n{}\r\n", 20_000, " ".repeat(20_000));
    let chunked = format!(
        "POST /api/otp HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n{}0\r\n\r\n",
        chunk.repeat(4)
    );
    assert_eq!(
        status_of(&app, chunked.as_bytes()).await,
        "HTTP/1.1 413 Payload Too Large"
    );
    let count = app
        .sql_strings("SELECT CAST(COUNT(*) AS TEXT) FROM verification")
        .await;
    assert_eq!(count, ["0"]);
    // Just under the limit is read and judged on its content.
    let (status, body) = app
        .v1_post(
            "/v1/verifications",
            json!({"provider": "console", "to": "pad@example.com", "extra": {"pad": "x".repeat(60_000)}}),
        )
        .await;
    assert_ne!(status, 413, "{body}");
    assert!(status < 500, "{status} {body}");
}

#[tokio::test]
async fn every_kind_of_route_carries_the_security_headers() {
    let app = spawn_app("").await;
    let (_, created) = app
        .v1_post(
            "/v1/verifications",
            json!({"provider": "console", "to": "hdr@example.com"}),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let routes = [
        ("GET", format!("/otp/{NAMESPACE}/{id}")),
        ("GET", format!("/otp/{NAMESPACE}/{id}/status")),
        ("GET", format!("/v1/verifications/{id}")),
        ("POST", "/api/otp".to_owned()),
        ("GET", "/dashboard/sign-in".to_owned()),
        ("GET", "/healthz".to_owned()),
        ("GET", "/metrics".to_owned()),
        ("GET", "/v1/openapi.json".to_owned()),
        ("GET", "/no/such/page".to_owned()),
    ];
    for (method, path) in routes {
        let res = app
            .client
            .request(method.parse().unwrap(), app.url(&path))
            .header("authorization", format!("Bearer {NAMESPACE}:{SECRET}"))
            .send()
            .await
            .unwrap();
        let h = res.headers();
        let get = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
        assert_eq!(get("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(get("referrer-policy"), "no-referrer", "{path}");
        assert_eq!(get("cache-control"), "no-store", "{path}");
        assert!(
            get("content-security-policy").contains("frame-ancestors 'none'"),
            "{path}: {:?}",
            get("content-security-policy")
        );
        assert!(res.status().as_u16() < 500, "{path}: {}", res.status());
    }
}

#[tokio::test]
async fn strict_transport_security_only_when_served_over_tls() {
    let hsts = |app: &TestApp| {
        let url = app.url("/healthz");
        let client = app.client.clone();
        async move {
            let res = client.get(url).send().await.unwrap();
            res.headers()
                .get("strict-transport-security")
                .map(|v| v.to_str().unwrap().to_owned())
        }
    };
    let plain = spawn_app("").await;
    assert_eq!(hsts(&plain).await, None);
    let behind_tls = spawn_app_env("", &[("OTPGATE_ROOT_URL", "https://otp.example.com")]).await;
    assert_eq!(hsts(&behind_tls).await.as_deref(), Some("max-age=63072000"));
}
