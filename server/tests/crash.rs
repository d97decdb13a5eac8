//! A worker process killed with SIGKILL in the middle of a send: the provider holds the
//! request, the process dies, and after its lease runs out another process claims the row
//! and delivers — the same code, and at most one duplicate. A process killed while it
//! answers creates and checks from many callers at once (SQLite commits them in batches):
//! every create and check it acknowledged is there after the restart. On SQLite (the same
//! file reopened) and PostgreSQL.

mod support;

use std::time::Duration;
use support::{
    find_code,
    http::{HttpCapture, Reply},
    process::Server,
    Backend,
};

fn json_text(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    v["text"].as_str().unwrap().to_owned()
}

/// The database the processes share: a SQLite file in `dir`, or a fresh PostgreSQL
/// database (and its name, to drop).
async fn database(backend: Backend, dir: &std::path::Path) -> (String, Option<String>) {
    match backend {
        Backend::Sqlite => (
            format!("sqlite://{}", dir.join("otpgate.db").display()),
            None,
        ),
        Backend::Postgres => {
            let (url, name) = support::fresh_postgres_database().await;
            (url, Some(name))
        }
    }
}

/// How the first process goes away.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stop {
    Kill,
    Terminate,
}

async fn a_killed_worker_is_replaced_after_its_lease(backend: Backend) {
    worker_replaced(backend, Stop::Kill).await
}

/// A graceful stop gives a held delivery back at once: the lease here is a minute, yet the
/// next process sends within seconds.
async fn a_stopped_worker_gives_its_deliveries_back(backend: Backend) {
    worker_replaced(backend, Stop::Terminate).await
}

async fn worker_replaced(backend: Backend, stop: Stop) {
    let lease = match stop {
        Stop::Kill => "5s",
        Stop::Terminate => "60s",
    };
    let mut gw = HttpCapture::start(Reply::Status(200, "{}".into())).await;
    gw.script([Reply::Hang]);
    let dir = tempfile::tempdir().unwrap();
    let (database_url, pg_name) = database(backend, dir.path()).await;
    let config = dir.path().join("otpgate.toml");
    std::fs::write(
        &config,
        format!(
            "[auth.demo]\nnamespace = \"demo\"\nsecret = \"demo-secret-123\"\n\n[delivery]\nallow_loopback = true\npoll_interval = \"100ms\"\nlease = \"{lease}\"\nshutdown_grace = \"1s\"\n\n[providers.gateway]\ntype = \"http_sms\"\nurl = \"{}\"\ntimeout = \"60s\"\n[providers.gateway.json]\nto = \"{{{{ to }}}}\"\ntext = \"{{{{ body }}}}\"\n",
            gw.url("/sms")
        ),
    )
    .unwrap();

    let first = Server::start(&config, dir.path(), &database_url).await;
    let client = reqwest::Client::new();
    let res = client
        .put(format!("{}/api/otp/crash-1", first.base))
        .basic_auth("demo", Some("demo-secret-123"))
        .form(&[("to", "+14155550100"), ("provider", "gateway")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let held = gw.next().await;
    let stopped = std::time::Instant::now();
    match stop {
        Stop::Kill => first.kill(),
        Stop::Terminate => first.terminate(),
    }

    let second = Server::start(&config, dir.path(), &database_url).await;
    let redelivered = gw.next().await;
    if stop == Stop::Terminate {
        assert!(
            stopped.elapsed() < Duration::from_secs(30),
            "released, not left to a 60 s lease"
        );
    }
    let code = find_code(&json_text(&held.body), 6);
    assert_eq!(find_code(&json_text(&redelivered.body), 6), code);
    assert!(
        gw.drain(Duration::from_secs(2)).await.is_empty(),
        "one duplicate at most"
    );
    let res = client
        .post(format!("{}/api/otp/crash-1", second.base))
        .basic_auth("demo", Some("demo-secret-123"))
        .form(&[("otp", code.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the redelivered code verifies");
    drop(second);
    if let Some(name) = pg_name {
        support::drop_postgres_database(name);
    }
}

/// Callers create and check verifications as fast as the server answers until it is
/// killed; after a restart, each acknowledged create exists and each acknowledged check
/// left its verification verified.
async fn acknowledged_writes_survive_a_kill(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (database_url, pg_name) = database(backend, dir.path()).await;
    let config = dir.path().join("otpgate.toml");
    std::fs::write(
        &config,
        "[auth.demo]\nnamespace = \"demo\"\nsecret = \"demo-secret-123\"\n\n\
         [limits]\ncaller_limits = false\n\n[providers.console]\nenabled = true\n",
    )
    .unwrap();
    let first = Server::start(&config, dir.path(), &database_url).await;
    let client = reqwest::Client::new();
    let created = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let verified = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let cut_off = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let callers: Vec<_> = (0..32)
        .map(|caller| {
            let (client, base) = (client.clone(), first.base.clone());
            let (created, verified, cut_off) = (created.clone(), verified.clone(), cut_off.clone());
            tokio::spawn(async move {
                for n in 0.. {
                    let id = format!("k-{caller}-{n}");
                    let put = client
                        .put(format!("{base}/api/otp/{id}"))
                        .basic_auth("demo", Some("demo-secret-123"))
                        .form(&[
                            ("to", "k@example.com"),
                            ("provider", "console"),
                            ("otp", "424242"),
                        ])
                        .send()
                        .await;
                    match put {
                        Ok(res) if res.status() == 200 => created.lock().unwrap().push(id.clone()),
                        _ => {
                            cut_off.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            break;
                        }
                    };
                    // Every other one is checked at once.
                    if n % 2 == 1 {
                        continue;
                    }
                    let check = client
                        .post(format!("{base}/api/otp/{id}"))
                        .basic_auth("demo", Some("demo-secret-123"))
                        .form(&[("otp", "424242"), ("skip_delete", "true")])
                        .send()
                        .await;
                    match check {
                        Ok(res) if res.status() == 200 => verified.lock().unwrap().push(id),
                        _ => {
                            cut_off.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            break;
                        }
                    };
                }
            })
        })
        .collect();
    // Let the load settle in, then kill the process in the middle of it.
    while created.lock().unwrap().len() < 300 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill();
    for caller in callers {
        caller.await.unwrap();
    }
    assert_eq!(
        cut_off.load(std::sync::atomic::Ordering::SeqCst),
        32,
        "every caller had a request in flight when the process died"
    );

    let second = Server::start(&config, dir.path(), &database_url).await;
    let created = created.lock().unwrap().clone();
    let verified = verified.lock().unwrap().clone();
    assert!(!verified.is_empty());
    for id in &created {
        let res = client
            .get(format!("{}/v1/verifications/{id}", second.base))
            .header("authorization", "Bearer demo:demo-secret-123")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{id} was acknowledged created");
        let body: serde_json::Value = res.json().await.unwrap();
        if verified.contains(id) {
            assert_eq!(body["status"], "verified", "{id} was acknowledged verified");
        }
    }
    drop(second);
    if let Some(name) = pg_name {
        support::drop_postgres_database(name);
    }
}

on_both_backends!(
    a_killed_worker_is_replaced_after_its_lease,
    a_stopped_worker_gives_its_deliveries_back,
    acknowledged_writes_survive_a_kill,
);
