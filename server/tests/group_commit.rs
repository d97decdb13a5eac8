//! Writes that share a batch (SQLite's group commit) each get their own answer: creates
//! that succeed, creates whose id collides inside the batch (re-issued), creates and
//! checks of a locked verification (refused), and right codes (verified), all at once.
//! PostgreSQL commits each on its own; the same answers hold there. Hits on many rate
//! buckets in one write count as hits in turn.

mod support;

use app::{
    gateway::{
        clock::ManualClock,
        code::{Alphabet, CodeHasher, CodeKey, CodeSpec, OtpCode},
        store::{
            Attempt, AttemptOutcome, DeliveryOutcome, Lease, NewDelivery, NewVerification,
            PostgresStore, Seen, SendCount, SqliteStore, Store, StoreError,
        },
        CheckMode, CreateRequest, CustomCode, EngineError, Gateway,
    },
    model::{CheckResult, Namespace, Status, VerificationId},
};
use std::sync::Arc;
use support::{console_gateway, Backend};

fn id(text: &str) -> VerificationId {
    VerificationId::parse(text).unwrap()
}

async fn create(
    gw: &Gateway,
    app: &app::gateway::store::AppRecord,
    id_text: &str,
) -> Result<(), EngineError> {
    let target = gw.target(app, "console", "ana@example.com").await?;
    let mut req = CreateRequest::new(target);
    req.id = Some(id(id_text));
    req.code = Some(CustomCode::parse("123456").unwrap());
    req.max_attempts = Some(1);
    gw.create(app, req).await.map(drop)
}

/// The sum and count of a histogram in Prometheus' text, if it is there.
fn histogram(text: &str, name: &str) -> Option<(f64, f64)> {
    let value = |suffix: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}_{suffix} ")))
            .and_then(|v| v.trim().parse::<f64>().ok())
    };
    Some((value("sum")?, value("count")?))
}

/// A verification of `app_id` named `public_id` as the engine would hand it to the store:
/// an e-mail, a code whose digest is `code_hmac`, nothing sent yet.
fn new_row(app_id: i64, public_id: &str, code_hmac: Vec<u8>) -> NewVerification {
    NewVerification {
        app_id,
        public_id: public_id.into(),
        provider: "console".into(),
        channel: "email".into(),
        address: "ana@example.com".into(),
        channel_description: String::new(),
        address_description: String::new(),
        code_hmac,
        code_sealed: vec![1],
        code_length: 6,
        code_alphabet: "digits".into(),
        max_attempts: 10,
        sends: 0,
        max_sends: 5,
        extra: "{}".into(),
        redirect_url: String::new(),
        state: String::new(),
        locale: String::new(),
        address_key: None,
        now: 1_000,
        expires_at: 600_000,
        inbound_key: None,
        intent: String::new(),
    }
}

/// A check of `record` at 2,000 as it was read: its own failure budget of 10.
fn attempt_as_read(record: &app::gateway::store::VerificationRecord) -> Attempt {
    Attempt {
        verification_id: record.verification_id,
        now: 2_000,
        budget_key: format!("fail_addr:{}", record.public_id),
        budget_window: 0,
        budget_max: 10,
        retire: false,
        reconfirm: false,
        seen: Seen {
            attempts: record.attempts,
            code_hmac: record.code_hmac.clone(),
            created_at: record.created_at,
        },
    }
}

/// Ends every connection to the PostgreSQL database `name` but `admin`'s own; answers
/// how many there were.
async fn end_connections(admin: &mut sqlx::PgConnection, name: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(name)
    .fetch_one(admin)
    .await
    .unwrap()
}

/// A fresh store on `backend`, the directory its SQLite file is in, and the PostgreSQL
/// database to drop after.
async fn open(backend: Backend) -> (Arc<dyn Store>, tempfile::TempDir, Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    match backend {
        Backend::Sqlite => {
            let url = format!("sqlite://{}", dir.path().join("batch.db").display());
            (
                Arc::new(SqliteStore::connect(&url).await.unwrap()),
                dir,
                None,
            )
        }
        Backend::Postgres => {
            let (url, name) = support::fresh_postgres_database().await;
            let store = Arc::new(PostgresStore::connect(&url).await.unwrap());
            (store, dir, Some(name))
        }
    }
}

async fn a_batch_answers_each_write_on_its_own(backend: Backend) {
    let recorder = otpgate::http::metrics::recorder();
    let (store, _dir, pg_name) = open(backend).await;
    let gw = console_gateway(store.clone(), Arc::new(ManualClock::default()));
    let (app, _) = gw
        .create_app(&Namespace::parse("batch").unwrap(), "Batch", None)
        .await
        .unwrap();
    // One locked verification, and twenty open ones to verify.
    create(&gw, &app, "locked").await.unwrap();
    let (wrong, _) = gw
        .check(&app, &id("locked"), "000000", CheckMode::Native)
        .await
        .unwrap();
    assert_eq!(wrong, CheckResult::Incorrect { attempts_left: 0 });
    for n in 0..20 {
        create(&gw, &app, &format!("open-{n}")).await.unwrap();
    }
    let before = histogram(&recorder.render(), "otpgate_write_batch_writes").unwrap_or_default();

    let mut all = tokio::task::JoinSet::new();
    for n in 0..30 {
        let (gw, app) = (gw.clone(), app.clone());
        all.spawn(async move {
            (
                "new",
                n,
                create(&gw, &app, &format!("new-{n}")).await.map(|_| None),
            )
        });
    }
    for n in 0..20 {
        // Each id twice at once: one insert; the other collides and re-issues it.
        for _ in 0..2 {
            let (gw, app) = (gw.clone(), app.clone());
            all.spawn(async move {
                (
                    "twin",
                    n,
                    create(&gw, &app, &format!("twin-{n}")).await.map(|_| None),
                )
            });
        }
    }
    for n in 0..10 {
        let (gw1, app1) = (gw.clone(), app.clone());
        all.spawn(async move {
            (
                "recreate locked",
                n,
                create(&gw1, &app1, "locked").await.map(|_| None),
            )
        });
        let (gw2, app2) = (gw.clone(), app.clone());
        all.spawn(async move {
            let checked = gw2
                .check(&app2, &id("locked"), "123456", CheckMode::Native)
                .await;
            ("check locked", n, checked.map(|(r, _)| Some(r)))
        });
    }
    for n in 0..20 {
        let (gw, app) = (gw.clone(), app.clone());
        all.spawn(async move {
            let checked = gw
                .check(&app, &id(&format!("open-{n}")), "123456", CheckMode::Native)
                .await;
            ("verify", n, checked.map(|(r, _)| Some(r)))
        });
    }
    let mut answers = 0;
    while let Some(answer) = all.join_next().await {
        answers += 1;
        match answer.unwrap() {
            ("new" | "twin", n, result) => assert!(result.is_ok(), "create {n}: {result:?}"),
            ("recreate locked", _, result) => {
                assert!(
                    matches!(result, Err(EngineError::Locked { .. })),
                    "{result:?}"
                )
            }
            ("check locked", _, result) => {
                assert!(
                    matches!(result, Ok(Some(CheckResult::Locked))),
                    "{result:?}"
                )
            }
            ("verify", n, result) => {
                assert!(
                    matches!(result, Ok(Some(CheckResult::Verified))),
                    "open-{n}: {result:?}"
                )
            }
            (other, ..) => unreachable!("{other}"),
        }
    }
    assert_eq!(answers, 30 + 40 + 20 + 20);

    // What the answers said is what is stored.
    for n in 0..30 {
        let record = gw.get(&app, &id(&format!("new-{n}"))).await.unwrap();
        assert_eq!(record.status, Status::Pending);
    }
    for n in 0..20 {
        let record = gw.get(&app, &id(&format!("twin-{n}"))).await.unwrap();
        let kinds = gw.event_kinds(&record).await.unwrap();
        assert_eq!(
            kinds.iter().filter(|k| *k == "created").count()
                + kinds.iter().filter(|k| *k == "reissued").count(),
            2,
            "twin-{n}: one insert and one re-issue: {kinds:?}"
        );
        let record = gw.get(&app, &id(&format!("open-{n}"))).await.unwrap();
        assert_eq!(record.status, Status::Verified);
    }
    let locked = gw.get(&app, &id("locked")).await.unwrap();
    assert_eq!((locked.status, locked.attempts), (Status::Locked, 1));

    // The writes made at once shared batches (SQLite's writer; PostgreSQL's creates):
    // more writes than commits.
    let after = histogram(&recorder.render(), "otpgate_write_batch_writes")
        .expect("the batch histogram is recorded");
    let (writes, batches) = (after.0 - before.0, after.1 - before.1);
    assert!(
        batches > 0.0 && writes > batches,
        "{writes} writes in {batches} batches"
    );
    drop(gw);
    drop(store);
    if let Some(name) = pg_name {
        support::drop_postgres_database(name);
    }
}

/// A create answers the row it stored, every column as a read finds it (SQLite's create
/// builds its answer from what it inserted rather than reading the row back).
async fn an_insert_answers_the_row_it_stored(backend: Backend) {
    let (store, _dir, pg_name) = open(backend).await;
    let gw = console_gateway(store.clone(), Arc::new(ManualClock::default()));
    let (app, _) = gw
        .create_app(&Namespace::parse("rows").unwrap(), "Rows", None)
        .await
        .unwrap();
    for (n, sends) in [(0, 1), (1, 0)] {
        let new = NewVerification {
            app_id: app.app_id,
            public_id: format!("row-{n}"),
            provider: "console".into(),
            channel: "sms".into(),
            address: "+14155550123".into(),
            channel_description: "a text".into(),
            address_description: "your phone".into(),
            code_hmac: vec![1, 2, 3],
            code_sealed: vec![4, 5, 6],
            code_length: 6,
            code_alphabet: "digits".into(),
            max_attempts: 3,
            sends,
            max_sends: 5,
            extra: r#"{"k":"v"}"#.into(),
            redirect_url: "https://example.com/back".into(),
            state: "s".into(),
            locale: "de".into(),
            address_key: Some(vec![7; 32]),
            now: 1_000,
            expires_at: 301_000,
            inbound_key: (n == 1).then(|| vec![9; 32]),
            intent: if n == 1 {
                r#"{"action":"login","binding":"00ff"}"#.into()
            } else {
                String::new()
            },
        };
        let delivery = NewDelivery {
            route: vec!["console".into()],
            address: new.address.clone(),
            lease: None,
        };
        let answered = store
            .insert_verification(&new, (sends > 0).then_some(&delivery))
            .await
            .unwrap();
        assert!(answered.leased.is_none(), "queued for a claim");
        let answered = answered.record;
        let stored = store
            .find_verification(app.app_id, &new.public_id)
            .await
            .unwrap()
            .expect("the row is there");
        assert_eq!(answered, stored);
        assert_eq!(
            (answered.status, answered.attempts, answered.last_sent_at),
            (Status::Pending, 0, (sends > 0).then_some(1_000))
        );
    }
    drop(gw);
    drop(store);
    if let Some(name) = pg_name {
        support::drop_postgres_database(name);
    }
}

/// Hits on several buckets in one write, a key named more than once among them, answer
/// each hit's total as hits in turn would; a new window starts each bucket again.
async fn hits_on_many_buckets_count_as_hits_in_turn(backend: Backend) {
    let (store, _dir, pg_name) = open(backend).await;
    let keys = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    assert_eq!(store.hit("a", 1000, 2).await.unwrap(), 2);
    let totals = store
        .count_sends(&keys(&["b", "a", "b", "c", "a", "b"]), 1000, &[])
        .await
        .unwrap();
    assert_eq!(totals, [1, 3, 2, 1, 4, 3]);
    assert_eq!(
        store.count_sends(&keys(&["a"]), 1000, &[]).await.unwrap(),
        [5]
    );
    assert_eq!(store.peek("b", 1000).await.unwrap(), 3);
    assert_eq!(store.peek("c", 1000).await.unwrap(), 1);
    // The next window: counted from nothing, the old one's hits gone.
    assert_eq!(
        store
            .count_sends(&keys(&["a", "a", "d"]), 2000, &[])
            .await
            .unwrap(),
        [1, 2, 1]
    );
    assert_eq!(store.peek("a", 2000).await.unwrap(), 2);
    assert!(store.count_sends(&[], 2000, &[]).await.unwrap().is_empty());
    drop(store);
    if let Some(name) = pg_name {
        support::drop_postgres_database(name);
    }
}

/// A check the store refuses changes nothing it should not: one at a closed verification
/// spends nothing of the address's failure budget and counts no attempt; guesses past a
/// spent budget count no attempt and leave the bucket one past its cap at most; a right
/// code spends nothing, and one that finds its verification as read writes no bucket.
async fn refused_attempts_spend_nothing(backend: Backend) {
    let (store, _dir, pg_name) = open(backend).await;
    let gw = console_gateway(store.clone(), Arc::new(ManualClock::default()));
    let (app, _) = gw
        .create_app(&Namespace::parse("refused").unwrap(), "Refused", None)
        .await
        .unwrap();
    let hasher = CodeHasher::new(vec![CodeKey::from_bytes([3; 32])]).unwrap();
    let code =
        |text: &str| OtpCode::parse(text, CodeSpec::new(6, Alphabet::Digits).unwrap()).unwrap();
    let mut records = Vec::new();
    for name in ["open", "closed"] {
        let new = new_row(
            app.app_id,
            name,
            hasher.hash("refused", name, &code("123456")),
        );
        records.push(store.insert_verification(&new, None).await.unwrap().record);
    }
    // Each check as if it had read the row as it was written (later checks find it
    // changed since, as a check racing another does).
    let attempt = |verification_id: i64, budget_max: i64| {
        let read = records
            .iter()
            .find(|r| r.verification_id == verification_id)
            .unwrap();
        Attempt {
            verification_id,
            now: 2_000,
            budget_key: "fail_addr:test".into(),
            budget_window: 0,
            budget_max,
            retire: false,
            reconfirm: false,
            seen: Seen {
                attempts: read.attempts,
                code_hmac: read.code_hmac.clone(),
                created_at: read.created_at,
            },
        }
    };
    let (open_id, closed_id) = (records[0].verification_id, records[1].verification_id);
    let right = |name: &str| hasher.digests("refused", name, &code("123456"));
    let wrong = |name: &str| hasher.digests("refused", name, &code("000000"));
    assert_eq!(
        store
            .attempt(&attempt(closed_id, 3), &right("closed"))
            .await
            .unwrap(),
        AttemptOutcome::Verified { attempts: 1 }
    );
    assert_eq!(
        store.peek("fail_addr:test", 0).await.unwrap(),
        0,
        "given back"
    );
    // A right code spends nothing and writes no bucket: there is none to purge.
    assert_eq!(
        store.purge_buckets("", i64::MAX, 100).await.unwrap(),
        (0, None),
        "a bucket written by a right code"
    );
    for _ in 0..3 {
        assert_eq!(
            store
                .attempt(&attempt(closed_id, 3), &wrong("closed"))
                .await
                .unwrap(),
            AttemptOutcome::NotOpen
        );
    }
    assert_eq!(
        store.peek("fail_addr:test", 0).await.unwrap(),
        0,
        "nothing spent"
    );
    for n in [1, 2] {
        let outcome = store
            .attempt(&attempt(open_id, 2), &wrong("open"))
            .await
            .unwrap();
        assert_eq!(
            outcome,
            AttemptOutcome::Incorrect {
                attempts: n,
                max_attempts: 10,
                locked: false
            }
        );
    }
    for _ in 0..5 {
        assert_eq!(
            store
                .attempt(&attempt(open_id, 2), &right("open"))
                .await
                .unwrap(),
            AttemptOutcome::OverBudget
        );
    }
    let spent = store.peek("fail_addr:test", 0).await.unwrap();
    assert!((2..=3).contains(&spent), "the bucket holds {spent}");
    let record = store
        .find_verification(app.app_id, "open")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((record.attempts, record.status), (2, Status::Pending));
    let closed = store
        .find_verification(app.app_id, "closed")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((closed.attempts, closed.status), (1, Status::Verified));
    drop(gw);
    drop(store);
    if let Some(name) = pg_name {
        support::drop_postgres_database(name);
    }
}

/// Creates written at once, one of them for an app that does not exist (a foreign key
/// the database refuses) and one with an id already taken: those two fail, each with its
/// own error, and every other create of their batch is stored and answered.
async fn a_create_that_fails_fails_alone(backend: Backend) {
    let recorder = otpgate::http::metrics::recorder();
    let (store, _dir, pg_name) = open(backend).await;
    let gw = console_gateway(store.clone(), Arc::new(ManualClock::default()));
    let (app, _) = gw
        .create_app(&Namespace::parse("alone").unwrap(), "Alone", None)
        .await
        .unwrap();
    store
        .insert_verification(&new_row(app.app_id, "taken", vec![1]), None)
        .await
        .unwrap();
    let delivery = NewDelivery {
        route: vec!["console".into()],
        address: "ana@example.com".into(),
        lease: None,
    };
    let before = histogram(&recorder.render(), "otpgate_write_batch_writes").unwrap_or_default();
    let mut all = tokio::task::JoinSet::new();
    for n in 0..40 {
        let (store, delivery) = (store.clone(), delivery.clone());
        let (app_id, name) = match n {
            7 => (app.app_id + 1_000, "nobody's".to_owned()),
            23 => (app.app_id, "taken".to_owned()),
            n => (app.app_id, format!("fine-{n}")),
        };
        all.spawn(async move {
            let mut new = new_row(app_id, &name, vec![2]);
            new.sends = 1;
            (n, store.insert_verification(&new, Some(&delivery)).await)
        });
    }
    while let Some(answer) = all.join_next().await {
        match answer.unwrap() {
            (7, result) => assert!(
                matches!(result, Err(StoreError::Database(_) | StoreError::Sqlite(_))),
                "{result:?}"
            ),
            (23, result) => assert!(matches!(result, Err(StoreError::Conflict)), "{result:?}"),
            (n, result) => {
                let record = result.unwrap_or_else(|e| panic!("fine-{n}: {e:?}")).record;
                assert_eq!(record.public_id, format!("fine-{n}"));
                assert_eq!(record.last_sent_at, Some(1_000));
            }
        }
    }
    // They were written together: the failures did not keep them apart. (The recorder
    // is the process's: tests running beside this one add batches too, each of at least
    // one write, so writes less batches only grows.)
    let after = histogram(&recorder.render(), "otpgate_write_batch_writes").unwrap();
    let (writes, batches) = (after.0 - before.0, after.1 - before.1);
    assert!(
        writes - batches >= 30.0,
        "{writes} writes in {batches} batches"
    );
    for n in (0..40).filter(|n| ![7, 23].contains(n)) {
        let record = store
            .find_verification(app.app_id, &format!("fine-{n}"))
            .await
            .unwrap()
            .expect("stored");
        let kinds = store.event_kinds(record.verification_id).await.unwrap();
        assert_eq!(kinds, ["created"], "fine-{n}");
    }
    let taken = store
        .find_verification(app.app_id, "taken")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (taken.code_hmac, taken.sends),
        (vec![1], 0),
        "the first one is kept"
    );
    // Exactly one message queued per stored create: the outbox claims them all.
    let claimed = store
        .claim_deliveries("test", 2_000, 60_000, 100)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 38);
    drop(gw);
    drop(store);
    if let Some(name) = pg_name {
        support::drop_postgres_database(name);
    }
}

/// Outcomes of claimed messages written at once, one of them by a worker that no longer
/// holds its lease: that one changes nothing and is answered false; every other is
/// settled, with its own status and its own events, and they shared batches.
async fn settles_written_together_answer_each(backend: Backend) {
    let recorder = otpgate::http::metrics::recorder();
    let (store, _dir, pg_name) = open(backend).await;
    let gw = console_gateway(store.clone(), Arc::new(ManualClock::default()));
    let (app, _) = gw
        .create_app(&Namespace::parse("settles").unwrap(), "Settles", None)
        .await
        .unwrap();
    let delivery = NewDelivery {
        route: vec!["console".into(), "backup".into()],
        address: "ana@example.com".into(),
        lease: None,
    };
    let mut ids = Vec::new();
    for n in 0..12 {
        let mut new = new_row(app.app_id, &format!("m-{n}"), vec![3]);
        new.sends = 1;
        let record = store
            .insert_verification(&new, Some(&delivery))
            .await
            .unwrap()
            .record;
        ids.push(record.verification_id);
    }
    let claimed = store
        .claim_deliveries("w1", 2_000, 60_000, 100)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 12);
    let before = histogram(&recorder.render(), "otpgate_write_batch_writes").unwrap_or_default();
    let mut all = tokio::task::JoinSet::new();
    for (n, claim) in claimed.iter().enumerate() {
        let (store, delivery_id) = (store.clone(), claim.delivery_id);
        let verification_id = claim.verification.verification_id;
        all.spawn(async move {
            let (owner, outcome) = match n {
                0 => (
                    "w2",
                    DeliveryOutcome::Sent {
                        provider: "console".into(),
                        message_id: None,
                    },
                ),
                1 => (
                    "w1",
                    DeliveryOutcome::Retry {
                        route_index: 1,
                        next_attempt_at: 9_000,
                        error: "busy".into(),
                    },
                ),
                2 => (
                    "w1",
                    DeliveryOutcome::Closed {
                        status: "dead",
                        error: "gone".into(),
                    },
                ),
                n => (
                    "w1",
                    DeliveryOutcome::Sent {
                        provider: "console".into(),
                        message_id: Some(format!("msg-{n}")),
                    },
                ),
            };
            let events: &[(&str, &str)] = match n {
                1 => &[],
                2 => &[("failed", r#"{"error":"gone"}"#), ("dead", "{}")],
                _ => &[("sent", r#"{"provider":"console"}"#)],
            };
            let settled = store
                .settle_delivery(delivery_id, owner, &outcome, events, 3_000)
                .await
                .unwrap();
            (n, verification_id, settled)
        });
    }
    while let Some(answer) = all.join_next().await {
        let (n, verification_id, settled) = answer.unwrap();
        assert_eq!(settled, n != 0, "settle {n}");
        let rows = store.deliveries_of(verification_id).await.unwrap();
        let kinds = store.event_kinds(verification_id).await.unwrap();
        let (status, provider) = (rows[0].0.as_str(), rows[0].1.as_str());
        match n {
            0 => {
                assert_eq!(status, "sending", "the lease's holder settles it, not w2");
                assert_eq!(kinds, ["created"]);
            }
            1 => {
                assert_eq!(status, "queued");
                assert_eq!(kinds, ["created"]);
            }
            2 => {
                assert_eq!(status, "dead");
                assert_eq!(kinds, ["created", "failed", "dead"]);
            }
            _ => {
                assert_eq!((status, provider), ("sent", "console"));
                assert_eq!(kinds, ["created", "sent"]);
            }
        }
    }
    // The retried message is due again at its new time, through the second provider.
    let again = store
        .claim_deliveries("w1", 9_000, 70_000, 100)
        .await
        .unwrap();
    assert_eq!(
        again
            .iter()
            .map(|c| (c.verification.verification_id, c.route_index))
            .collect::<Vec<_>>(),
        [(claimed[1].verification.verification_id, 1)]
    );
    let after = histogram(&recorder.render(), "otpgate_write_batch_writes").unwrap();
    let (writes, batches) = (after.0 - before.0, after.1 - before.1);
    assert!(writes >= 12.0, "{writes} writes in {batches} batches");
    if backend == Backend::Postgres {
        // PostgreSQL's batcher is a task of this runtime: it finds all twelve queued.
        // (SQLite's writer, a thread, may take each as it comes; its batches are the first
        // test's.) Other tests' batches only add to writes less batches.
        assert!(
            writes - batches >= 6.0,
            "{writes} writes in {batches} batches"
        );
    }
    drop(gw);
    drop(store);
    if let Some(name) = pg_name {
        support::drop_postgres_database(name);
    }
}

/// A create's outbox row leased as it is written (the hand-off to the worker of the
/// process that wrote it): answered as a claim would answer it, invisible to every claim
/// while the lease holds, settled by its owner without a claim; and a row whose owner died
/// is claimed once its lease has run out, as any claimed row would be.
async fn a_row_leased_as_written_waits_out_its_lease(backend: Backend) {
    let (store, _dir, pg_name) = open(backend).await;
    let gw = console_gateway(store.clone(), Arc::new(ManualClock::default()));
    let (app, _) = gw
        .create_app(&Namespace::parse("leased").unwrap(), "Leased", None)
        .await
        .unwrap();
    let mut rows = Vec::new();
    for n in 0..2 {
        let mut new = new_row(app.app_id, &format!("l-{n}"), vec![4]);
        new.sends = 1;
        let delivery = NewDelivery {
            route: vec!["console".into(), "backup".into()],
            address: format!("l{n}@example.com"),
            lease: Some(Lease {
                owner: format!("w{n}"),
                until: 61_000,
                // The first is counted against the send cap with its row (both
                // backends do that); the second is left to its worker.
                count: (n == 0).then(|| SendCount {
                    key: "send_addr:leased:l0".into(),
                    window_start: 0,
                }),
            }),
        };
        let counted_here = n == 0;
        let inserted = store
            .insert_verification(&new, Some(&delivery))
            .await
            .unwrap();
        let leased = inserted.leased.expect("leased as written");
        assert_eq!(
            leased.verification.verification_id,
            inserted.record.verification_id
        );
        assert_eq!(
            (
                leased.route.clone(),
                leased.route_index,
                leased.attempts,
                leased.send_counted,
                leased.sends,
                leased.address.as_str(),
            ),
            (
                delivery.route.clone(),
                0,
                1,
                counted_here,
                counted_here.then_some(1),
                delivery.address.as_str()
            )
        );
        assert_eq!(
            (leased.namespace.as_str(), leased.app_name.as_str()),
            ("leased", "Leased")
        );
        assert_eq!(leased.providers_rev, app.providers_rev);
        assert_eq!(
            store
                .deliveries_of(inserted.record.verification_id)
                .await
                .unwrap(),
            [("sending".to_owned(), String::new(), 1)]
        );
        rows.push(leased);
    }
    // The bucket holds the one message counted with its row, and nothing else.
    let spent = store.hit("send_addr:leased:l0", 0, 0).await.unwrap();
    assert_eq!(spent, 1);
    // No claim takes a leased row while its lease holds.
    let early = store
        .claim_deliveries("other", 2_000, 62_000, 100)
        .await
        .unwrap();
    assert!(early.is_empty(), "{early:?}");
    // Its owner settles the first without claiming it; another worker cannot.
    let sent = DeliveryOutcome::Sent {
        provider: "console".into(),
        message_id: Some("dev-1".into()),
    };
    let first = rows[0].delivery_id;
    assert!(!store
        .settle_delivery(first, "other", &sent, &[], 3_000)
        .await
        .unwrap());
    assert!(store
        .settle_delivery(first, "w0", &sent, &[("sent", "{}")], 3_000)
        .await
        .unwrap());
    // The second's owner died: once its lease is out, a claim takes it up, a second
    // attempt through the same route, counted against the send cap as it was not yet.
    let late = store
        .claim_deliveries("other", 61_000, 121_000, 100)
        .await
        .unwrap();
    assert_eq!(late.len(), 1, "{late:?}");
    assert_eq!(
        (
            late[0].delivery_id,
            late[0].attempts,
            late[0].route_index,
            late[0].send_counted
        ),
        (rows[1].delivery_id, 2, 0, false)
    );
    let verification = rows[0].verification.verification_id;
    assert_eq!(
        store.deliveries_of(verification).await.unwrap(),
        [("sent".to_owned(), "console".to_owned(), 1)]
    );
    drop(gw);
    drop(store);
    if let Some(name) = pg_name {
        support::drop_postgres_database(name);
    }
}

/// Creates written together whose messages go to one address: each is counted against
/// its send cap as its own hit (the k-th of them answered k), the bucket raised by all,
/// and a create without a count leaves the bucket alone.
async fn creates_to_one_address_count_in_turn(backend: Backend) {
    let (store, _dir, pg_name) = open(backend).await;
    let gw = console_gateway(store.clone(), Arc::new(ManualClock::default()));
    let (app, _) = gw
        .create_app(&Namespace::parse("turns").unwrap(), "Turns", None)
        .await
        .unwrap();
    let key = "send_addr:turns:one";
    let creates = (0..12).map(|n| {
        let store = store.clone();
        let mut new = new_row(app.app_id, &format!("t-{n}"), vec![5]);
        new.sends = 1;
        let delivery = NewDelivery {
            route: vec!["console".into()],
            address: "one@example.com".into(),
            lease: Some(Lease {
                owner: "w".into(),
                until: 61_000,
                count: (n != 11).then(|| SendCount {
                    key: key.into(),
                    window_start: 0,
                }),
            }),
        };
        async move {
            let inserted = store
                .insert_verification(&new, Some(&delivery))
                .await
                .unwrap();
            inserted.leased.expect("leased as written").sends
        }
    });
    let mut sends = futures_util::future::join_all(creates).await;
    assert_eq!(sends.pop(), Some(None), "written without a count");
    let mut counted: Vec<i64> = sends.into_iter().map(|s| s.expect("counted")).collect();
    counted.sort_unstable();
    assert_eq!(counted, (1..=11).collect::<Vec<i64>>());
    assert_eq!(store.hit(key, 0, 0).await.unwrap(), 11);
    drop(gw);
    drop(store);
    if let Some(name) = pg_name {
        support::drop_postgres_database(name);
    }
}

/// An inbound code's key names one open verification: a second create with it is refused
/// while the first is pending, and takes it once the first is verified or locked. On
/// PostgreSQL the key is cleared as its verification closes, so that no index names
/// `status` and a change of status is a heap-only update.
async fn an_inbound_key_is_held_while_its_verification_is_open(backend: Backend) {
    let (store, _dir, pg_name) = open(backend).await;
    let gw = console_gateway(store.clone(), Arc::new(ManualClock::default()));
    let (app, _) = gw
        .create_app(&Namespace::parse("inbound").unwrap(), "Inbound", None)
        .await
        .unwrap();
    let hasher = CodeHasher::new(vec![CodeKey::from_bytes([5; 32])]).unwrap();
    let code =
        |text: &str| OtpCode::parse(text, CodeSpec::new(6, Alphabet::Digits).unwrap()).unwrap();
    let key = vec![8; 32];
    let insert = |name: &'static str| {
        let mut new = new_row(
            app.app_id,
            name,
            hasher.hash("inbound", name, &code("123456")),
        );
        new.inbound_key = Some(key.clone());
        new.max_attempts = 1;
        let store = store.clone();
        async move { store.insert_verification(&new, None).await }
    };
    let holder = |store: Arc<dyn Store>, key: Vec<u8>| async move {
        store
            .find_inbound(&key, 2_000)
            .await
            .unwrap()
            .map(|(_, record)| record.public_id)
    };
    let check = |record: &app::gateway::store::VerificationRecord, text: &str| {
        let attempt = attempt_as_read(record);
        let digests = hasher.digests("inbound", &record.public_id, &code(text));
        let store = store.clone();
        async move { store.attempt(&attempt, &digests).await.unwrap() }
    };

    let first = insert("first").await.unwrap().record;
    assert!(matches!(insert("second").await, Err(StoreError::Conflict)));
    assert_eq!(
        holder(store.clone(), key.clone()).await.as_deref(),
        Some("first")
    );
    assert_eq!(
        check(&first, "123456").await,
        AttemptOutcome::Verified { attempts: 1 }
    );
    assert_eq!(holder(store.clone(), key.clone()).await, None, "closed");

    let second = insert("second")
        .await
        .expect("the key is free again")
        .record;
    assert_eq!(
        holder(store.clone(), key.clone()).await.as_deref(),
        Some("second")
    );
    assert_eq!(
        check(&second, "000000").await,
        AttemptOutcome::Incorrect {
            attempts: 1,
            max_attempts: 1,
            locked: true
        }
    );
    assert_eq!(holder(store.clone(), key.clone()).await, None, "locked");
    insert("third").await.expect("free once locked too");
    for (name, status) in [("first", Status::Verified), ("second", Status::Locked)] {
        let record = store
            .find_verification(app.app_id, name)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record.status, status, "{name}");
    }

    if let Some(name) = &pg_name {
        use sqlx::Connection;
        let mut db = sqlx::PgConnection::connect(&support::postgres_database_url(name))
            .await
            .unwrap();
        let (cleared, held): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE inbound_key IS NULL), \
               count(*) FILTER (WHERE inbound_key IS NOT NULL) FROM verification",
        )
        .fetch_one(&mut db)
        .await
        .unwrap();
        assert_eq!((cleared, held), (2, 1), "the closed ones' keys are cleared");
        // A change of status writes no index entry: a heap-only update.
        let mut tx = db.begin().await.unwrap();
        let fresh = new_row(app.app_id, "hot", vec![1]);
        let id = store
            .insert_verification(&fresh, None)
            .await
            .unwrap()
            .record
            .verification_id;
        sqlx::query("UPDATE verification SET status = 'verified', verified_at = 3000 WHERE verification_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .unwrap();
        let hot: i64 = sqlx::query_scalar(
            "SELECT pg_stat_get_xact_tuples_hot_updated('verification'::regclass)",
        )
        .fetch_one(&mut *tx)
        .await
        .unwrap();
        assert_eq!(hot, 1, "the consumption was a heap-only update");
        tx.rollback().await.unwrap();
    }
    drop(gw);
    drop(store);
    if let Some(name) = pg_name {
        support::drop_postgres_database(name);
    }
}

/// Reads side by side each find their own verification, or nothing for an id never
/// created, the same id read twice included; on PostgreSQL they are read in batches
/// (`otpgate_read_batch_reads`), several to a statement.
async fn reads_side_by_side_each_find_their_own(backend: Backend) {
    let recorder = otpgate::http::metrics::recorder();
    let (store, _dir, pg_name) = open(backend).await;
    let gw = console_gateway(store.clone(), Arc::new(ManualClock::default()));
    let (app, _) = gw
        .create_app(&Namespace::parse("reads").unwrap(), "Reads", None)
        .await
        .unwrap();
    let mut created = Vec::new();
    for n in 0..40_u8 {
        let row = new_row(app.app_id, &format!("read-{n}"), vec![n; 32]);
        created.push(store.insert_verification(&row, None).await.unwrap().record);
    }
    recorder.run_upkeep();
    let before = histogram(&recorder.render(), "otpgate_read_batch_reads").unwrap_or_default();
    let names: Vec<String> = (0..60)
        .map(|n| match n % 3 {
            2 => format!("never-{n}"),
            _ => format!("read-{}", n % 40),
        })
        .collect();
    let reads = names.iter().map(|public_id| {
        let store = store.clone();
        async move { store.find_verification(app.app_id, public_id).await }
    });
    let found = futures_util::future::join_all(reads).await;
    for (public_id, read) in names.iter().zip(found) {
        let read = read.unwrap();
        match created.iter().find(|r| &r.public_id == public_id) {
            Some(record) => {
                let read = read.unwrap_or_else(|| panic!("{public_id} found"));
                assert_eq!(read.verification_id, record.verification_id, "{public_id}");
                assert_eq!(read.public_id, *public_id);
                assert_eq!(read.code_hmac, record.code_hmac, "{public_id}'s own row");
            }
            None => assert!(read.is_none(), "{public_id} was never created"),
        }
    }
    if backend == Backend::Postgres {
        recorder.run_upkeep();
        let (sum, count) = histogram(&recorder.render(), "otpgate_read_batch_reads").unwrap();
        let (reads, batches) = (sum - before.0, count - before.1);
        assert!(reads >= 60.0, "every read counted ({reads})");
        assert!(batches < reads, "{reads} reads in {batches} batches");
    }
    drop(gw);
    drop(store);
    if let Some(name) = pg_name {
        support::drop_postgres_database(name);
    }
}

on_both_backends!(
    reads_side_by_side_each_find_their_own,
    an_inbound_key_is_held_while_its_verification_is_open,
    creates_to_one_address_count_in_turn,
    a_batch_answers_each_write_on_its_own,
    an_insert_answers_the_row_it_stored,
    hits_on_many_buckets_count_as_hits_in_turn,
    refused_attempts_spend_nothing,
    a_create_that_fails_fails_alone,
    settles_written_together_answer_each,
    a_row_leased_as_written_waits_out_its_lease
);

/// PostgreSQL: what runs with every batch and every commit finds its rows through
/// indexes, however the tables have grown since the planner last saw them. The database
/// is new and never analyzed, as the bench's and a fresh install's are. An app with an
/// event webhook (its trigger runs with each batch) creates in batches while the tables
/// are nearly empty, then 3,000 more verifications and events arrive, then more batches
/// of creates, each followed by a read of the newest events (the live pump's), and a fold
/// of the stats, and reads of verifications side by side. Not one row of `verification` or
/// `event` is read by a sequential scan, each read fetches only its own row, and each event
/// still queues its webhook message.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_hot_statements_read_no_table_whole_before_any_analyze() {
    support::within_deadline(async {
        use app::gateway::store::NewWebhook;
        use sqlx::Connection;
        let (store, _dir, pg_name) = open(Backend::Postgres).await;
        let name = pg_name.expect("a PostgreSQL database");
        let gw = console_gateway(store.clone(), Arc::new(ManualClock::default()));
        let (app, _) = gw
            .create_app(&Namespace::parse("plans").unwrap(), "Plans", None)
            .await
            .unwrap();
        store
            .add_webhook(
                &NewWebhook {
                    app_id: app.app_id,
                    url: "http://127.0.0.1:9/hook".into(),
                    events: vec!["created".into()],
                    kinds: vec!["created".into()],
                    sealed: vec![1],
                },
                1_000,
            )
            .await
            .unwrap();

        let app_id = app.app_id;
        let creates = |round: String| {
            let store = store.clone();
            async move {
                let creates = (0..10).map(|n| {
                    let row = new_row(app_id, &format!("late-{round}-{n}"), vec![2]);
                    let store = store.clone();
                    async move { store.insert_verification(&row, None).await.unwrap() }
                });
                futures_util::future::join_all(creates).await;
            }
        };
        // The first batches meet nearly empty tables.
        creates("first".into()).await;
        let mut db = sqlx::PgConnection::connect(&support::postgres_database_url(&name))
            .await
            .unwrap();
        sqlx::query(
            "WITH v AS (INSERT INTO verification (app_id, public_id, provider, channel, \
               address, code_hmac, code_length, code_alphabet, max_attempts, max_sends, \
               created_at, updated_at, expires_at) \
             SELECT $1, 'early-' || g, 'console', 'email', 'ana@example.com', '\\x01', 6, \
               'digits', 10, 5, 1000, 1000, 600000 FROM generate_series(1, 3000) g \
             RETURNING verification_id, app_id, channel, provider) \
             INSERT INTO event (verification_id, kind, created_at, app_id, channel, provider) \
             SELECT verification_id, 'created', 1000, app_id, channel, provider FROM v",
        )
        .bind(app.app_id)
        .execute(&mut db)
        .await
        .unwrap();
        // Folded: the events left to fold from here on are the newest, at the table's end.
        assert!(store.fold_stats().await.unwrap() > 0);
        for round in 0..20 {
            creates(round.to_string()).await;
            let newest: i64 = sqlx::query_scalar("SELECT max(event_id) FROM event")
                .fetch_one(&mut db)
                .await
                .unwrap();
            let read = store.events_after(newest - 5, 256).await.unwrap();
            assert_eq!(read.len(), 5, "the newest events, round {round}");
            // Checks' reads side by side, batched: old verifications and this round's.
            let finds = (0..10).map(|n| {
                let store = store.clone();
                let public_id = match n % 2 {
                    0 => format!("early-{}", 1 + n * 100 + round),
                    _ => format!("late-{round}-{n}"),
                };
                async move { store.find_verification(app_id, &public_id).await }
            });
            for found in futures_util::future::join_all(finds).await {
                assert!(matches!(found, Ok(Some(_))), "{found:?}");
            }
        }
        assert!(
            store.fold_stats().await.unwrap() > 0,
            "the events were folded"
        );
        let queued: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_message")
            .fetch_one(&mut db)
            .await
            .unwrap();
        assert_eq!(queued, 3_210, "one message for each event");

        // A backend's counts reach the statistics when it ends: end them all, then read.
        drop(db);
        drop(gw);
        drop(store);
        let mut admin = sqlx::PgConnection::connect(&support::postgres_admin_url())
            .await
            .unwrap();
        loop {
            if end_connections(&mut admin, &name).await == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let mut db = sqlx::PgConnection::connect(&support::postgres_database_url(&name))
            .await
            .unwrap();
        let fetched: i64 = sqlx::query_scalar(
            "SELECT idx_tup_fetch FROM pg_stat_user_tables WHERE relname = 'verification'",
        )
        .fetch_one(&mut db)
        .await
        .unwrap();
        // Each event's foreign-key check reads its verification (3,210), and each of the
        // 200 reads its own: a read that looked through more than its own row (every
        // current verification, or all of its app's) fetches thousands a batch.
        assert!(
            fetched <= 3_210 + 200 + 200,
            "{fetched} rows of verification fetched through its indexes"
        );
        let read: Vec<(String, i64)> = sqlx::query_as(
            "SELECT relname::text, seq_tup_read FROM pg_stat_user_tables \
             WHERE relname IN ('verification', 'event') ORDER BY relname",
        )
        .fetch_all(&mut db)
        .await
        .unwrap();
        assert_eq!(
            read,
            [("event".to_string(), 0), ("verification".to_string(), 0)],
            "rows read by sequential scans"
        );
        drop(db);
        support::drop_postgres_database(name);
    })
    .await
}

/// PostgreSQL: the batches keep their connections from one batch to the next, and the
/// pool hands out connections without pinging each first; a connection is pinged only
/// after a second idle. So when the database ends every connection (a restart, a
/// failover, an idle timeout) while the server is quiet, the first create, check and read
/// afterwards find out before they use one, and succeed on a new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn connections_the_database_ended_while_idle_are_replaced_before_use() {
    support::within_deadline(async {
        use sqlx::Connection;
        let (store, _dir, pg_name) = open(Backend::Postgres).await;
        let name = pg_name.expect("a PostgreSQL database");
        let gw = console_gateway(store.clone(), Arc::new(ManualClock::default()));
        let (app, _) = gw
            .create_app(&Namespace::parse("ended").unwrap(), "Ended", None)
            .await
            .unwrap();
        let hasher = CodeHasher::new(vec![CodeKey::from_bytes([7; 32])]).unwrap();
        let code = OtpCode::parse("123456", CodeSpec::new(6, Alphabet::Digits).unwrap()).unwrap();
        let row = |public_id: &str| {
            new_row(
                app.app_id,
                public_id,
                hasher.hash("ended", public_id, &code),
            )
        };
        // Creates, reads side by side and a check: each kind of batch has a connection,
        // and the pool has several idle.
        let creates = (0..12).map(|n| {
            let (store, row) = (store.clone(), row(&format!("before-{n}")));
            async move { store.insert_verification(&row, None).await.unwrap().record }
        });
        let before = futures_util::future::join_all(creates).await;
        let reads = before.iter().map(|record| {
            let store = store.clone();
            let public_id = record.public_id.clone();
            async move { store.find_verification(app.app_id, &public_id).await }
        });
        for read in futures_util::future::join_all(reads).await {
            assert!(matches!(read, Ok(Some(_))), "{read:?}");
        }
        let check = |record: &app::gateway::store::VerificationRecord| {
            let attempt = attempt_as_read(record);
            let digests = hasher.digests("ended", &record.public_id, &code);
            let store = store.clone();
            async move { store.attempt(&attempt, &digests).await }
        };
        assert_eq!(
            check(&before[0]).await.unwrap(),
            AttemptOutcome::Verified { attempts: 1 }
        );

        let mut admin = sqlx::PgConnection::connect(&support::postgres_admin_url())
            .await
            .unwrap();
        let ended = end_connections(&mut admin, &name).await;
        assert!(ended >= 3, "the store's connections were ended ({ended})");
        tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;

        let created = store.insert_verification(&row("after"), None).await;
        assert!(
            created.is_ok(),
            "a create after the connections ended: {created:?}"
        );
        let read = store.find_verification(app.app_id, "before-3").await;
        let Ok(Some(read)) = read else {
            panic!("a read after the connections ended: {read:?}");
        };
        assert_eq!(
            check(&read).await.unwrap(),
            AttemptOutcome::Verified { attempts: 1 },
            "a right code after the connections ended"
        );
        drop(admin);
        drop(gw);
        drop(store);
        support::drop_postgres_database(name);
    })
    .await
}
