//! Stats and history at volume: fills a fresh database (SQLite file or a new PostgreSQL
//! database on 127.0.0.1) with a synthetic 90-day history of N verifications over five
//! apps of one tenant (their events, then their rollups rebuilt from the events), then
//! times what the dashboard does through the same `Gateway` calls its handlers make: the
//! app's 30-day stats, the history's first page (unfiltered, by status), a search by id,
//! by full address and by masked address; and streams a CSV-sized export of up to 1M rows, reporting the
//! growth of peak RSS.
//!
//! `make bench-history`, or: cargo run --release -p server --example history --
//! [sqlite|postgres|both] [verifications]

use app::gateway::{
    clock::SystemClock,
    code::{CodeHasher, CodeKey},
    delivery::Providers,
    store::{PostgresStore, SqliteStore, Store},
    tenants::{
        history::{Cursor, HistoryFilter},
        stats::Range,
        Session,
    },
    tokens::TokenKeys,
    EngineSettings, Gateway,
};
use sqlx::Connection;
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

const APPS: i64 = 5;
const DAY_MS: i64 = 86_400_000;
/// Rows inserted per statement while seeding.
const CHUNK: i64 = 200_000;
const SAMPLES: usize = 60;

/// The verifications of one chunk, `$1..=$2`, spread over 90 days before `$3`; `{seq}`
/// yields the numbers.
fn verification_insert(seq: &str, key: &str) -> String {
    format!(
        "INSERT INTO verification (app_id, public_id, provider, channel, address, code_hmac, \
         code_length, code_alphabet, attempts, max_attempts, sends, max_sends, status, \
         created_at, updated_at, expires_at, country, address_key) \
         SELECT 1 + n % {APPS}, 'seed-' || n, \
           CASE WHEN n % 3 = 0 THEN 'mail' ELSE 'sms' END, \
           CASE WHEN n % 3 = 0 THEN 'email' ELSE 'sms' END, \
           CASE WHEN n % 3 = 0 THEN 'user' || n || '@example.com' \
                ELSE '+4915' || (100000000 + n) END, \
           {key}, 6, 'digits', n % 3, 5, 1, 5, \
           CASE WHEN n / {APPS} % 10 < 7 THEN 'verified' WHEN n / {APPS} % 10 < 9 THEN 'expired' \
                ELSE 'locked' END, \
           $3 - {span} + n * ({span} / $4), $3 - {span} + n * ({span} / $4) + 20000, \
           $3 - {span} + n * ({span} / $4) + 600000, \
           CASE WHEN n % 3 = 0 THEN '' ELSE '+49' END, {key} \
         FROM {seq}",
        span = 90 * DAY_MS,
    )
}

/// The events of verifications `$1..=$2`, one statement per kind.
fn event_inserts() -> Vec<String> {
    let insert = |kind: &str, after: i64, detail: &str, tags: &str, when: &str| {
        format!(
            "INSERT INTO event (verification_id, kind, detail, created_at, app_id, channel, \
             provider, country, tags) \
             SELECT verification_id, '{kind}', '{detail}', created_at + {after}, app_id, \
             channel, provider, country, {tags} FROM verification \
             WHERE verification_id BETWEEN $1 AND $2 AND {when}"
        )
    };
    vec![
        insert("created", 0, "{}", "NULL", "true"),
        insert("sent", 900, "{}", "NULL", "true"),
        insert(
            "receipt",
            4000,
            "{\"status\":\"delivered\"}",
            "'[\"receipt:delivered\",\"latency:2\"]'",
            "verification_id % 10 <> 3",
        ),
        insert("attempt", 15000, "{}", "NULL", "attempts > 0"),
        insert(
            "verified",
            20000,
            "{}",
            "'[\"ttv:4\",\"tries:0\"]'",
            "status = 'verified'",
        ),
        insert("expired", 600000, "{}", "NULL", "status = 'expired'"),
        insert("locked", 20000, "{}", "NULL", "status = 'locked'"),
    ]
}

struct Bench {
    gw: Gateway,
    session: Session,
    url: String,
}

fn gateway(store: Arc<dyn Store>) -> Gateway {
    Gateway::new(
        store,
        CodeHasher::new(vec![CodeKey::from_bytes([7; 32])]).unwrap(),
        Providers::default(),
        Arc::new(SystemClock),
        EngineSettings::default(),
        TokenKeys::new(&[[8; 32]], "http://127.0.0.1").unwrap(),
    )
}

/// Inserts the verifications and events in chunks over `$conn`, with the rollups off
/// (`$off`, back on with `$on`: SQLite's trigger, PostgreSQL's transaction id on each
/// event, which the folder would fold): bulk rows are counted once, by the rebuild that
/// follows.
macro_rules! bulk {
    ($conn:ident, $seq:expr, $key:expr, $off:expr, $on:expr, $n:expr) => {{
        let mut $conn = $conn;
        let now = now_ms();
        sqlx::query($off).execute(&mut $conn).await.unwrap();
        let verifications = verification_insert($seq, $key);
        let events = event_inserts();
        let mut from = 1;
        while from <= $n {
            let to = (from + CHUNK - 1).min($n);
            let mut tx = $conn.begin().await.unwrap();
            sqlx::query(&verifications)
                .bind(from)
                .bind(to)
                .bind(now)
                .bind($n)
                .execute(&mut *tx)
                .await
                .unwrap();
            for sql in &events {
                sqlx::query(sql)
                    .bind(from)
                    .bind(to)
                    .execute(&mut *tx)
                    .await
                    .unwrap();
            }
            tx.commit().await.unwrap();
            from = to + 1;
        }
        sqlx::query($on).execute(&mut $conn).await.unwrap();
        sqlx::query("ANALYZE").execute(&mut $conn).await.unwrap();
    }};
}

/// Seeds `n` verifications and returns the gateway over them, signed in as the tenant.
async fn seed(url: &str, store: Arc<dyn Store>, postgres: bool, n: i64) -> Bench {
    let gw = gateway(store.clone());
    let made = gw
        .create_tenant("Bench", "owner@bench.example")
        .await
        .unwrap();
    let ip: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    let signed = gw
        .sign_in("owner@bench.example", made.password.expose(), ip)
        .await
        .unwrap()
        .signed_in()
        .unwrap();
    let session = gw.session(&signed.token).await.unwrap().unwrap();
    for i in 0..APPS {
        gw.create_tenant_app(&session, &format!("app{i}"), "Bench", "127.0.0.1")
            .await
            .unwrap();
    }
    let started = Instant::now();
    if postgres {
        let conn = sqlx::PgConnection::connect(url).await.unwrap();
        bulk!(
            conn,
            "generate_series($1::bigint, $2::bigint) AS s(n)",
            "decode(md5(n::text), 'hex')",
            "ALTER TABLE event ALTER COLUMN txn DROP DEFAULT",
            "ALTER TABLE event ALTER COLUMN txn SET DEFAULT (pg_current_xact_id()::text::bigint)",
            n
        );
    } else {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        let trigger: String = sqlx::query_scalar(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'event_to_stats'",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        bulk!(
            conn,
            "(WITH RECURSIVE seq(n) AS (SELECT $1 UNION ALL SELECT n + 1 FROM seq WHERE n < $2) \
             SELECT n FROM seq)",
            "randomblob(16)",
            "DROP TRIGGER event_to_stats",
            trigger.as_str(),
            n
        );
    }
    let rows = store.rebuild_stats(0).await.unwrap();
    // What the upkeep does once a day is over.
    let now = now_ms();
    store.roll_days(now - now.rem_euclid(DAY_MS)).await.unwrap();
    println!(
        "  seeded {n} verifications with their events and {rows} rollup rows in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Bench {
        gw,
        session,
        url: url.to_owned(),
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// p50 and p95 of `SAMPLES` runs of `f`, after a warm-up run.
async fn time<F, Fut>(mut f: F) -> (Duration, Duration)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    f().await;
    let mut took = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let t = Instant::now();
        f().await;
        took.push(t.elapsed());
    }
    took.sort();
    (took[SAMPLES / 2], took[SAMPLES * 95 / 100])
}

/// A memory figure of this process from `/proc/self/status` (`VmHWM`: the peak resident
/// set so far; `VmRSS`: now), in KiB.
fn memory_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

async fn measure(b: &Bench, n: i64) {
    let gw = &b.gw;
    let s = &b.session;
    let report = |what: &str, (p50, p95): (Duration, Duration)| {
        println!(
            "  {what:<34} p50 {:>7.2} ms   p95 {:>7.2} ms",
            p50.as_secs_f64() * 1e3,
            p95.as_secs_f64() * 1e3
        );
    };
    report(
        "stats, one app, 30 days",
        time(|| async {
            gw.app_stats(s, "app1", Range::Month).await.unwrap();
        })
        .await,
    );
    report(
        "stats, whole team, 30 days",
        time(|| async {
            gw.tenant_stats(s, Range::Month).await.unwrap();
        })
        .await,
    );
    let page = |filter: HistoryFilter| async move {
        let (_, q) = gw.history_query(s, "app1", &filter).await.unwrap();
        let p = gw.history_page(&q, None).await.unwrap();
        assert!(!p.rows.is_empty(), "{filter:?} found nothing");
    };
    report(
        "history, first page",
        time(|| page(HistoryFilter::default())).await,
    );
    report(
        "history, first page, locked only",
        time(|| {
            page(HistoryFilter {
                status: "locked".into(),
                ..HistoryFilter::default()
            })
        })
        .await,
    );
    let id = format!("seed-{}", (n / 2..).find(|k| k % APPS == 1).unwrap());
    report(
        "history, search by id",
        time(|| {
            page(HistoryFilter {
                q: id.clone(),
                ..HistoryFilter::default()
            })
        })
        .await,
    );
    // Seeded addresses carry random hashes; give one of app1's phone numbers the real
    // hash of its address, as the engine would have stored it.
    let target = (n / 3..).find(|k| k % APPS == 1 && k % 3 != 0).unwrap();
    let address = format!("+4915{}", 100_000_000 + target);
    let key = b.gw.address_keys(&address).remove(0);
    let set = "UPDATE verification SET address_key = $1 WHERE public_id = $2";
    if b.url.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(&b.url).await.unwrap();
        let q = sqlx::query(set).bind(key).bind(format!("seed-{target}"));
        q.execute(&mut conn).await.unwrap();
    } else {
        let mut conn = sqlx::SqliteConnection::connect(&b.url).await.unwrap();
        let q = sqlx::query(set).bind(key).bind(format!("seed-{target}"));
        q.execute(&mut conn).await.unwrap();
    }
    report(
        "history, search by full address",
        time(|| {
            page(HistoryFilter {
                q: address.clone(),
                ..HistoryFilter::default()
            })
        })
        .await,
    );
    // As the history shows it: the seeded numbers differ in their last digits, so about
    // one phone number in a thousand masks the same.
    let masked = app::gateway::address::mask(&address);
    report(
        "history, search by masked address",
        time(|| {
            page(HistoryFilter {
                q: masked.clone(),
                ..HistoryFilter::default()
            })
        })
        .await,
    );

    let (_, mut q) = gw
        .history_query(s, "app1", &HistoryFilter::default())
        .await
        .unwrap();
    q.limit = 1000;
    let (peak_before, rss_before) = (memory_kib("VmHWM:"), memory_kib("VmRSS:"));
    let started = Instant::now();
    let (mut rows, mut bytes, mut before) = (0u64, 0usize, None::<Cursor>);
    while rows < 1_000_000 {
        let page = gw.history_page(&q, before).await.unwrap();
        for r in &page.rows {
            bytes += format!(
                "{},{},{},{},{},{}\r\n",
                r.public_id,
                r.created_at,
                r.status.as_str(),
                r.channel,
                r.provider,
                app::gateway::address::mask(&r.address)
            )
            .len();
        }
        rows += page.rows.len() as u64;
        match page.next {
            Some(next) => before = Some(next),
            None => break,
        }
    }
    println!(
        "  export of {rows} rows ({} MB of CSV) in {:.1} s; RSS {} MB before, {} MB after; \
         peak RSS {} MB before (seeding included), {} MB after",
        bytes / 1_000_000,
        started.elapsed().as_secs_f64(),
        rss_before / 1024,
        memory_kib("VmRSS:") / 1024,
        peak_before / 1024,
        memory_kib("VmHWM:") / 1024
    );
}

async fn run_sqlite(n: i64) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("history.db").display());
    let store: Arc<dyn Store> = Arc::new(SqliteStore::connect(&url).await.unwrap());
    println!("SQLite, {n} verifications");
    let bench = seed(&url, store, false, n).await;
    measure(&bench, n).await;
}

async fn run_postgres(n: i64) {
    let admin = std::env::var("OTPGATE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("otpgate_history_{}", std::process::id());
    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut conn)
        .await
        .unwrap();
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap();
    let url = format!("{base}/{name}");
    {
        let store: Arc<dyn Store> = Arc::new(PostgresStore::connect(&url).await.unwrap());
        println!("PostgreSQL, {n} verifications");
        let bench = seed(&url, store, true, n).await;
        measure(&bench, n).await;
    }
    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(&mut conn)
        .await;
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let which = args.get(1).map(String::as_str).unwrap_or("both");
    let n: i64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    if matches!(which, "sqlite" | "both") {
        run_sqlite(n).await;
    }
    if matches!(which, "postgres" | "both") {
        run_postgres(n).await;
    }
}
