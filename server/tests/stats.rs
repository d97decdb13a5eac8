//! Stats rollups, on SQLite and PostgreSQL: a random workload of creates, sends (some
//! failing over), receipts, right and wrong checks, cancels, expiries and folds, spread
//! across hour boundaries, leaves the same counters whether they were kept as the events
//! happened (SQLite's trigger; PostgreSQL's folds of the event stream) or recomputed
//! afterwards by `rebuild_stats`; and the counters match what the workload did. Folds
//! racing concurrent writers lose and double-count nothing. Retention purges old
//! verifications and keeps their rollups.

mod support;

use app::{
    gateway::{
        clock::{Clock, ManualClock},
        store::{DeliveryOutcome, PostgresStore, SqliteStore, StatKey, StatsQuery, Store},
        CheckMode, CreateRequest, CustomCode,
    },
    model::{CheckResult, Namespace, VerificationId},
};
use proptest::{prelude::*, test_runner::TestRunner};
use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicU32, Ordering},
        Arc,
    },
};
use support::{console_gateway, drop_postgres_database, fresh_postgres_database};

#[derive(Debug, Clone)]
enum Step {
    Create {
        phone: bool,
    },
    Send {
        ok: bool,
    },
    Receipt {
        pick: usize,
        delivered: bool,
    },
    Check {
        pick: usize,
        right: bool,
    },
    Cancel {
        pick: usize,
    },
    /// Reads every verification, which settles the ones past their expiry.
    Expire,
    Advance {
        minutes: i64,
    },
    /// Adds the events recorded so far to the rollups, as the upkeep does every second.
    Fold,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => any::<bool>().prop_map(|phone| Step::Create { phone }),
        3 => any::<bool>().prop_map(|ok| Step::Send { ok }),
        2 => (0usize..8, any::<bool>()).prop_map(|(pick, delivered)| Step::Receipt { pick, delivered }),
        4 => (0usize..8, any::<bool>()).prop_map(|(pick, right)| Step::Check { pick, right }),
        1 => (0usize..8).prop_map(|pick| Step::Cancel { pick }),
        1 => Just(Step::Expire),
        2 => (1i64..50).prop_map(|minutes| Step::Advance { minutes }),
        2 => Just(Step::Fold),
    ]
}

/// What the workload did, counted by the test itself.
#[derive(Debug, Default)]
struct Done {
    created: i64,
    sent: i64,
    failed: i64,
    delivered: i64,
    verified: i64,
    wrong: i64,
}

const ADDRESSES: [&str; 2] = ["+4915112345678", "ana@example.com"];

/// Every counter of one app, of all time.
async fn counters(store: &Arc<dyn Store>, app_id: i64) -> BTreeMap<StatKey, i64> {
    let all = StatsQuery {
        app_ids: vec![app_id],
        from: 0,
        to: i64::MAX,
    };
    store.stats(&all).await.unwrap().into_iter().collect()
}

/// One metric summed over hours, channels, providers and countries.
fn total(counters: &BTreeMap<StatKey, i64>, metric: &str) -> i64 {
    counters
        .iter()
        .filter(|(k, _)| k.metric == metric)
        .map(|(_, n)| n)
        .sum()
}

/// Runs `test` on a store in a fresh SQLite file.
fn on_sqlite(rt: &tokio::runtime::Runtime, test: impl FnOnce(Arc<dyn Store>)) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("stats.db").display());
    test(Arc::new(rt.block_on(SqliteStore::connect(&url)).unwrap()));
}

/// Runs `test` on a store in a fresh PostgreSQL database, dropped afterwards.
fn on_postgres(rt: &tokio::runtime::Runtime, test: impl FnOnce(Arc<dyn Store>)) {
    let (url, name) = rt.block_on(fresh_postgres_database());
    test(Arc::new(rt.block_on(PostgresStore::connect(&url)).unwrap()));
    drop_postgres_database(name);
}

/// Case `case` of the workload; cases share a database, and each starts three days after
/// the one before so days one case summed are over before the next begins.
async fn run(store: Arc<dyn Store>, case: u32, steps: &[Step]) {
    let namespace = format!("stats-{case}");
    let clock = Arc::new(ManualClock::default());
    // Start at a whole hour plus a bit, so minutes soon cross into the next hour.
    clock.advance_ms(
        3_600_000 - clock.now_ms() % 3_600_000 + 55 * 60_000 + i64::from(case) * 3 * 86_400_000,
    );
    let gw = console_gateway(store.clone(), clock.clone());
    let (app, _) = gw
        .create_app(&Namespace::parse(&namespace).unwrap(), "Stats", None)
        .await
        .unwrap();
    let mut ids: Vec<VerificationId> = Vec::new();
    let mut messages: Vec<(String, i64)> = Vec::new();
    let mut done = Done::default();
    for step in steps {
        let now = clock.now_ms();
        match step {
            Step::Create { phone } => {
                let id = VerificationId::parse(&format!("v{}", ids.len())).unwrap();
                let to = ADDRESSES[usize::from(!phone)];
                let request = CreateRequest {
                    id: Some(id.clone()),
                    code: Some(CustomCode::parse("424242").unwrap()),
                    ttl_secs: Some(1800),
                    max_attempts: Some(3),
                    ..CreateRequest::new(gw.target(&app, "console", to).await.unwrap())
                };
                gw.create(&app, request).await.unwrap();
                ids.push(id);
                done.created += 1;
            }
            Step::Send { ok } => {
                let claimed = store
                    .claim_deliveries("test", now, now + 60_000, 10)
                    .await
                    .unwrap();
                for c in claimed {
                    let id = c.verification.verification_id;
                    if c.verification.app_id != app.app_id {
                        // An earlier case's message (the database is shared): not ours.
                        let outcome = DeliveryOutcome::Closed {
                            status: "dropped",
                            error: String::new(),
                        };
                        store
                            .settle_delivery(c.delivery_id, "test", &outcome, &[], now)
                            .await
                            .unwrap();
                    } else if *ok {
                        let message_id = format!("m{}", c.delivery_id);
                        let outcome = DeliveryOutcome::Sent {
                            provider: "console".into(),
                            message_id: Some(message_id.clone()),
                        };
                        let detail =
                            serde_json::json!({ "provider": "console", "message_id": message_id })
                                .to_string();
                        let events = [("sent", detail.as_str())];
                        assert!(store
                            .settle_delivery(c.delivery_id, "test", &outcome, &events, now)
                            .await
                            .unwrap());
                        messages.push((message_id, id));
                        done.sent += 1;
                    } else {
                        let outcome = DeliveryOutcome::Retry {
                            route_index: 0,
                            next_attempt_at: now,
                            error: "down".into(),
                        };
                        let detail = serde_json::json!({
                            "provider": "backup", "class": "unavailable", "next_provider": "console",
                        })
                        .to_string();
                        let events = [("send_failed", detail.as_str())];
                        assert!(store
                            .settle_delivery(c.delivery_id, "test", &outcome, &events, now)
                            .await
                            .unwrap());
                        // Settled once, a row is no longer this worker's: a second outcome
                        // writes nothing, its event neither.
                        assert!(!store
                            .settle_delivery(c.delivery_id, "test", &outcome, &events, now)
                            .await
                            .unwrap());
                        done.failed += 1;
                    }
                }
            }
            Step::Receipt { pick, delivered } => {
                let Some((message_id, _)) = messages.get(*pick % messages.len().max(1)) else {
                    continue;
                };
                let status = if *delivered {
                    "delivered"
                } else {
                    "undelivered"
                };
                if let Some((id, sent_at)) = store
                    .record_receipt("console", message_id, status, now, None)
                    .await
                    .unwrap()
                {
                    let detail = serde_json::json!({
                        "provider": "console", "status": status,
                        "after_ms": sent_at.map(|sent| now - sent),
                    });
                    store
                        .record_event(id, "receipt", &detail.to_string(), now)
                        .await
                        .unwrap();
                    done.delivered += i64::from(*delivered);
                }
            }
            Step::Check { pick, right } => {
                let Some(id) = ids.get(*pick % ids.len().max(1)) else {
                    continue;
                };
                let code = if *right { "424242" } else { "000000" };
                if let Ok((result, _)) = gw.check(&app, id, code, CheckMode::HostedPage).await {
                    match result {
                        CheckResult::Verified => done.verified += 1,
                        CheckResult::Incorrect { .. } => done.wrong += 1,
                        _ => {}
                    }
                }
            }
            Step::Cancel { pick } => {
                if let Some(id) = ids.get(*pick % ids.len().max(1)) {
                    let _ = gw.cancel(&app, id).await;
                }
            }
            Step::Expire => {
                for id in &ids {
                    gw.get(&app, id).await.unwrap();
                }
            }
            Step::Advance { minutes } => clock.advance_ms(minutes * 60_000),
            Step::Fold => {
                store.fold_stats().await.unwrap();
            }
        }
    }

    let kept = counters(&store, app.app_id).await;
    let total = |metric: &str| total(&kept, metric);
    assert_eq!(total("created"), done.created);
    assert_eq!(total("sent"), done.sent);
    assert_eq!(total("send_failed"), done.failed);
    assert_eq!(
        total("failover"),
        done.failed,
        "each failure moved to another provider"
    );
    assert_eq!(total("error:unavailable"), done.failed);
    assert_eq!(total("receipt:delivered"), done.delivered);
    assert_eq!(total("verified"), done.verified);
    assert_eq!(total("attempt"), done.wrong);
    let ttv: i64 = kept
        .iter()
        .filter(|(k, _)| k.metric.starts_with("ttv:"))
        .map(|(_, n)| n)
        .sum();
    let tries: i64 = kept
        .iter()
        .filter(|(k, _)| k.metric.starts_with("tries:"))
        .map(|(_, n)| n)
        .sum();
    assert_eq!((ttv, tries), (done.verified, done.verified));
    let latency: i64 = kept
        .iter()
        .filter(|(k, _)| k.metric.starts_with("latency:"))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(latency, done.delivered);
    for key in kept.keys() {
        assert_eq!(key.hour % 3_600_000, 0, "{key:?}");
        assert!(
            key.provider == "console" || key.provider == "backup",
            "{key:?}"
        );
        let phone = key.country == "+49";
        assert!(phone || key.country.is_empty(), "{key:?}");
    }

    // Folding the events not folded yet changes no sum.
    store.fold_stats().await.unwrap();
    assert_eq!(
        kept,
        counters(&store, app.app_id).await,
        "folding changed a counter"
    );

    // Folding the shards of past hours (upkeep) changes no sum.
    store.compact_stats(i64::MAX).await.unwrap();
    assert_eq!(
        kept,
        counters(&store, app.app_id).await,
        "compacting changed a counter"
    );

    // The page's sums by day are the same read hourly or from the daily rollups.
    let day = 86_400_000;
    let days = StatsQuery {
        app_ids: vec![app.app_id],
        from: 0,
        to: (clock.now_ms() / day + 3) * day,
    };
    let summary = |store: Arc<dyn Store>| {
        let days = days.clone();
        async move {
            let mut s = store.stats_summary(&days, day).await.unwrap();
            s.volume.sort();
            s.totals.sort();
            s
        }
    };
    let hourly = summary(store.clone()).await;
    assert_eq!(
        hourly.volume.iter().map(|v| v.2).sum::<i64>(),
        done.created,
        "{hourly:?}"
    );
    // Two days on, the upkeep sums every day of the workload.
    clock.advance_ms(2 * day);
    store.roll_days(clock.now_ms() / day * day).await.unwrap();
    assert_eq!(
        hourly,
        summary(store.clone()).await,
        "daily sums differ from hourly ones"
    );

    store.rebuild_stats(0).await.unwrap();
    let rebuilt = counters(&store, app.app_id).await;
    assert_eq!(
        hourly,
        summary(store.clone()).await,
        "daily sums differ after a rebuild"
    );
    assert_eq!(
        kept, rebuilt,
        "rebuilt counters differ from the ones kept as events happened"
    );
}

fn rollups_agree_with_their_rebuild(store: Arc<dyn Store>, rt: &tokio::runtime::Runtime) {
    static CASE: AtomicU32 = AtomicU32::new(0);
    let mut runner = TestRunner::new(ProptestConfig::with_cases(24));
    runner
        .run(&proptest::collection::vec(step(), 1..60), |steps| {
            let case = CASE.fetch_add(1, Ordering::Relaxed);
            rt.block_on(run(store.clone(), case, &steps));
            Ok(())
        })
        .unwrap();
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn rollups_agree_with_their_rebuild_on_sqlite() {
    let rt = runtime();
    on_sqlite(&rt, |store| rollups_agree_with_their_rebuild(store, &rt));
}

#[test]
fn rollups_agree_with_their_rebuild_on_postgres() {
    let rt = runtime();
    on_postgres(&rt, |store| rollups_agree_with_their_rebuild(store, &rt));
}

/// Retention purges verifications older than the configured days with their events, keeps
/// the newer ones, and leaves every rollup as it was, even after a rebuild.
async fn retention_keeps_the_rollups(store: Arc<dyn Store>) {
    let clock = Arc::new(ManualClock::default());
    let gw = console_gateway(store.clone(), clock.clone());
    let (app, _) = gw
        .create_app(&Namespace::parse("kept").unwrap(), "Kept", None)
        .await
        .unwrap();
    let create = |id: &'static str| {
        let gw = &gw;
        let app = &app;
        async move {
            let target = gw.target(app, "console", "k@example.com").await.unwrap();
            let id = VerificationId::parse(id).unwrap();
            let request = CreateRequest {
                id: Some(id.clone()),
                code: Some(CustomCode::parse("424242").unwrap()),
                ..CreateRequest::new(target)
            };
            gw.create(app, request).await.unwrap();
            id
        }
    };
    let old = create("old").await;
    gw.check(&app, &old, "424242", CheckMode::HostedPage)
        .await
        .unwrap();
    clock.advance_ms(100 * 86_400_000);
    let new = create("new").await;
    let before = counters(&store, app.app_id).await;

    assert_eq!(gw.purge_old(90).await.unwrap(), 1);
    assert!(gw.get(&app, &old).await.is_err(), "the old one is gone");
    assert_eq!(gw.get(&app, &new).await.unwrap().public_id, "new");
    assert_eq!(gw.purge_old(90).await.unwrap(), 0, "nothing more to purge");
    let after = counters(&store, app.app_id).await;
    assert_eq!(before, after, "the rollups stay");
    assert!(
        after.keys().any(|k| k.metric == "verified"),
        "the old one's counters"
    );

    store.rebuild_stats(0).await.unwrap();
    let rebuilt = counters(&store, app.app_id).await;
    assert_eq!(before, rebuilt, "a rebuild leaves the purged hours alone");
}

#[test]
fn retention_keeps_the_rollups_on_sqlite() {
    let rt = runtime();
    on_sqlite(&rt, |store| rt.block_on(retention_keeps_the_rollups(store)));
}

#[test]
fn retention_keeps_the_rollups_on_postgres() {
    let rt = runtime();
    on_postgres(&rt, |store| rt.block_on(retention_keeps_the_rollups(store)));
}

/// Writers on several connections while two folders run in a loop: every event is
/// counted once, whether a fold took it, the read added it, or a rebuild recounted it.
async fn folds_race_writers(store: Arc<dyn Store>, folds: bool) {
    const WRITERS: usize = 6;
    const EACH: usize = 40;
    let gw = console_gateway(store.clone(), Arc::new(ManualClock::default()));
    let (app, _) = gw
        .create_app(&Namespace::parse("race").unwrap(), "Race", None)
        .await
        .unwrap();
    let writing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let folders: Vec<_> = (0..2)
        .map(|_| {
            let store = store.clone();
            let writing = writing.clone();
            tokio::spawn(async move {
                let mut written = 0;
                while writing.load(Ordering::SeqCst) {
                    written += store.fold_stats().await.unwrap();
                    tokio::task::yield_now().await;
                }
                written
            })
        })
        .collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let gw = gw.clone();
            let app = app.clone();
            tokio::spawn(async move {
                let mut verified = 0;
                for i in 0..EACH {
                    let id = VerificationId::parse(&format!("r{w}-{i}")).unwrap();
                    let to = format!("r{w}-{i}@example.com");
                    let target = gw.target(&app, "console", &to).await.unwrap();
                    let request = CreateRequest {
                        id: Some(id.clone()),
                        code: Some(CustomCode::parse("424242").unwrap()),
                        ..CreateRequest::new(target)
                    };
                    gw.create(&app, request).await.unwrap();
                    let code = if i % 2 == 0 { "424242" } else { "000000" };
                    let (result, _) = gw
                        .check(&app, &id, code, CheckMode::HostedPage)
                        .await
                        .unwrap();
                    verified += i64::from(result == CheckResult::Verified);
                }
                verified
            })
        })
        .collect();
    let mut verified = 0;
    for w in writers {
        verified += w.await.unwrap();
    }
    writing.store(false, Ordering::SeqCst);
    let mut folded = 0;
    for f in folders {
        folded += f.await.unwrap();
    }
    // A fold waits for every transaction of the cluster that began before its events
    // ended (other tests' too): give it time to have run at least once.
    for _ in 0..600 {
        if folded > 0 || !folds {
            break;
        }
        folded += store.fold_stats().await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let live = counters(&store, app.app_id).await;
    assert_eq!(total(&live, "created"), (WRITERS * EACH) as i64);
    assert_eq!(total(&live, "verified"), verified);
    assert_eq!(verified, (WRITERS * EACH / 2) as i64);
    store.fold_stats().await.unwrap();
    assert_eq!(
        live,
        counters(&store, app.app_id).await,
        "the last fold changed a counter"
    );
    store.rebuild_stats(0).await.unwrap();
    assert_eq!(
        live,
        counters(&store, app.app_id).await,
        "a rebuild counts otherwise"
    );
    // SQLite's trigger leaves nothing to fold; PostgreSQL's folds ran.
    assert_eq!(folded > 0, folds, "folded {folded} rollup rows");
}

fn threaded_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn folds_race_writers_on_sqlite() {
    let rt = threaded_runtime();
    on_sqlite(&rt, |store| rt.block_on(folds_race_writers(store, false)));
}

#[test]
fn folds_race_writers_on_postgres() {
    let rt = threaded_runtime();
    on_postgres(&rt, |store| rt.block_on(folds_race_writers(store, true)));
}
