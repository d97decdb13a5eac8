//! Load benchmark: starts the release `otpgate` binary on loopback, drives it with a closed
//! loop to find each route's maximum throughput, then with an open loop at half of it to
//! measure latency (corrected for coordinated omission: each latency counts from the
//! moment the request was due, not from when it was sent). Prints create and check
//! throughput as ratios to the bare `/healthz` route of the same binary, on SQLite and on
//! PostgreSQL; and, on PostgreSQL, create and check with the stats rollups turned off, to
//! show what keeping them costs (SQLite's writer adds them in each batch's commit).
//!
//! `make bench`, or: cargo build --release -p server --bin otpgate &&
//! cargo run --release -p server --example bench -- [sqlite|postgres|both] [seconds];
//! `-- memory [creates]` prints the server's RSS over a long run of creates (`make
//! bench-memory`).

use serde_json::json;
use std::{
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

const CONCURRENCY: usize = 32;

/// The closed loop's connections: `BENCH_CONCURRENCY`, else [`CONCURRENCY`].
fn concurrency() -> usize {
    std::env::var("BENCH_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CONCURRENCY)
}
/// The open loop's connection ceiling (see `open_loop`).
const MAX_CONNECTIONS: usize = 256;
const AUTH: &str = "Bearer bench:bench-secret-123";

#[derive(Clone, Copy, PartialEq)]
enum Route {
    Hello,
    Create,
    Check,
    /// The hosted code page, rendered on the server, its state from the view cache.
    Page,
    /// The same page as it is shown right after one of its form posts (`?result=`): its
    /// state read from the database.
    PageFresh,
    /// The same verification's state as JSON (otpgateway's status poll), from the view
    /// cache: the page's read without the rendering.
    PageState,
}

/// Open verifications whose pages are viewed in turn.
const PAGES: usize = 1000;

struct Server {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start(database_url: Option<String>, extra_toml: &str) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("otpgate.toml");
    std::fs::write(
        &config,
        format!("[app]\nenvironment = \"development\"\n\n[auth.bench]\nnamespace = \"bench\"\nsecret = \"bench-secret-123\"\n\n[limits]\ncaller_limits = false\n\n{extra_toml}"),
    )
    .unwrap();
    let mut cmd = Command::new("target/release/otpgate");
    cmd.args(["--config", config.to_str().unwrap(), "serve"])
        .env("OTPGATE_ADDRESS", format!("127.0.0.1:{port}"))
        .env("OTPGATE_DATA_DIR", dir.path().join("data"))
        .env("RUST_LOG", "error")
        .stdout(Stdio::null());
    if let Some(url) = database_url {
        cmd.env("OTPGATE_DATABASE_URL", url);
    }
    let child = cmd
        .spawn()
        .expect("build target/release/otpgate first (make bench does)");
    // Owned by `Server` from here on, so it is killed and reaped whatever happens.
    let server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
        _dir: dir,
    };
    let client = reqwest::Client::new();
    for _ in 0..300 {
        let ready = client.get(format!("{}/readyz", server.base)).send().await;
        if ready.is_ok_and(|r| r.status().is_success()) {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("otpgate did not start");
}

/// Ids of created, still unchecked verifications (code `123456`), and how many pages
/// were viewed.
#[derive(Default)]
struct Pool {
    created: AtomicUsize,
    checked: AtomicUsize,
    viewed: AtomicUsize,
}

async fn request(client: &reqwest::Client, base: &str, route: Route, pool: &Pool) -> bool {
    let res = match route {
        Route::Hello => client.get(format!("{base}/healthz")).send().await,
        Route::Page | Route::PageFresh | Route::PageState => {
            let n = pool.viewed.fetch_add(1, Ordering::Relaxed) % PAGES;
            let url = match route {
                Route::Page => format!("{base}/otp/bench/page-{n}"),
                Route::PageFresh => format!("{base}/otp/bench/page-{n}?result=sent"),
                _ => format!("{base}/otp/bench/page-{n}/status"),
            };
            client.get(url).send().await
        }
        Route::Create => {
            let n = pool.created.fetch_add(1, Ordering::SeqCst);
            client
                .post(format!("{base}/v1/verifications"))
                .header("authorization", AUTH)
                .json(&json!({"id": format!("b-{n}"), "provider": "console", "to": format!("b{n}@example.com"), "code": "123456"}))
                .send()
                .await
        }
        Route::Check => {
            let n = pool.checked.fetch_add(1, Ordering::SeqCst);
            if n >= pool.created.load(Ordering::SeqCst) {
                return false;
            }
            client
                .post(format!("{base}/v1/verifications/b-{n}/check"))
                .header("authorization", AUTH)
                .json(&json!({"code": "123456"}))
                .send()
                .await
        }
    };
    match res {
        Ok(r) if r.status().is_success() => {
            let ok = route != Route::Check
                || r.text()
                    .await
                    .is_ok_and(|t| t.contains("\"verified\":true"));
            assert!(ok, "a check did not verify");
            true
        }
        Ok(r) => panic!("{} answered {}", base, r.status()),
        Err(e) => panic!("request failed: {e}"),
    }
}

/// Requests per second with `CONCURRENCY` workers back to back for `secs`.
async fn max_rps(
    client: &reqwest::Client,
    base: &str,
    route: Route,
    pool: &Arc<Pool>,
    secs: u64,
) -> f64 {
    closed_loop(client, base, route, pool, secs).await.0
}

/// As [`max_rps`], with the number of requests answered. A check's loop ends early once
/// every verification created so far has been checked.
async fn closed_loop(
    client: &reqwest::Client,
    base: &str,
    route: Route,
    pool: &Arc<Pool>,
    secs: u64,
) -> (f64, f64) {
    let done = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs(secs);
    let workers: Vec<_> = (0..concurrency())
        .map(|_| {
            let (client, base, pool, done) =
                (client.clone(), base.to_owned(), pool.clone(), done.clone());
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    if !request(&client, &base, route, &pool).await {
                        break;
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    let done = done.load(Ordering::Relaxed) as f64;
    (done / start.elapsed().as_secs_f64(), done)
}

/// Latencies of an open loop at `rate` per second for `secs`, measured from each
/// request's due time.
async fn open_loop(
    client: &reqwest::Client,
    base: &str,
    route: Route,
    pool: &Arc<Pool>,
    rate: f64,
    secs: u64,
) -> Vec<Duration> {
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let total = (rate * secs as f64) as usize;
    let mut tasks = Vec::with_capacity(total);
    // At most this many connections: beyond it a request waits for one, and that wait
    // counts in its latency (measured from its due time), but the loopback's ephemeral
    // ports are not burnt through by thousands of short-lived connections.
    let connections = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    for i in 0..total {
        let due = start + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        let (client, base, pool, latencies, connections) = (
            client.clone(),
            base.to_owned(),
            pool.clone(),
            latencies.clone(),
            connections.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let _slot = connections.acquire().await.expect("never closed");
            if request(&client, &base, route, &pool).await {
                latencies.lock().unwrap().push(due.elapsed());
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut l = latencies.lock().unwrap().clone();
    l.sort();
    l
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

/// The group commit so far, from the server's `/metrics`: writes, commits, the seconds
/// writes held the writer connection and waited for it, and the seconds commits took, in
/// all; then the outbox's messages sent, rows handed over by creates and claimed, and its
/// depth now.
async fn batches(client: &reqwest::Client, base: &str) -> [f64; 13] {
    let text = scrape(client, base).await;
    // Summed over labels.
    let value = |name: &str| -> f64 {
        text.lines()
            .filter_map(|l| {
                let rest = l.strip_prefix(name)?;
                let rest = match rest.strip_prefix('{') {
                    Some(labelled) => labelled.split_once('}')?.1,
                    None => rest,
                };
                rest.strip_prefix(' ')?.parse::<f64>().ok()
            })
            .sum()
    };
    [
        value("otpgate_write_batch_writes_sum"),
        value("otpgate_write_batch_writes_count"),
        value("otpgate_write_hold_seconds_sum"),
        value("otpgate_write_queue_seconds_sum"),
        value("otpgate_write_commit_seconds_sum"),
        value("otpgate_messages_sent_total"),
        value("otpgate_outbox_taken_total{how=\"handed\"}"),
        value("otpgate_outbox_taken_total{how=\"claimed\"}"),
        value("otpgate_outbox_depth"),
        value("otpgate_http_request_duration_seconds_sum"),
        value("otpgate_http_request_duration_seconds_count"),
        value("otpgate_read_batch_reads_sum"),
        value("otpgate_read_batch_reads_count"),
    ]
}

/// The server's `/metrics` as text.
async fn scrape(client: &reqwest::Client, base: &str) -> String {
    let res = client.get(format!("{base}/metrics")).send().await.unwrap();
    res.text().await.unwrap()
}

/// A histogram's cumulative buckets in a scrape, summed over its labels (but those of
/// `GET /metrics` itself): each upper bound in seconds with its count, in order.
fn buckets(text: &str, name: &str) -> Vec<(f64, f64)> {
    let mut sums: Vec<(f64, f64)> = Vec::new();
    let prefix = format!("{name}_bucket{{");
    for line in text.lines().filter(|l| l.starts_with(&prefix)) {
        if line.contains("route=\"/metrics\"") {
            continue;
        }
        let Some((labels, value)) = line.rsplit_once("} ") else {
            continue;
        };
        let Some(le) = labels
            .split("le=\"")
            .nth(1)
            .and_then(|l| l.split('"').next())
        else {
            continue;
        };
        let le = if le == "+Inf" {
            f64::INFINITY
        } else {
            le.parse().unwrap_or(f64::NAN)
        };
        let value: f64 = value.trim().parse().unwrap_or(0.0);
        match sums.iter_mut().find(|(bound, _)| *bound == le) {
            Some((_, sum)) => *sum += value,
            None => sums.push((le, value)),
        }
    }
    sums.sort_by(|a, b| a.0.total_cmp(&b.0));
    sums
}

/// What a histogram gained between two scrapes, as a tail: the bucket that holds its 99th
/// percentile ("≤ 2 ms"), the share of samples over 5 ms, the bucket of the slowest and
/// the number of samples.
fn tail(before: &str, after: &str, name: &str) -> String {
    let (b0, b1) = (buckets(before, name), buckets(after, name));
    let count =
        |b: &[(f64, f64)], le: f64| b.iter().find(|(x, _)| *x == le).map_or(0.0, |(_, c)| *c);
    let gained: Vec<(f64, f64)> = b1.iter().map(|&(le, c)| (le, c - count(&b0, le))).collect();
    let total = gained.last().map_or(0.0, |(_, c)| *c);
    if total <= 0.0 {
        return "-".into();
    }
    // The first bucket that holds `share` of the samples, in milliseconds.
    let holding = |share: f64| {
        gained
            .iter()
            .find(|(_, c)| *c >= share * total)
            .map_or(f64::INFINITY, |(le, _)| le * 1000.0)
    };
    let over_5ms = 100.0 * (1.0 - count(&gained, 0.005) / total);
    format!(
        "≤ {} ms, {over_5ms:.1}% > 5 ms, max ≤ {} ms ({total:.0})",
        holding(0.99),
        holding(1.0)
    )
}

/// Turns PostgreSQL's stats rollups off (`restore` false) or back on (`restore` true),
/// through a second connection to the server's database: the transaction id on each event
/// and its index (without them the folder finds nothing to fold). SQLite's writer adds
/// each batch's events to the rollups before it commits, with nothing to turn off.
async fn rollups(db: &str, restore: bool) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(db).await.unwrap();
    let sql: &[&str] = match restore {
        false => &[
            "ALTER TABLE event ALTER COLUMN txn DROP DEFAULT",
            "DROP INDEX event_txn",
        ],
        true => &[
            "ALTER TABLE event ALTER COLUMN txn SET DEFAULT (pg_current_xact_id()::text::bigint)",
            "CREATE INDEX event_txn ON event (txn) WHERE txn IS NOT NULL",
        ],
    };
    for sql in sql {
        sqlx::query(sql).execute(&mut conn).await.unwrap();
    }
}

async fn run(backend: &str, secs: u64) {
    let database_url = (backend == "postgres").then(|| {
        let name = format!("otpgate_bench_{}", std::process::id());
        let admin = std::env::var("OTPGATE_BENCH_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let status = Command::new("psql")
            .args([admin.as_str(), "-qc", &format!("CREATE DATABASE {name}")])
            .status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "psql could not create the bench database"
        );
        format!("{}/{name}", admin.rsplit_once('/').unwrap().0)
    });
    let server = start(database_url.clone(), "").await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(usize::MAX)
        .build()
        .unwrap();
    let pool = Arc::new(Pool::default());
    let base = server.base.clone();
    max_rps(&client, &base, Route::Hello, &pool, 1).await; // warm-up

    let cpu = CpuTimes::now(&server);
    let machine = machine_ticks();
    let (hello, hellos) = closed_loop(&client, &base, Route::Hello, &pool, secs).await;
    let hello_idle = idle_percent(machine, machine_ticks());
    let before = batches(&client, &base).await;
    let (cpu, hello_cpu) = CpuTimes::now(&server).since(cpu, hellos);
    let machine = machine_ticks();
    let (create, creates) = closed_loop(&client, &base, Route::Create, &pool, secs).await;
    let create_idle = idle_percent(machine, machine_ticks());
    let created = batches(&client, &base).await;
    let (cpu, create_cpu) = CpuTimes::now(&server).since(cpu, creates);
    let machine = machine_ticks();
    let (check, checks) = closed_loop(&client, &base, Route::Check, &pool, secs).await;
    let check_idle = idle_percent(machine, machine_ticks());
    let checked = batches(&client, &base).await;
    let (_, check_cpu) = CpuTimes::now(&server).since(cpu, checks);
    // Over the requests answered: a check's loop may end before `secs` are up.
    let check_secs = checks / check.max(1.0);
    let check_loop = if check_secs < secs as f64 - 0.1 {
        format!(
            " (the check loop ran out of verifications to check: {checks:.0} in {check_secs:.1} s)"
        )
    } else {
        String::new()
    };
    let cpu_line = format!(
        "server CPU per request (closed loop): hello {:.0} µs, create {:.0} µs, check {:.0} µs{check_loop}",
        hello_cpu[0], create_cpu[0], check_cpu[0],
    );
    // Where the machine's two cores went, per request: the server, PostgreSQL's processes
    // and the load generator.
    let split = |[server, postgres, bench]: [f64; 3]| {
        format!(
            "{server:.0} + {postgres:.0} + {bench:.0} = {:.0} µs",
            server + postgres + bench
        )
    };
    let split_line = format!(
        "CPU per request, server + PostgreSQL + load generator (closed loop): hello {}, create {}, check {}",
        split(hello_cpu),
        split(create_cpu),
        split(check_cpu),
    );
    let idle_line = format!(
        "the machine's CPU left idle (closed loop, /proc/stat): hello {hello_idle:.0}%, create {create_idle:.0}%, check {check_idle:.0}%"
    );
    let per_batch =
        |[w0, b0, h0, q0, c0, s0, handed0, claimed0, _, t0, n0, r0, rb0]: [f64; 13],
         [w1, b1, h1, q1, c1, s1, handed1, claimed1, depth, t1, n1, r1, rb1]: [f64; 13]| {
            let writes = w1 - w0;
            let batches = if b1 > b0 {
                format!(
                "{:.1} writes per commit ({:.0} commits, {:.0} µs each), each write waited {:.0} µs for the writer and held it {:.0} µs",
                writes / (b1 - b0),
                b1 - b0,
                (c1 - c0) / (b1 - b0) * 1e6,
                (q1 - q0) / writes * 1e6,
                (h1 - h0) / writes * 1e6
            )
            } else {
                "no write batches (one transaction per write)".to_owned()
            };
            // PostgreSQL's hot reads, in batches of their own.
            let reads = if rb1 > rb0 {
                format!(
                    "; {:.1} reads per statement ({:.0} statements)",
                    (r1 - r0) / (rb1 - rb0),
                    rb1 - rb0
                )
            } else {
                String::new()
            };
            format!(
            "{:.0} µs per request in the server's handlers; {batches}{reads}; the outbox sent {:.0} messages ({:.0} rows handed over by their creates, {:.0} claimed), {depth:.0} still queued",
            (t1 - t0) / (n1 - n0).max(1.0) * 1e6,
            s1 - s0,
            handed1 - handed0,
            claimed1 - claimed0
        )
        };
    let batching = format!(
        "group commit: create {}; check {}",
        per_batch(before, created),
        per_batch(created, checked)
    );
    // On PostgreSQL, the same two without the stats rollups: what keeping them costs.
    let bare = match &database_url {
        Some(db) => {
            rollups(db, false).await;
            let create_bare = max_rps(&client, &base, Route::Create, &pool, secs).await;
            let check_bare = max_rps(&client, &base, Route::Check, &pool, secs).await;
            rollups(db, true).await;
            Some((create_bare, check_bare))
        }
        None => None,
    };
    // Open verifications whose pages are viewed in turn.
    for n in 0..PAGES {
        let res = client
            .post(format!("{base}/v1/verifications"))
            .header("authorization", AUTH)
            .json(&json!({"id": format!("page-{n}"), "provider": "console", "to": format!("page{n}@example.com"), "ttl": 86400}))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success());
    }
    let page = max_rps(&client, &base, Route::Page, &pool, secs).await;
    let page_fresh = max_rps(&client, &base, Route::PageFresh, &pool, secs).await;
    let page_state = max_rps(&client, &base, Route::PageState, &pool, secs).await;

    let mut rows = Vec::new();
    let mut tails = Vec::new();
    for (name, route, max) in [
        ("hello", Route::Hello, hello),
        ("create", Route::Create, create),
        ("check", Route::Check, check),
        ("page", Route::Page, page),
        ("page, fresh read", Route::PageFresh, page_fresh),
        ("page state", Route::PageState, page_state),
    ] {
        if route == Route::Check {
            // Enough fresh verifications for the open loop.
            let need = (max / 2.0 * secs as f64) as usize + 1;
            while pool.created.load(Ordering::SeqCst) < pool.checked.load(Ordering::SeqCst) + need {
                request(&client, &base, Route::Create, &pool).await;
            }
        }
        let before = scrape(&client, &base).await;
        let lat = open_loop(&client, &base, route, &pool, max / 2.0, secs).await;
        let after = scrape(&client, &base).await;
        rows.push((
            name,
            max,
            max / hello,
            pct(&lat, 0.5),
            pct(&lat, 0.99),
            pct(&lat, 0.999),
            lat.len(),
        ));
        // Where the tail is: in the server's handlers, and (SQLite) waiting for its writer
        // or in a batch of it; the buckets are those of `/metrics`.
        tails.push(format!(
            "| {name} | {} | {} | {} | {} |",
            tail(&before, &after, "otpgate_http_request_duration_seconds"),
            tail(&before, &after, "otpgate_write_queue_seconds"),
            tail(&before, &after, "otpgate_write_batch_open_seconds"),
            tail(&before, &after, "otpgate_wal_catch_up_seconds"),
        ));
    }
    println!("\n{backend}: {} connections closed loop for the maximum; open loop at half of it for latency ({secs} s each)", concurrency());
    println!("| route | max rps | × hello | p50 ms | p99 ms | p99.9 ms | requests at half load |");
    println!("|---|---|---|---|---|---|---|");
    for (name, max, ratio, p50, p99, p999, n) in rows {
        println!("| {name} | {max:.0} | {ratio:.2} | {p50:.2} | {p99:.2} | {p999:.2} | {n} |");
    }
    println!("\nthe open loops as the server saw them (`/metrics` buckets: 0.5, 1, 2, 5, 10, 20, 50 ms …):");
    println!("| route | in the handlers: p99 | a write waiting for the writer: p99 | a write batch open: p99 | the writer's WAL catch-up: p99 |");
    println!("|---|---|---|---|---|");
    for line in &tails {
        println!("{line}");
    }
    println!("\n{cpu_line}");
    println!("{split_line}");
    println!("{idle_line}");
    println!("\n{batching} (the outbox's writes included)");
    let cost = |with: f64, without: f64| (1.0 - with / without) * 100.0;
    match bare {
        Some((create_bare, check_bare)) => println!(
            "\nstats rollups: create {create:.0} rps with, {create_bare:.0} without ({:.1}% cost); \
             check {check:.0} with, {check_bare:.0} without ({:.1}% cost)",
            cost(create, create_bare),
            cost(check, check_bare)
        ),
        None => println!(
            "\nstats rollups: added by each write batch before its commit (in the commits above)"
        ),
    }
    drop(server);
    drain(database_url.clone(), 2000).await;
    if let Some(url) = database_url {
        let name = url.rsplit_once('/').unwrap().1.to_owned();
        let admin = std::env::var("OTPGATE_BENCH_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let _ = Command::new("psql")
            .args([
                admin.as_str(),
                "-qc",
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            ])
            .status();
    }
}

/// A provider stand-in on loopback: answers 503 while `down`, 200 otherwise, and counts.
struct FakeProvider {
    port: u16,
    down: Arc<std::sync::atomic::AtomicBool>,
    delivered: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
}

async fn fake_provider() -> FakeProvider {
    use std::sync::atomic::AtomicBool;
    let down = Arc::new(AtomicBool::new(true));
    let delivered = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let state = (down.clone(), delivered.clone(), refused.clone());
    let app = axum::Router::new()
        .fallback(
            |axum::extract::State((down, delivered, refused)): axum::extract::State<(
                Arc<AtomicBool>,
                Arc<AtomicUsize>,
                Arc<AtomicUsize>,
            )>| async move {
                if down.load(Ordering::SeqCst) {
                    refused.fetch_add(1, Ordering::SeqCst);
                    axum::http::StatusCode::SERVICE_UNAVAILABLE
                } else {
                    delivered.fetch_add(1, Ordering::SeqCst);
                    axum::http::StatusCode::OK
                }
            },
        )
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    FakeProvider {
        port,
        down,
        delivered,
        refused,
    }
}

/// The outbox after an outage: `n` verifications are created while the provider answers
/// 503 for ten seconds; then it recovers, and the time until every message is delivered is
/// the drain time. Then `n` more with the provider healthy, for the outbox's plain pace.
async fn drain(database_url: Option<String>, n: usize) {
    let provider = fake_provider().await;
    // Its messages go to consecutive numbers that nobody verifies: what the fraud guard's
    // pumping detector holds (`[guard.pumping]`), so it is off for this measurement.
    let extra = format!(
        "[guard.pumping]\nenabled = false\n\n[delivery]\nallow_loopback = true\npoll_interval = \"200ms\"\nretry_base = \"1s\"\nretry_max = \"10s\"\nbreaker_cooldown = \"2s\"\n\n[providers.gw]\ntype = \"http_sms\"\nurl = \"http://127.0.0.1:{}/sms\"\ntimeout = \"5s\"\n[providers.gw.json]\nto = \"{{{{ to }}}}\"\ntext = \"{{{{ body }}}}\"\n",
        provider.port
    );
    let server = start(database_url, &extra).await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let create_all = |offset: usize| {
        let client = client.clone();
        let base = server.base.clone();
        async move {
            let mut tasks = tokio::task::JoinSet::new();
            for i in offset..offset + n {
                let client = client.clone();
                let base = base.clone();
                tasks.spawn(async move {
                    let res = client
                        .post(format!("{base}/v1/verifications"))
                        .header("authorization", AUTH)
                        .json(&json!({"id": format!("d-{i}"), "provider": "gw", "to": format!("+1415{}{:04}", 200 + i / 10_000, i % 10_000)}))
                        .send()
                        .await
                        .unwrap();
                    assert!(res.status().is_success(), "create answered {}", res.status());
                });
                if tasks.len() >= CONCURRENCY {
                    tasks.join_next().await;
                }
            }
            while tasks.join_next().await.is_some() {}
        }
    };
    let wait_for = |target: usize| {
        let delivered = provider.delivered.clone();
        async move {
            let started = Instant::now();
            while delivered.load(Ordering::SeqCst) < target {
                assert!(
                    started.elapsed() < Duration::from_secs(300),
                    "the backlog did not drain"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            started.elapsed()
        }
    };
    create_all(0).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let refused = provider.refused.load(Ordering::SeqCst);
    provider.down.store(false, Ordering::SeqCst);
    let drained = wait_for(n).await;
    let started = Instant::now();
    create_all(n).await;
    wait_for(2 * n).await;
    let healthy = started.elapsed();
    println!(
        "outbox: {n} messages queued during a 10 s outage ({refused} refused attempts reached the provider; the circuit breaker held back the rest) drained {:.1} s after recovery; {n} more with a healthy provider were created and delivered in {:.1} s ({:.0} messages/s)",
        drained.as_secs_f64(),
        healthy.as_secs_f64(),
        n as f64 / healthy.as_secs_f64()
    );
    assert_eq!(
        provider.delivered.load(Ordering::SeqCst),
        2 * n,
        "each message exactly once"
    );
}

/// CPU time (user and system) so far, in seconds, of the server, of PostgreSQL's processes
/// (every process named `postgres`, its backends and its background writers alike; none
/// on SQLite), and of this load generator. A process that exits between two readings
/// takes its time with it; PostgreSQL's backends here live as long as the server's pool.
#[derive(Clone, Copy)]
struct CpuTimes {
    server: f64,
    postgres: f64,
    bench: f64,
}

impl CpuTimes {
    fn now(server: &Server) -> Self {
        let stat = |pid: &str| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok();
        let postgres = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| stat(entry.file_name().to_str()?))
            .filter(|stat| stat.contains(" (postgres) "))
            .filter_map(|stat| process_cpu_secs(&stat))
            .sum();
        Self {
            server: stat(&server.child.id().to_string())
                .and_then(|s| process_cpu_secs(&s))
                .unwrap_or(f64::NAN),
            postgres,
            bench: stat("self")
                .and_then(|s| process_cpu_secs(&s))
                .unwrap_or(f64::NAN),
        }
    }

    /// This reading, and the time each spent since `earlier` per request, in
    /// microseconds: [server, PostgreSQL, load generator].
    fn since(self, earlier: Self, requests: f64) -> (Self, [f64; 3]) {
        let per = |now: f64, then: f64| (now - then) / requests.max(1.0) * 1e6;
        let spent = [
            per(self.server, earlier.server),
            per(self.postgres, earlier.postgres),
            per(self.bench, earlier.bench),
        ];
        (self, spent)
    }
}

/// A process's CPU time (user and system) from its `/proc/<pid>/stat`, in seconds.
fn process_cpu_secs(stat: &str) -> Option<f64> {
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
    // utime and stime, fields 14 and 15 of proc(5), in clock ticks of 1/100 s.
    Some((ticks(11)? + ticks(12)?) / 100.0)
}

/// The whole machine's CPU time so far, from `/proc/stat`'s first line: (idle, all), in
/// clock ticks; idle counts `idle` and `iowait`.
fn machine_ticks() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<f64> = stat
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("cpu "))
        .map(|l| {
            l.split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let idle = ticks.get(3).copied().unwrap_or(f64::NAN) + ticks.get(4).copied().unwrap_or(0.0);
    (idle, ticks.iter().sum())
}

/// The share of the machine's CPU time left idle between two readings of
/// [`machine_ticks`], in percent.
fn idle_percent((idle0, all0): (f64, f64), (idle1, all1): (f64, f64)) -> f64 {
    (idle1 - idle0) / (all1 - all0) * 100.0
}

/// The server's resident memory (`VmRSS`), in MB.
fn rss_mb(server: &Server) -> f64 {
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Memory over a long run: `total` creates (each sent by the outbox) on SQLite through 32
/// connections, the server's RSS printed at each tenth.
async fn memory(total: usize) {
    let server = start(None, "").await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(usize::MAX)
        .build()
        .unwrap();
    let pool = Arc::new(Pool::default());
    println!("memory: {total} creates on SQLite; server RSS after each tenth");
    println!("| creates | RSS MB | creates/s in that tenth |");
    println!("|---|---|---|");
    println!("| 0 | {:.1} | |", rss_mb(&server));
    let step = total / 10;
    for tenth in 1..=10 {
        let started = Instant::now();
        let target = tenth * step;
        let workers: Vec<_> = (0..CONCURRENCY)
            .map(|_| {
                let (client, base, pool) = (client.clone(), server.base.clone(), pool.clone());
                tokio::spawn(async move {
                    while pool.created.load(Ordering::SeqCst) < target {
                        request(&client, &base, Route::Create, &pool).await;
                    }
                })
            })
            .collect();
        for w in workers {
            w.await.unwrap();
        }
        let rate = step as f64 / started.elapsed().as_secs_f64();
        println!(
            "| {} | {:.1} | {rate:.0} |",
            pool.created.load(Ordering::SeqCst),
            rss_mb(&server)
        );
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let which = args.get(1).map(String::as_str).unwrap_or("both");
    if which == "memory" {
        let total = args
            .get(2)
            .and_then(|s| s.parse().ok())
            .unwrap_or(1_000_000);
        memory(total).await;
        return;
    }
    let secs: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5);
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!("otpgate benchmark: load generator and server on one machine ({cores} cores), loopback only");
    for backend in ["sqlite", "postgres"] {
        if which == backend || which == "both" {
            run(backend, secs).await;
        }
    }
}
