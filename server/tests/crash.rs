//! A worker process killed with SIGKILL in the middle of a send: the provider holds the
//! request, the process dies, and after its lease runs out another process claims the row
//! and delivers — the same code, and at most one duplicate. On SQLite (the same file
//! reopened) and PostgreSQL.

mod support;

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};
use support::{
    find_code,
    http::{HttpCapture, Reply},
    Backend,
};

struct Server {
    child: Child,
    base: String,
}

impl Server {
    async fn start(
        config: &std::path::Path,
        data_dir: &std::path::Path,
        database_url: &str,
    ) -> Self {
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        let base = format!("http://127.0.0.1:{port}");
        let server = Self {
            child: Command::new(env!("CARGO_BIN_EXE_otpgate"))
                .arg("--config")
                .arg(config)
                .arg("serve")
                .env("OTPGATE_ADDRESS", format!("127.0.0.1:{port}"))
                .env("OTPGATE_ROOT_URL", &base)
                .env("OTPGATE_DATA_DIR", data_dir)
                .env("OTPGATE_DATABASE_URL", database_url)
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
            base,
        };
        let client = reqwest::Client::new();
        for _ in 0..300 {
            if let Ok(res) = client.get(format!("{}/healthz", server.base)).send().await {
                if res.status() == 200 {
                    return server;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("otpgate did not start");
    }

    /// SIGKILL: no shutdown, no release of leases.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM: a graceful stop; waits for the process to exit.
    fn terminate(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = self.child.wait().unwrap();
        assert!(exit.success(), "a graceful stop exits cleanly: {exit:?}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn json_text(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    v["text"].as_str().unwrap().to_owned()
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
        Stop::Kill => "3s",
        Stop::Terminate => "60s",
    };
    let mut gw = HttpCapture::start(Reply::Status(200, "{}".into())).await;
    gw.script([Reply::Hang]);
    let dir = tempfile::tempdir().unwrap();
    let (database_url, pg_name) = match backend {
        Backend::Sqlite => (
            format!("sqlite://{}", dir.path().join("otpgate.db").display()),
            None,
        ),
        Backend::Postgres => {
            let (url, name) = support::fresh_postgres_database().await;
            (url, Some(name))
        }
    };
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

on_both_backends!(
    a_killed_worker_is_replaced_after_its_lease,
    a_stopped_worker_gives_its_deliveries_back,
);
