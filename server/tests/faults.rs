//! Faults with real processes. A PostgreSQL server of the test's own is killed (as a crash:
//! no checkpoint) in the middle of a load of creates and checks and started again: while it
//! is down every create and check answers 503 and none answers "verified"; otpgate
//! recovers by itself; every create and every success acknowledged before, during and
//! after the outage is there afterwards with its state. SQLite on a disk that fills up, or
//! turns read-only, under a running server: clear 503s, never a success it did not store,
//! recovery by itself once there is room again, and `PRAGMA integrity_check` ok.

mod support;

use serde_json::{json, Value};
use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};
use support::{
    cluster::Cluster, disk::SmallDisk, process::Server, spawn_app_at, spawn_app_in, TestApp,
    NAMESPACE, SECRET,
};

/// What one answer was, and when it came.
struct Answer {
    id: String,
    kind: &'static str,
    status: u16,
    verified: bool,
    at: Instant,
    took: Duration,
}

async fn call(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    post(&app.base, path, body).await
}

/// A native API call as the demo app to the server at `base`.
async fn post(base: &str, path: &str, body: Value) -> (u16, Value) {
    static CLIENT: std::sync::LazyLock<reqwest::Client> =
        std::sync::LazyLock::new(reqwest::Client::new);
    let sent = CLIENT
        .post(format!("{base}{path}"))
        .header("authorization", format!("Bearer {NAMESPACE}:{SECRET}"))
        .json(&body)
        .timeout(Duration::from_secs(30))
        .send()
        .await;
    match sent {
        Ok(res) => {
            let status = res.status().as_u16();
            (status, res.json().await.unwrap_or(Value::Null))
        }
        Err(e) => panic!("no answer from otpgate: {e}"),
    }
}

/// Creates with a known code and checks it, over and over, until `stop`.
async fn load(
    app: Arc<TestApp>,
    worker: usize,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Answer>>>,
) {
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let id = format!("f{worker}-{n}");
        let sent = Instant::now();
        let (status, _) = call(
            &app,
            "/v1/verifications",
            json!({"id": id, "provider": "console", "to": format!("{id}@example.com"), "code": "482915"}),
        )
        .await;
        log.lock().unwrap().push(Answer {
            id: id.clone(),
            kind: "create",
            status,
            verified: false,
            at: Instant::now(),
            took: sent.elapsed(),
        });
        if status != 201 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        let sent = Instant::now();
        let (status, body) = call(
            &app,
            &format!("/v1/verifications/{id}/check"),
            json!({"code": "482915"}),
        )
        .await;
        log.lock().unwrap().push(Answer {
            id,
            kind: "check",
            status,
            verified: body["verified"] == json!(true),
            at: Instant::now(),
            took: sent.elapsed(),
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_postgres_crash_answers_503_and_loses_nothing_acknowledged() {
    let cluster = Cluster::start_new();
    let app = Arc::new(spawn_app_at(&cluster.url(), "[limits]\ncaller_limits = false\n").await);
    let stop = Arc::new(AtomicBool::new(false));
    let log = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..24)
        .map(|w| tokio::spawn(load(app.clone(), w, stop.clone(), log.clone())))
        .collect();

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let down = Instant::now();
    cluster.kill();
    // Down until at least 20 requests have been answered meanwhile (a request waits up to
    // 5 s for a connection before it gives up), and at least 3 s.
    let settled_down = down + Duration::from_millis(200);
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let answered = log
            .lock()
            .unwrap()
            .iter()
            .filter(|a| a.at > settled_down)
            .count();
        if answered >= 20 && down.elapsed() >= Duration::from_secs(3) {
            break;
        }
        assert!(
            down.elapsed() < Duration::from_secs(60),
            "only {answered} requests were answered in 60 s without the database"
        );
    }
    let up = Instant::now();
    cluster.start();
    // otpgate recovers by itself: creates succeed again without a restart.
    let recovered = loop {
        let last_ok = log
            .lock()
            .unwrap()
            .iter()
            .filter(|a| a.kind == "create" && a.status == 201 && a.at > up)
            .count();
        if last_ok >= 50 {
            break up.elapsed();
        }
        assert!(
            up.elapsed() < Duration::from_secs(60),
            "otpgate did not recover within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }

    let log = std::mem::take(&mut *log.lock().unwrap());
    let during: Vec<&Answer> = log
        .iter()
        .filter(|a| a.at > settled_down && a.at < up)
        .collect();
    assert!(
        !during.is_empty(),
        "requests were answered during the outage"
    );
    for a in &during {
        assert_eq!(
            a.status, 503,
            "{} {} answered {} while the database was down",
            a.kind, a.id, a.status
        );
        assert!(!a.verified);
    }
    for a in &log {
        assert!(
            matches!(a.status, 200 | 201 | 503),
            "{} {} answered {}",
            a.kind,
            a.id,
            a.status
        );
    }
    // Every acknowledged create is stored; every acknowledged success is verified.
    let created: Vec<&Answer> = log
        .iter()
        .filter(|a| a.kind == "create" && a.status == 201)
        .collect();
    let verified: Vec<&Answer> = log
        .iter()
        .filter(|a| a.kind == "check" && a.verified)
        .collect();
    for a in &created {
        let (status, _, body) = app
            .v1(
                reqwest::Method::GET,
                &format!("/v1/verifications/{}", a.id),
                None,
            )
            .await;
        assert_eq!(status, 200, "acknowledged create {} is lost: {body}", a.id);
        if verified.iter().any(|v| v.id == a.id) {
            assert_eq!(body["status"], "verified", "{}: {body}", a.id);
        }
    }
    let refused = log.iter().filter(|a| a.status == 503).count();
    // A request without the database waits for a connection (5 s) and for the batch
    // ahead of it, never longer.
    let slowest = during.iter().map(|a| a.took).max().unwrap_or_default();
    assert!(
        slowest < Duration::from_secs(20),
        "a request waited {slowest:?} for the database"
    );
    eprintln!(
        "outage of {:?}: {} requests answered, {} creates and {} successes acknowledged, {} answered 503 ({} during the outage, the slowest after {slowest:?}), recovered {:?} after the restart",
        up - down,
        log.len(),
        created.len(),
        verified.len(),
        refused,
        during.len(),
        recovered
    );
    drop(cluster);
}

const CODE: &str = "482915";

async fn create(base: &str, id: &str) -> u16 {
    let body =
        json!({"id": id, "provider": "console", "to": format!("{id}@example.com"), "code": CODE});
    post(base, "/v1/verifications", body).await.0
}

/// A check with the right code: its status, and whether it said "verified".
async fn check(base: &str, id: &str) -> (u16, bool) {
    let (status, body) = post(
        base,
        &format!("/v1/verifications/{id}/check"),
        json!({"code": CODE}),
    )
    .await;
    (status, body["verified"] == json!(true))
}

/// Every acknowledged create is stored, every acknowledged success is verified, and the
/// SQLite file at `db` is sound.
async fn nothing_acknowledged_is_lost(
    base: &str,
    db: &std::path::Path,
    created: &[String],
    verified: &[String],
) {
    use sqlx::{Connection, Row};
    let client = reqwest::Client::new();
    for id in created {
        let res = client
            .get(format!("{base}/v1/verifications/{id}"))
            .header("authorization", format!("Bearer {NAMESPACE}:{SECRET}"))
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        assert_eq!(status, 200, "acknowledged create {id} is lost: {body}");
        if verified.contains(id) {
            assert_eq!(body["status"], "verified", "{id}: {body}");
        }
    }
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let row = sqlx::query("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(row.get::<String, _>(0), "ok");
}

/// Until a create succeeds again (at most `limit`): how long it took.
async fn until_created(
    base: &str,
    prefix: &str,
    created: &mut Vec<String>,
    limit: Duration,
) -> Duration {
    let started = Instant::now();
    for n in 0.. {
        let id = format!("{prefix}-{n}");
        match create(base, &id).await {
            201 => {
                created.push(id);
                return started.elapsed();
            }
            503 => {}
            other => panic!("create answered {other}"),
        }
        assert!(
            started.elapsed() < limit,
            "no create succeeded within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    unreachable!()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_on_a_full_disk_refuses_clearly_and_recovers_by_itself() {
    let Some(disk) = SmallDisk::mount(16 << 20) else {
        eprintln!("skipped: mounting a small tmpfs needs root");
        return;
    };
    let data = tempfile::tempdir_in(disk.path()).unwrap();
    let db = data.path().join("otpgate.db");
    let app = spawn_app_in(data, "[limits]\ncaller_limits = false\n").await;
    let base = app.base.clone();
    let (mut created, mut verified) = (Vec::new(), Vec::new());
    for n in 0..40 {
        let id = format!("before-{n}");
        assert_eq!(create(&base, &id).await, 201);
        if n % 2 == 0 {
            assert_eq!(check(&base, &id).await, (200, true));
            verified.push(id.clone());
        }
        created.push(id);
    }
    let filler = disk.fill();
    // Full: writes fail with 503 (once what SQLite had set aside is used), and a check
    // never says "verified" unless its write was stored.
    let (mut refused, mut tried) = (0, 0);
    while refused < 20 {
        tried += 1;
        assert!(tried < 5000, "the disk never filled up");
        let id = format!("full-{tried}");
        match create(&base, &id).await {
            201 => created.push(id),
            503 => refused += 1,
            other => panic!("create on a full disk answered {other}"),
        }
    }
    let unchecked: Vec<String> = created
        .iter()
        .filter(|id| !verified.contains(id))
        .take(10)
        .cloned()
        .collect();
    let mut checks_refused = 0;
    for id in unchecked {
        match check(&base, &id).await {
            (200, true) => verified.push(id),
            (503, false) => checks_refused += 1,
            other => panic!("check on a full disk answered {other:?}"),
        }
    }
    assert!(checks_refused > 0, "no check failed on the full disk");
    // Room again: otpgate carries on without a restart.
    std::fs::remove_file(filler).unwrap();
    let recovered = until_created(&base, "after", &mut created, Duration::from_secs(30)).await;
    nothing_acknowledged_is_lost(&base, &db, &created, &verified).await;
    eprintln!(
        "full disk: {tried} creates tried, {refused} refused, {checks_refused} checks refused; recovered {recovered:?} after space came back; {} verifications kept",
        created.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_on_a_read_only_disk_does_not_start_and_loses_nothing() {
    let Some(disk) = SmallDisk::mount(64 << 20) else {
        eprintln!("skipped: mounting a small tmpfs needs root");
        return;
    };
    let outside = tempfile::tempdir().unwrap();
    let config = outside.path().join("otpgate.toml");
    std::fs::write(
        &config,
        format!("[auth.demo]\nnamespace = \"{NAMESPACE}\"\nsecret = \"{SECRET}\"\n\n[limits]\ncaller_limits = false\n\n[providers.console]\nenabled = true\n"),
    )
    .unwrap();
    let data = disk.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let db = data.join("otpgate.db");
    let url = format!("sqlite://{}", db.display());
    let first = Server::start(&config, &data, &url).await;
    let (mut created, mut verified) = (Vec::new(), Vec::new());
    for n in 0..20 {
        let id = format!("rw-{n}");
        assert_eq!(create(&first.base, &id).await, 201);
        created.push(id);
    }
    assert_eq!(check(&first.base, "rw-0").await, (200, true));
    verified.push("rw-0".to_owned());
    first.terminate();

    disk.set_read_only(true);
    let refused = match Server::start_or_exit(&config, &data, &url).await {
        Ok(_) => panic!("otpgate started on a read-only database"),
        Err(said) => said,
    };
    assert!(
        refused.to_lowercase().contains("read"),
        "the reason names the read-only file: {refused}"
    );
    disk.set_read_only(false);
    let second = Server::start(&config, &data, &url).await;
    let recovered =
        until_created(&second.base, "back", &mut created, Duration::from_secs(30)).await;
    assert_eq!(check(&second.base, "rw-1").await, (200, true));
    verified.push("rw-1".to_owned());
    nothing_acknowledged_is_lost(&second.base, &db, &created, &verified).await;
    eprintln!("read-only disk: otpgate refused to start ({}); writable again, created within {recovered:?}", refused.trim().lines().last().unwrap_or_default());
}
