//! Test harness: the real router on 127.0.0.1 port 0, a fresh SQLite file, a clock the
//! test moves, and an SMTP server on loopback that captures what lettre sends.
#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod cluster;
pub mod dashboard;
pub mod disk;
pub mod http;
pub mod process;
pub mod sign;
pub mod smtp;
pub mod totp;

use app::gateway::{clock::ManualClock, Gateway};
use otpgate::{
    build_gateway,
    config::Settings,
    http::{AppState, Shared},
    leptos_options,
};
use serde_json::Value;
use std::sync::Arc;

/// An engine over `store` with only the console provider, fixed keys and `clock`: for
/// tests that drive the gateway without the HTTP server.
pub fn console_gateway(
    store: Arc<dyn app::gateway::store::Store>,
    clock: Arc<ManualClock>,
) -> Gateway {
    use app::gateway::{
        code::{CodeHasher, CodeKey},
        delivery::{ConsoleProvider, Providers},
        tokens::TokenKeys,
        EngineSettings,
    };
    let mut providers = Providers::default();
    providers.add_console(Arc::new(ConsoleProvider::default()));
    Gateway::new(
        store,
        CodeHasher::new(vec![CodeKey::from_bytes([3; 32])]).unwrap(),
        providers,
        clock,
        EngineSettings::default(),
        TokenKeys::new(&[[4; 32]], "http://127.0.0.1").unwrap(),
    )
}

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server tests create their databases on (trust auth on loopback).
pub fn postgres_admin_url() -> String {
    std::env::var("OTPGATE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Creates a fresh, uniquely named PostgreSQL database and returns its URL and name.
pub async fn fresh_postgres_database() -> (String, String) {
    use sqlx::Connection;
    let admin = postgres_admin_url();
    let name = format!(
        "otpgate_test_{}",
        app::gateway::secret::random_id()
            .to_ascii_lowercase()
            .replace(['-', '_'], "")
    );
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .expect("PostgreSQL on 127.0.0.1:5432");
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut conn)
        .await
        .unwrap();
    (postgres_database_url(&name), name)
}

/// The URL of test database `name` on the server of [`postgres_admin_url`].
pub fn postgres_database_url(name: &str) -> String {
    let admin = postgres_admin_url();
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap();
    format!("{base}/{name}")
}

/// Drops a test database, closing whatever the server still holds open.
pub fn drop_postgres_database(name: String) {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            use sqlx::Connection;
            if let Ok(mut conn) = sqlx::PgConnection::connect(&postgres_admin_url()).await {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&mut conn)
                    .await;
            }
        });
    })
    .join()
    .unwrap();
}

/// Runs each listed `async fn(Backend)` once on SQLite and once on PostgreSQL, each within
/// [`TEST_DEADLINE`] so that a stuck test fails instead of stalling the suite.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                $crate::support::within_deadline(super::$name($crate::support::Backend::Sqlite)).await
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                $crate::support::within_deadline(super::$name($crate::support::Backend::Postgres)).await
            })*
        }
    };
}

/// The longest any one test may take.
pub const TEST_DEADLINE: std::time::Duration = std::time::Duration::from_secs(180);

/// Runs a test body, failing it if it has not finished by [`TEST_DEADLINE`].
pub async fn within_deadline(test: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(TEST_DEADLINE, test)
        .await
        .expect("the test did not finish within its deadline");
}

pub const NAMESPACE: &str = "demo";
pub const SECRET: &str = "demo-secret-123";

pub struct TestApp {
    pub base: String,
    pub gateway: Gateway,
    pub clock: Arc<ManualClock>,
    pub client: reqwest::Client,
    pub dir: tempfile::TempDir,
    pub backend: Backend,
    /// The database this instance uses (PostgreSQL), for a peer instance to share.
    database_url: Option<String>,
    extra_toml: String,
    postgres_db: Option<String>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(name) = self.postgres_db.take() {
            drop_postgres_database(name);
        }
    }
}

/// Starts otpgate on SQLite with the `demo` app, the console provider, and `extra_toml`.
pub async fn spawn_app(extra_toml: &str) -> TestApp {
    spawn_app_on(Backend::Sqlite, extra_toml).await
}

/// As [`spawn_app`], on the given backend (PostgreSQL gets a fresh database).
pub async fn spawn_app_on(backend: Backend, extra_toml: &str) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    spawn(backend, dir, extra_toml).await
}

/// As [`spawn_app`], with a data folder the test prepared.
pub async fn spawn_app_in(dir: tempfile::TempDir, extra_toml: &str) -> TestApp {
    spawn(Backend::Sqlite, dir, extra_toml).await
}

/// A second instance beside `first`: the same PostgreSQL database, keys and config, its
/// own port and processes' state. Its live-update pump polls only every `live_poll`.
pub async fn spawn_peer(first: &TestApp, live_poll: std::time::Duration) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        first.dir.path().join("keys.toml"),
        dir.path().join("keys.toml"),
    )
    .unwrap();
    let database = first.database_url.clone().map(|url| (url, None));
    spawn_with(
        first.backend,
        dir,
        &first.extra_toml,
        &[],
        database,
        live_poll,
    )
    .await
}

/// As [`spawn_app`], on the PostgreSQL database at `url` (a cluster of the test's own).
pub async fn spawn_app_at(url: &str, extra_toml: &str) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    spawn_with(
        Backend::Postgres,
        dir,
        extra_toml,
        &[],
        Some((url.to_owned(), None)),
        std::time::Duration::from_millis(50),
    )
    .await
}

/// As [`spawn_app`], with environment variables (`OTPGATE_*`) the settings read.
pub async fn spawn_app_env(extra_toml: &str, env: &[(&str, &str)]) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    spawn_with(
        Backend::Sqlite,
        dir,
        extra_toml,
        env,
        None,
        std::time::Duration::from_millis(50),
    )
    .await
}

async fn spawn(backend: Backend, dir: tempfile::TempDir, extra_toml: &str) -> TestApp {
    let database = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => {
            let (url, name) = fresh_postgres_database().await;
            Some((url, Some(name)))
        }
    };
    spawn_with(
        backend,
        dir,
        extra_toml,
        &[],
        database,
        std::time::Duration::from_millis(50),
    )
    .await
}

async fn spawn_with(
    backend: Backend,
    dir: tempfile::TempDir,
    extra_toml: &str,
    env: &[(&str, &str)],
    database: Option<(String, Option<String>)>,
    live_poll: std::time::Duration,
) -> TestApp {
    let (database_url, postgres_db) = match database {
        Some((url, owned)) => (Some(url), owned),
        None => (None, None),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    // Providers in tests live on loopback, which the SSRF guard opens only when told to;
    // a short poll keeps retries prompt once a test moves the clock.
    let delivery = if extra_toml.contains("[delivery]") {
        ""
    } else {
        "[delivery]\nallow_loopback = true\npoll_interval = \"50ms\"\n\n"
    };
    let toml = format!(
        "[app]\nenvironment = \"development\"\n\n{delivery}[auth.demo]\nnamespace = \"{NAMESPACE}\"\nsecret = \"{SECRET}\"\n\n{extra_toml}"
    );
    let data_dir = dir.path().display().to_string();
    let root = base.clone();
    let given = |key: &str| {
        env.iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| (*v).to_owned())
    };
    let settings = Settings::from_toml(&toml, |key| match key {
        "OTPGATE_DATA_DIR" => Some(data_dir.clone()),
        "OTPGATE_ROOT_URL" => given(key).or_else(|| Some(root.clone())),
        "OTPGATE_ADDRESS" => Some(format!("127.0.0.1:{port}")),
        "OTPGATE_DATABASE_URL" => database_url.clone(),
        _ => given(key),
    })
    .unwrap();
    let clock = Arc::new(ManualClock::default());
    let gateway = build_gateway(&settings, clock.clone()).await.unwrap();
    let state = AppState::new(Shared {
        gateway: gateway.clone(),
        leptos: leptos_options(&settings),
        metrics_token: settings.metrics_token.as_deref().map(Into::into),
        http: Arc::new(settings.http.clone()),
    });
    let (stop_worker, worker_stop) = tokio::sync::watch::channel(false);
    gateway.start_live(live_poll, worker_stop.clone());
    gateway.start_delivery(settings.outbox.clone(), worker_stop);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let served = otpgate::serve(listener, state, async {
            let _ = rx.await;
        });
        let _ = served.await;
        let _ = stop_worker.send(true);
    });
    TestApp {
        base,
        gateway,
        clock,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        dir,
        backend,
        database_url,
        extra_toml: extra_toml.to_owned(),
        postgres_db,
        shutdown: Some(tx),
    }
}

impl TestApp {
    /// Runs one SQL statement directly against this app's database (fault injection).
    pub async fn sql(&self, statement: &str) {
        use sqlx::Connection;
        match &self.postgres_db {
            Some(name) => {
                let url = postgres_database_url(name);
                let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
                sqlx::query(statement).execute(&mut conn).await.unwrap();
            }
            None => {
                let url = format!("sqlite://{}", self.dir.path().join("otpgate.db").display());
                let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
                sqlx::query(statement).execute(&mut conn).await.unwrap();
            }
        }
    }

    /// The first column of every row of `query`, read as text straight from this app's
    /// database (to see exactly what is stored).
    pub async fn sql_strings(&self, query: &str) -> Vec<String> {
        use sqlx::{Connection, Row};
        match &self.postgres_db {
            Some(name) => {
                let url = postgres_database_url(name);
                let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
                let rows = sqlx::query(query).fetch_all(&mut conn).await.unwrap();
                rows.iter().map(|r| r.get::<String, _>(0)).collect()
            }
            None => {
                let url = format!("sqlite://{}", self.dir.path().join("otpgate.db").display());
                let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
                let rows = sqlx::query(query).fetch_all(&mut conn).await.unwrap();
                rows.iter().map(|r| r.get::<String, _>(0)).collect()
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET path`, whatever the status: the body as text.
    pub async fn get_text(&self, path: &str) -> String {
        let res = self.client.get(self.url(path)).send().await.unwrap();
        res.text().await.unwrap()
    }

    /// `GET path`, whatever the status: the body as JSON.
    pub async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> T {
        let res = self.client.get(self.url(path)).send().await.unwrap();
        res.json().await.unwrap()
    }

    /// The demo app's hosted page for `id`, which must answer 200.
    pub async fn page_html(&self, id: &str) -> String {
        let res = self
            .client
            .get(self.url(&format!("/otp/{NAMESPACE}/{id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        res.text().await.unwrap()
    }

    /// A form posted on the demo app's hosted page for `id`: where its 303 sends the
    /// browser.
    pub async fn page_post(&self, id: &str, form: &[(&str, &str)]) -> String {
        self.page_post_in(NAMESPACE, id, form).await
    }

    /// As [`TestApp::page_post`], on the hosted page of app `namespace`.
    pub async fn page_post_in(&self, namespace: &str, id: &str, form: &[(&str, &str)]) -> String {
        let res = self
            .client
            .post(self.url(&format!("/otp/{namespace}/{id}")))
            .form(form)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        res.headers()["location"].to_str().unwrap().to_owned()
    }

    /// A native API call as the demo app (Bearer auth, a JSON body when given): the
    /// status, headers and body (JSON, or the text as a JSON string).
    pub async fn v1(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut req = self
            .client
            .request(method, self.url(path))
            .header("authorization", format!("Bearer {NAMESPACE}:{SECRET}"));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, headers, body)
    }

    /// `POST path` on the native API with a JSON body, as the demo app.
    pub async fn v1_post(&self, path: &str, body: Value) -> (u16, Value) {
        let (status, _, body) = self.v1(reqwest::Method::POST, path, Some(body)).await;
        (status, body)
    }

    /// An otpgateway API call as the demo app, with form fields.
    async fn otpgateway(
        &self,
        method: reqwest::Method,
        path: &str,
        form: &[(&str, &str)],
    ) -> (u16, Value) {
        let res = self
            .client
            .request(method, self.url(path))
            .basic_auth(NAMESPACE, Some(SECRET))
            .form(form)
            .send()
            .await
            .unwrap();
        envelope(res).await
    }

    /// `PUT /api/otp/{id}` with form fields, as the demo app.
    pub async fn put_otp(&self, id: &str, form: &[(&str, &str)]) -> (u16, Value) {
        self.otpgateway(reqwest::Method::PUT, &format!("/api/otp/{id}"), form)
            .await
    }

    /// `POST /api/otp/{id}` (check) with form fields, as the demo app.
    pub async fn check_otp(&self, id: &str, form: &[(&str, &str)]) -> (u16, Value) {
        self.otpgateway(reqwest::Method::POST, &format!("/api/otp/{id}"), form)
            .await
    }

    /// `POST /api/otp/{id}/status`, as the demo app.
    pub async fn status(&self, id: &str) -> (u16, Value) {
        self.otpgateway(reqwest::Method::POST, &format!("/api/otp/{id}/status"), &[])
            .await
    }

    /// The demo app's current verification `id`.
    pub async fn record(&self, id: &str) -> app::gateway::store::VerificationRecord {
        let demo = self.gateway.authenticate(NAMESPACE, SECRET).await.unwrap();
        self.record_of(demo.app_id, id).await
    }

    /// App `app_id`'s current verification `id`.
    pub async fn record_of(
        &self,
        app_id: i64,
        id: &str,
    ) -> app::gateway::store::VerificationRecord {
        // The store directly: no expiry settling, and retired records too.
        self.gateway
            .store()
            .find_verification(app_id, id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no verification {id}"))
    }

    /// The event kinds of the demo app's verification `id`, oldest first.
    pub async fn events(&self, id: &str) -> Vec<String> {
        let record = self.record(id).await;
        self.gateway.event_kinds(&record).await.unwrap()
    }

    /// The event kinds of app `app_id`'s verification `id`, oldest first.
    pub async fn events_of(&self, app_id: i64, id: &str) -> Vec<String> {
        let record = self.record_of(app_id, id).await;
        self.gateway.event_kinds(&record).await.unwrap()
    }

    /// Waits (up to 10 s) until the demo app's verification `id` has `count` events of
    /// `kind`; returns all its event kinds.
    pub async fn wait_for_events(&self, id: &str, kind: &str, count: usize) -> Vec<String> {
        let demo = self.gateway.authenticate(NAMESPACE, SECRET).await.unwrap();
        self.wait_for_events_of(demo.app_id, id, kind, count).await
    }

    /// As [`wait_for_events`](Self::wait_for_events), for app `app_id`'s verification.
    pub async fn wait_for_events_of(
        &self,
        app_id: i64,
        id: &str,
        kind: &str,
        count: usize,
    ) -> Vec<String> {
        for _ in 0..500 {
            let kinds = self.events_of(app_id, id).await;
            if kinds.iter().filter(|k| *k == kind).count() >= count {
                return kinds;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!(
            "{id}: fewer than {count} {kind:?} events: {:?}",
            self.events_of(app_id, id).await
        );
    }

    /// The outbox rows of verification `id`: (status, provider, attempts).
    pub async fn deliveries(&self, id: &str) -> Vec<(String, String, u32)> {
        let record = self.record(id).await;
        self.gateway.deliveries(&record).await.unwrap()
    }

    /// Waits until the console provider has a message for `to` and returns its body.
    pub async fn console_message_for(&self, to: &str) -> String {
        for _ in 0..200 {
            if let Some(m) = self
                .gateway
                .inbox()
                .unwrap()
                .into_iter()
                .find(|m| m.to == to)
            {
                return m.body;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("no console message for {to}");
    }
}

/// Status code and JSON body; asserts otpgateway's content type.
pub async fn envelope(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let ct = res
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(ct, "application/json; charset=utf-8");
    (status, res.json().await.unwrap())
}

/// The first run of `len` digits standing alone in `text`.
pub fn find_code(text: &str, len: usize) -> String {
    text.split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == len)
        .unwrap_or_else(|| panic!("no {len}-digit code in {text:?}"))
        .to_owned()
}
