//! Multi-instance soak: three otpgate processes (the release build) on one fresh PostgreSQL
//! database, driven in turn by a load generator that keeps a model of every verification:
//! creates, wrong and right checks (sometimes the right code to two instances at once),
//! locks, resends, hosted page views and live subscriptions (SSE on one instance, the
//! check on another). One instance is killed with SIGKILL and started again every
//! `--kill-every` seconds. At the end: every verification's state matches the model, no
//! verification succeeded twice, no budget was exceeded, the outbox is empty, and each
//! instance's RSS and open file descriptors with their slopes.
//!
//! `cargo run --release -p server --example soak -- [SECONDS] [KILL_EVERY_SECONDS]`
//! (`make soak`: 600 and 60; `make test` runs 60 and 20). Loopback only.

use rand::Rng;
use serde_json::{json, Value};
use std::{
    collections::HashMap,
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

const AUTH: &str = "Bearer soak:soak-secret-123";
const INSTANCES: usize = 3;
const WORKERS: usize = 12;
const MAX_ATTEMPTS: u32 = 3;
const MAX_SENDS: u32 = 3;

/// One otpgate process; its data folder keeps the keys all instances share.
struct Instance {
    child: Option<Child>,
    port: u16,
    dir: std::path::PathBuf,
    /// (seconds since the soak began, RSS KiB, open descriptors) of its current life.
    samples: Vec<(f64, f64, f64)>,
    lives: Vec<Vec<(f64, f64, f64)>>,
}

impl Instance {
    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self, config: &std::path::Path, database_url: &str) {
        let child = Command::new("target/release/otpgate")
            .args(["--config", config.to_str().unwrap(), "serve"])
            .env("OTPGATE_ADDRESS", format!("127.0.0.1:{}", self.port))
            .env("OTPGATE_ROOT_URL", self.base())
            .env("OTPGATE_DATA_DIR", &self.dir)
            .env("OTPGATE_DATABASE_URL", database_url)
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .spawn()
            .expect("build target/release/otpgate first (make soak does)");
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.lives.push(std::mem::take(&mut self.samples));
    }

    fn sample(&mut self, at: f64) {
        let Some(child) = &self.child else { return };
        let pid = child.id();
        let rss = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                let line = s.lines().find(|l| l.starts_with("VmRSS:"))?.to_owned();
                line.split_whitespace().nth(1)?.parse::<f64>().ok()
            });
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| d.count() as f64)
            .ok();
        if let (Some(rss), Some(fds)) = (rss, fds) {
            self.samples.push((at, rss, fds));
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

async fn ready(base: &str) {
    let client = reqwest::Client::new();
    for _ in 0..300 {
        let up = client.get(format!("{base}/readyz")).send().await;
        if up.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("otpgate at {base} did not start");
}

/// Least-squares slope of `y` over `x` (per minute), with the first and last value.
fn slope(points: &[(f64, f64)]) -> Option<(f64, f64, f64)> {
    if points.len() < 4 {
        return None;
    }
    let n = points.len() as f64;
    let (mx, my) = (
        points.iter().map(|p| p.0).sum::<f64>() / n,
        points.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let cov: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let var: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    Some((cov / var * 60.0, points[0].1, points[points.len() - 1].1))
}

/// What the load generator knows of one verification.
#[derive(Default, Debug)]
struct Known {
    code: String,
    /// A request about it whose answer was lost (its instance died while answering).
    unsure: bool,
    wrong_answered: u32,
    successes: u32,
    locked_answered: bool,
}

#[derive(Default)]
struct Counts {
    ops: Mutex<HashMap<&'static str, u64>>,
    refused_connection: AtomicU64,
    lost_answers: AtomicU64,
    double_sent: AtomicU64,
    live_expected: AtomicU64,
    live_seen: AtomicU64,
}

impl Counts {
    fn op(&self, kind: &'static str) {
        *self.ops.lock().unwrap().entry(kind).or_default() += 1;
    }
}

struct Load {
    client: reqwest::Client,
    bases: Vec<String>,
    model: Mutex<HashMap<String, Known>>,
    counts: Counts,
    stop: AtomicBool,
}

/// The answer, `None` when the instance was down (nothing sent), `Some(None)` when the
/// request went out and its answer was lost.
type Answer = Option<Option<(u16, Value)>>;

impl Load {
    async fn send(&self, req: reqwest::RequestBuilder) -> Answer {
        match req.timeout(Duration::from_secs(30)).send().await {
            Ok(res) => {
                let status = res.status().as_u16();
                let body = res.json().await.unwrap_or(Value::Null);
                Some(Some((status, body)))
            }
            Err(e) if e.is_connect() => {
                self.counts
                    .refused_connection
                    .fetch_add(1, Ordering::Relaxed);
                None
            }
            Err(_) => {
                self.counts.lost_answers.fetch_add(1, Ordering::Relaxed);
                Some(None)
            }
        }
    }

    async fn post(&self, at: usize, path: &str, body: Value) -> Answer {
        let url = format!("{}{path}", self.bases[at % INSTANCES]);
        self.send(
            self.client
                .post(url)
                .header("authorization", AUTH)
                .json(&body),
        )
        .await
    }

    fn unsure(&self, id: &str) {
        if let Some(k) = self.model.lock().unwrap().get_mut(id) {
            k.unsure = true;
        }
    }

    /// A check of `code` on instance `at`, recorded in the model.
    async fn check(&self, at: usize, id: &str, code: &str) {
        self.counts.op("check");
        let right = self.model.lock().unwrap()[id].code == code;
        match self
            .post(
                at,
                &format!("/v1/verifications/{id}/check"),
                json!({"code": code}),
            )
            .await
        {
            None => {}
            Some(None) => self.unsure(id),
            Some(Some((status, body))) => {
                let mut model = self.model.lock().unwrap();
                let k = model.get_mut(id).unwrap();
                match (status, body["verified"].as_bool(), body["reason"].as_str()) {
                    (200, Some(true), _) => {
                        assert!(right, "{id}: a wrong code verified: {body}");
                        k.successes += 1;
                    }
                    (200, Some(false), Some("incorrect_code")) if !right => k.wrong_answered += 1,
                    (200, Some(false), Some("locked")) => k.locked_answered = true,
                    (200, Some(false), _) | (409, _, _) | (429, _, _) => {}
                    (503, _, _) => k.unsure = true,
                    _ => panic!("{id}: check answered {status} {body}"),
                }
            }
        }
    }

    async fn run(self: Arc<Self>, worker: usize) {
        let mut n = 0u64;
        while !self.stop.load(Ordering::Relaxed) {
            n += 1;
            let id = format!("s{worker}-{n}");
            let (home, choice, code) = {
                let mut rng = rand::rng();
                (
                    rng.random_range(0..INSTANCES),
                    rng.random_range(0..100u32),
                    format!("{:06}", rng.random_range(0..1_000_000u32)),
                )
            };
            self.model.lock().unwrap().insert(
                id.clone(),
                Known {
                    code: code.clone(),
                    ..Known::default()
                },
            );
            self.counts.op("create");
            let created = self
                .post(
                    home,
                    "/v1/verifications",
                    json!({"id": id, "provider": "console", "to": format!("{id}@example.com"),
                        "code": code, "max_attempts": MAX_ATTEMPTS, "max_sends": MAX_SENDS, "ttl": 3600}),
                )
                .await;
            let token = match created {
                Some(Some((201, body))) => {
                    body["client_token"].as_str().unwrap_or_default().to_owned()
                }
                Some(Some((503, _))) | Some(None) => {
                    self.unsure(&id);
                    continue;
                }
                None => {
                    self.model.lock().unwrap().remove(&id);
                    continue;
                }
                Some(Some((status, body))) => panic!("{id}: create answered {status} {body}"),
            };
            let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
            match choice {
                // A page view, then the right code.
                0..=19 => {
                    self.counts.op("page");
                    let url = format!("{}/otp/soak/{id}", self.bases[(home + 1) % INSTANCES]);
                    if let Some(Some((status, _))) = self.send(self.client.get(url)).await {
                        assert!(status == 200, "{id}: page answered {status}");
                    }
                    self.check(home + 2, &id, &code).await;
                }
                // Wrong codes, then the right one, each on another instance.
                20..=49 => {
                    for at in 0..(choice % 3) as usize {
                        self.check(home + at, &id, &wrong).await;
                    }
                    self.check(home + 1, &id, &code).await;
                }
                // The right code to two instances at once: one success at most.
                50..=64 => {
                    self.counts.double_sent.fetch_add(1, Ordering::Relaxed);
                    tokio::join!(
                        self.check(home, &id, &code),
                        self.check(home + 1, &id, &code)
                    );
                }
                // Locked by wrong codes; the right code after is refused.
                65..=79 => {
                    for at in 0..MAX_ATTEMPTS as usize {
                        self.check(home + at, &id, &wrong).await;
                    }
                    self.check(home + 1, &id, &code).await;
                }
                // Resends, then the right code.
                80..=91 => {
                    for at in 0..(MAX_SENDS as usize + 1) {
                        self.counts.op("resend");
                        match self
                            .post(
                                home + at,
                                &format!("/v1/verifications/{id}/resend"),
                                json!({}),
                            )
                            .await
                        {
                            Some(Some((status, body))) => assert!(
                                matches!(status, 200 | 409 | 429 | 503),
                                "{id}: resend answered {status} {body}"
                            ),
                            Some(None) => self.unsure(&id),
                            None => {}
                        }
                    }
                    self.check(home + 2, &id, &code).await;
                }
                // Live: subscribed on one instance, verified through another.
                _ => {
                    self.counts.op("live");
                    let url = format!(
                        "{}/v1/verifications/{id}/events?token={token}",
                        self.bases[(home + 1) % INSTANCES]
                    );
                    let Ok(mut stream) = self
                        .client
                        .get(url)
                        .header("authorization", AUTH)
                        .send()
                        .await
                    else {
                        continue;
                    };
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    self.check(home + 2, &id, &code).await;
                    if self.model.lock().unwrap()[&id].successes == 1 {
                        self.counts.live_expected.fetch_add(1, Ordering::Relaxed);
                        let seen = tokio::time::timeout(Duration::from_secs(5), async {
                            let mut text = String::new();
                            while let Ok(Some(chunk)) = stream.chunk().await {
                                text.push_str(&String::from_utf8_lossy(&chunk));
                                if text.contains("verified") {
                                    return true;
                                }
                            }
                            false
                        })
                        .await;
                        if seen == Ok(true) {
                            self.counts.live_seen.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
        }
    }
}

async fn fresh_database() -> String {
    use sqlx::Connection;
    let admin = std::env::var("OTPGATE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("otpgate_soak_{}", std::process::id());
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .expect("PostgreSQL on 127.0.0.1:5432");
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    format!("{}/{name}", admin.rsplit_once('/').unwrap().0)
}

#[tokio::main]
async fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let secs = args.first().copied().unwrap_or(600);
    let kill_every = args.get(1).copied().unwrap_or(60).max(5);
    let database_url = fresh_database().await;
    let root = tempfile::tempdir().unwrap();
    let config = root.path().join("otpgate.toml");
    std::fs::write(
        &config,
        "[app]\nenvironment = \"development\"\n\n[auth.soak]\nnamespace = \"soak\"\nsecret = \"soak-secret-123\"\n\n\
         [limits]\ncaller_limits = false\nresend_cooldown = 0\n\n[delivery]\nlease = \"5s\"\npoll_interval = \"200ms\"\n",
    )
    .unwrap();
    let mut instances: Vec<Instance> = (0..INSTANCES)
        .map(|i| Instance {
            child: None,
            port: std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port(),
            dir: root.path().join(format!("instance-{i}")),
            samples: Vec::new(),
            lives: Vec::new(),
        })
        .collect();
    // The first makes the keys; the others share them.
    instances[0].spawn(&config, &database_url);
    ready(&instances[0].base()).await;
    for i in 1..INSTANCES {
        std::fs::create_dir_all(&instances[i].dir).unwrap();
        std::fs::copy(
            instances[0].dir.join("keys.toml"),
            instances[i].dir.join("keys.toml"),
        )
        .unwrap();
        instances[i].spawn(&config, &database_url);
        ready(&instances[i].base()).await;
    }
    println!(
        "otpgate soak: {INSTANCES} instances on PostgreSQL, {WORKERS} workers, {secs} s, one instance killed every {kill_every} s"
    );
    let load = Arc::new(Load {
        client: reqwest::Client::builder().build().unwrap(),
        bases: instances.iter().map(Instance::base).collect(),
        model: Mutex::default(),
        counts: Counts::default(),
        stop: AtomicBool::new(false),
    });
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| tokio::spawn(load.clone().run(w)))
        .collect();
    let began = Instant::now();
    let mut kills = 0;
    let mut next_kill = Duration::from_secs(kill_every);
    while began.elapsed() < Duration::from_secs(secs) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let at = began.elapsed().as_secs_f64();
        for instance in &mut instances {
            instance.sample(at);
        }
        if began.elapsed() >= next_kill {
            let victim = kills % INSTANCES;
            instances[victim].kill();
            kills += 1;
            tokio::time::sleep(Duration::from_millis(500)).await;
            instances[victim].spawn(&config, &database_url);
            ready(&instances[victim].base()).await;
            next_kill += Duration::from_secs(kill_every);
        }
    }
    load.stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.expect("a worker found the model broken");
    }
    let ran = began.elapsed();

    // The model against what otpgate says, through the instances in turn.
    let model = std::mem::take(&mut *load.model.lock().unwrap());
    let (mut compared, mut unsure, mut doubles) = (0, 0, 0);
    let mut states: HashMap<String, u64> = HashMap::new();
    for (n, (id, k)) in model.iter().enumerate() {
        if k.successes > 1 {
            doubles += 1;
        }
        let url = format!("{}/v1/verifications/{id}", load.bases[n % INSTANCES]);
        let res = load
            .client
            .get(url)
            .header("authorization", AUTH)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        if k.unsure {
            unsure += 1;
            if status == 200 {
                let state = body["status"].as_str().unwrap_or_default();
                assert!(
                    state != "verified" || k.wrong_answered < MAX_ATTEMPTS,
                    "{id}: verified after its attempts were spent: {k:?}"
                );
            }
            continue;
        }
        assert_eq!(status, 200, "{id}: acknowledged create missing: {body}");
        let expected = if k.successes > 0 {
            "verified"
        } else if k.wrong_answered >= MAX_ATTEMPTS || k.locked_answered {
            "locked"
        } else {
            "pending"
        };
        let state = body["status"].as_str().unwrap_or_default().to_owned();
        assert_eq!(
            state, expected,
            "{id}: otpgate says {state}, the model {expected}: {k:?} {body}"
        );
        *states.entry(state).or_default() += 1;
        compared += 1;
    }
    assert_eq!(doubles, 0, "verifications that succeeded twice");

    // Budgets and the outbox, straight from the database.
    use sqlx::{Connection, Row};
    let mut db = sqlx::PgConnection::connect(&database_url).await.unwrap();
    let over: i64 = sqlx::query(
        "SELECT COUNT(*) FROM verification WHERE attempts > max_attempts OR sends > max_sends",
    )
    .fetch_one(&mut db)
    .await
    .unwrap()
    .get(0);
    assert_eq!(over, 0, "verifications over their attempt or send budget");
    let waited = Instant::now();
    let left = loop {
        let left: i64 = sqlx::query(
            "SELECT COUNT(*) FROM delivery WHERE status IN ('queued', 'sending', 'dead')",
        )
        .fetch_one(&mut db)
        .await
        .unwrap()
        .get(0);
        if left == 0 || waited.elapsed() > Duration::from_secs(30) {
            break left;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let outbox: Vec<(String, i64)> =
        sqlx::query("SELECT status, COUNT(*) FROM delivery GROUP BY status ORDER BY status")
            .fetch_all(&mut db)
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
    assert_eq!(
        left, 0,
        "the outbox still holds rows 30 s after the load: {outbox:?}"
    );

    let ops = load.counts.ops.lock().unwrap().clone();
    let total: u64 = ops.values().sum();
    println!(
        "ran {:.0} s: {total} operations {ops:?}, {kills} kills",
        ran.as_secs_f64()
    );
    println!(
        "requests to a stopped instance: {}, answers lost with a killed instance: {}",
        load.counts.refused_connection.load(Ordering::Relaxed),
        load.counts.lost_answers.load(Ordering::Relaxed)
    );
    println!(
        "model: {} verifications, {compared} compared and all match {states:?}, {unsure} with a lost answer (checked for consistency only); double successes 0 of {} right codes sent twice at once; budgets exceeded 0",
        model.len(),
        load.counts.double_sent.load(Ordering::Relaxed)
    );
    println!(
        "live: {} of {} subscribers on another instance saw the verification; outbox {outbox:?}",
        load.counts.live_seen.load(Ordering::Relaxed),
        load.counts.live_expected.load(Ordering::Relaxed)
    );
    for (i, instance) in instances.iter_mut().enumerate() {
        instance.kill();
        for (life, samples) in instance.lives.iter().enumerate() {
            let rss: Vec<(f64, f64)> = samples.iter().map(|s| (s.0, s.1 / 1024.0)).collect();
            let fds: Vec<(f64, f64)> = samples.iter().map(|s| (s.0, s.2)).collect();
            if let (Some(r), Some(f)) = (slope(&rss), slope(&fds)) {
                println!(
                    "instance {i} life {life}: {} samples, RSS {:.1} → {:.1} MB ({:+.2} MB/min), fds {:.0} → {:.0} ({:+.1}/min)",
                    samples.len(), r.1, r.2, r.0, f.1, f.2, f.0
                );
            }
        }
    }
    let live_expected = load.counts.live_expected.load(Ordering::Relaxed);
    assert!(
        load.counts.live_seen.load(Ordering::Relaxed) * 10 >= live_expected * 9,
        "live subscribers missed their verification"
    );
    drop(db);
    drop_database(&database_url).await;
    println!("soak passed");
}

/// Drops the soak's database (a failed soak keeps it, to look at).
async fn drop_database(database_url: &str) {
    use sqlx::Connection;
    let (admin, name) = database_url.rsplit_once('/').unwrap();
    let admin =
        std::env::var("OTPGATE_TEST_POSTGRES").unwrap_or_else(|_| format!("{admin}/postgres"));
    if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn)
            .await;
    }
}
