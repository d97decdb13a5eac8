//! Engine guarantees that need a database and a clock: expiry judged at check time, single
//! use under concurrency, the attempt budget under parallel guesses, hashed storage.

mod support;

use app::{
    gateway::{
        store::{AppRecord, VerificationRecord},
        CheckMode, CreateRequest, CustomCode, EngineError, Target,
    },
    model::{CheckResult, Status, VerificationId},
};
use support::{spawn_app, spawn_app_on, Backend, TestApp};

/// A console verification of `e@example.com` with a chosen code.
fn request(app: &TestApp, id: &str, code: &str, ttl: u64) -> CreateRequest {
    CreateRequest {
        id: Some(VerificationId::parse(id).unwrap()),
        code: Some(CustomCode::parse(code).unwrap()),
        ttl_secs: Some(ttl),
        ..CreateRequest::new(console(app, "e@example.com"))
    }
}

/// The server's console provider, reaching `to`.
fn console(app: &TestApp, to: &str) -> Target {
    let provider = app.gateway.providers().get("console").unwrap().clone();
    let address = Some(provider.parse_address(to).unwrap());
    Target { provider, address }
}

/// A code checked as the hosted page checks it; the check must be answered.
async fn check_on_page(
    app: &TestApp,
    demo: &AppRecord,
    id: &VerificationId,
    code: &str,
) -> (CheckResult, VerificationRecord) {
    app.gateway
        .check(demo, id, code, CheckMode::HostedPage)
        .await
        .unwrap()
}

/// The check's result, or `None` when a rate limit refused it before any comparison.
fn refused_or(
    outcome: Result<(CheckResult, app::gateway::store::VerificationRecord), EngineError>,
) -> Option<CheckResult> {
    match outcome {
        Ok((result, _)) => Some(result),
        Err(EngineError::RateLimited { .. }) => None,
        Err(e) => panic!("unexpected error: {e:?}"),
    }
}

/// Starts `rounds` verifications for the demo address and makes `guesses` wrong checks on
/// each; answers how many were evaluated (not refused by a limit).
async fn wrong_guesses(
    app: &support::TestApp,
    demo: &app::gateway::store::AppRecord,
    prefix: &str,
    rounds: i64,
    guesses: u32,
) -> i64 {
    let mut evaluated = 0;
    for round in 0..rounds {
        let id = format!("{prefix}-{round}");
        app.gateway
            .create(demo, request(app, &id, "999999", 600))
            .await
            .unwrap();
        let id = VerificationId::parse(&id).unwrap();
        for guess in 0..guesses {
            let code = format!("{:06}", 100_000 + guess);
            if let Some(CheckResult::Incorrect { .. }) = refused_or(
                app.gateway
                    .check(demo, &id, &code, CheckMode::HostedPage)
                    .await,
            ) {
                evaluated += 1;
            }
        }
    }
    evaluated
}

async fn demo(app: &support::TestApp) -> app::gateway::store::AppRecord {
    app.gateway
        .authenticate(support::NAMESPACE, support::SECRET)
        .await
        .unwrap()
}

async fn expiry_is_judged_at_check_time(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    let demo = demo(&app).await;
    let id = VerificationId::parse("ttl-ok").unwrap();
    app.gateway
        .create(&demo, request(&app, "ttl-ok", "123456", 60))
        .await
        .unwrap();
    app.clock.advance_ms(59_000);
    let (result, _) = check_on_page(&app, &demo, &id, "123456").await;
    assert_eq!(result, CheckResult::Verified);

    let id = VerificationId::parse("ttl-late").unwrap();
    app.gateway
        .create(&demo, request(&app, "ttl-late", "123456", 60))
        .await
        .unwrap();
    app.clock.advance_ms(61_000);
    let (result, record) = check_on_page(&app, &demo, &id, "123456").await;
    assert_eq!(result, CheckResult::Expired);
    assert_eq!(record.status, Status::Expired);
    let kinds = app.gateway.event_kinds(&record).await.unwrap();
    assert_eq!(kinds.first().map(String::as_str), Some("created"));
    // The delivery worker may add its own events around it; the state change is there.
    assert_eq!(
        kinds.iter().filter(|k| *k == "expired").count(),
        1,
        "{kinds:?}"
    );
}

async fn parallel_right_codes_succeed_exactly_once(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    let demo = demo(&app).await;
    app.gateway
        .create(
            &demo,
            CreateRequest {
                max_attempts: Some(10),
                ..request(&app, "race", "654321", 600)
            },
        )
        .await
        .unwrap();
    let id = VerificationId::parse("race").unwrap();
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let (gw, demo, id) = (app.gateway.clone(), demo.clone(), id.clone());
            tokio::spawn(async move {
                refused_or(gw.check(&demo, &id, "654321", CheckMode::HostedPage).await)
            })
        })
        .collect();
    let mut wins = 0;
    for t in tasks {
        if t.await.unwrap() == Some(CheckResult::Verified) {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
}

async fn parallel_wrong_guesses_never_exceed_the_budget(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    let demo = demo(&app).await;
    app.gateway
        .create(&demo, request(&app, "guess", "111222", 600))
        .await
        .unwrap();
    let id = VerificationId::parse("guess").unwrap();
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let (gw, demo, id) = (app.gateway.clone(), demo.clone(), id.clone());
            tokio::spawn(async move {
                let guess = format!("{:06}", 300_000 + i);
                refused_or(gw.check(&demo, &id, &guess, CheckMode::HostedPage).await)
            })
        })
        .collect();
    let mut evaluated = 0;
    for t in tasks {
        if matches!(t.await.unwrap(), Some(CheckResult::Incorrect { .. })) {
            evaluated += 1;
        }
    }
    assert!(evaluated <= 5, "{evaluated} guesses were evaluated");
    let (result, record) = check_on_page(&app, &demo, &id, "111222").await;
    assert_eq!(result, CheckResult::Locked);
    assert_eq!(record.attempts, 5);
}

#[tokio::test]
async fn the_database_never_holds_the_plaintext_code() {
    let app = spawn_app("").await;
    let (status, _) = app
        .put_otp(
            "plain",
            &[
                ("to", "p@example.com"),
                ("provider", "console"),
                ("otp", "8675309"),
            ],
        )
        .await;
    assert_eq!(status, 200);
    app.console_message_for("p@example.com").await;
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(app.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("otpgate.db")
        {
            bytes.extend(std::fs::read(path).unwrap());
        }
    }
    assert!(bytes.len() > 4096, "the database files were read");
    assert!(!bytes.windows(7).any(|w| w == b"8675309"));
}

async fn new_verifications_never_reset_the_failed_check_cap_of_an_address(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    let demo = demo(&app).await;
    let cap = app.gateway.settings().limits.failed_checks_per_address.max;
    let evaluated = wrong_guesses(&app, &demo, "round", 50, 5).await;
    assert_eq!(
        evaluated, cap,
        "exactly the cap of wrong guesses was evaluated, out of 250"
    );
    // A different address of the same app is unaffected.
    let other = CreateRequest {
        target: console(&app, "someone-else@example.com"),
        ..request(&app, "fresh", "999999", 600)
    };
    app.gateway.create(&demo, other).await.unwrap();
    let fresh = VerificationId::parse("fresh").unwrap();
    let (result, _) = check_on_page(&app, &demo, &fresh, "999999").await;
    assert_eq!(result, CheckResult::Verified);
}

async fn a_verification_of_another_app_answers_like_an_unknown_one(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    let demo = demo(&app).await;
    app.gateway
        .create(&demo, request(&app, "shared-id", "123456", 600))
        .await
        .unwrap();
    let (other, _) = app
        .gateway
        .create_app(
            &app::model::Namespace::parse("other").unwrap(),
            "Other",
            None,
        )
        .await
        .unwrap();
    let id = VerificationId::parse("shared-id").unwrap();
    let missing = VerificationId::parse("missing").unwrap();
    let a = app
        .gateway
        .check(
            &other,
            &id,
            "123456",
            CheckMode::Otpgateway { retire: true },
        )
        .await
        .unwrap_err();
    let b = app
        .gateway
        .check(
            &other,
            &missing,
            "123456",
            CheckMode::Otpgateway { retire: true },
        )
        .await
        .unwrap_err();
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
    assert!(matches!(a, EngineError::NotFound));
    let (result, _) = check_on_page(&app, &demo, &id, "123456").await;
    assert_eq!(
        result,
        CheckResult::Verified,
        "the other app's attempt spent nothing"
    );
}

async fn right_codes_spend_nothing_of_the_address_failure_budget(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    let demo = demo(&app).await;
    let cap = app.gateway.settings().limits.failed_checks_per_address.max;
    // More right codes for one address than the failure budget holds: all verify.
    for round in 0..cap + 5 {
        let id = format!("ok-{round}");
        app.gateway
            .create(&demo, request(&app, &id, "999999", 600))
            .await
            .unwrap();
        let id = VerificationId::parse(&id).unwrap();
        let (result, _) = check_on_page(&app, &demo, &id, "999999").await;
        assert_eq!(result, CheckResult::Verified, "round {round}");
    }
    // The whole budget is still there for wrong guesses: exactly `cap` are evaluated.
    let evaluated = wrong_guesses(&app, &demo, "bad", cap, 2).await;
    assert_eq!(evaluated, cap);
}

/// A right code is held to the address's failure budget like any check: refused while the
/// budget is spent, with nothing counted, and counted once with the wrong codes before it
/// when the window has passed.
async fn a_right_code_waits_out_a_spent_budget(backend: Backend) {
    let app = spawn_app_on(backend, "").await;
    let demo = demo(&app).await;
    let cap = app.gateway.settings().limits.failed_checks_per_address.max;
    assert_eq!(wrong_guesses(&app, &demo, "spent", cap, 1).await, cap);
    app.gateway
        .create(&demo, request(&app, "late", "424242", 86_400))
        .await
        .unwrap();
    let id = VerificationId::parse("late").unwrap();
    let retry_after = match app
        .gateway
        .check(&demo, &id, "424242", CheckMode::HostedPage)
        .await
    {
        Err(EngineError::RateLimited { retry_after_secs }) => retry_after_secs,
        other => panic!("refused while the budget is spent, not {other:?}"),
    };
    let record = app.record("late").await;
    assert_eq!((record.status, record.attempts), (Status::Pending, 0));

    app.clock
        .advance_ms(i64::try_from(retry_after).unwrap() * 1000 + 1000);
    let (result, _) = check_on_page(&app, &demo, &id, "000000").await;
    assert!(
        matches!(result, CheckResult::Incorrect { .. }),
        "{result:?}"
    );
    let (result, record) = check_on_page(&app, &demo, &id, "424242").await;
    assert_eq!(result, CheckResult::Verified);
    assert_eq!((record.status, record.attempts), (Status::Verified, 2));
    let (result, _) = check_on_page(&app, &demo, &id, "424242").await;
    assert_eq!(result, CheckResult::AlreadyVerified, "a code verifies once");
}

on_both_backends!(
    a_right_code_waits_out_a_spent_budget,
    right_codes_spend_nothing_of_the_address_failure_budget,
    new_verifications_never_reset_the_failed_check_cap_of_an_address,
    a_verification_of_another_app_answers_like_an_unknown_one,
    expiry_is_judged_at_check_time,
    parallel_right_codes_succeed_exactly_once,
    parallel_wrong_guesses_never_exceed_the_budget,
);
