//! A property test: random sequences of check / resend / cancel / clock steps against one
//! verification, compared with a small reference model. Whatever the sequence, at most one
//! check succeeds, attempts never exceed the limit, and nothing succeeds after expiry.

mod support;

use app::{
    gateway::{
        clock::ManualClock, store::SqliteStore, CheckMode, CreateRequest, CustomCode, EngineError,
        Gateway,
    },
    model::{CheckResult, Namespace, Status, VerificationId},
};
use proptest::prelude::*;
use std::sync::Arc;
use support::console_gateway;

#[derive(Debug, Clone)]
enum Step {
    Check { right: bool },
    Resend,
    Cancel,
    Advance { secs: i64 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => any::<bool>().prop_map(|right| Step::Check { right }),
        1 => Just(Step::Resend),
        1 => Just(Step::Cancel),
        2 => (1i64..40).prop_map(|secs| Step::Advance { secs }),
    ]
}

const TTL: i64 = 60;
const MAX_ATTEMPTS: u32 = 3;

/// What the engine should do, kept as simply as possible.
struct Model {
    status: Status,
    attempts: u32,
    age: i64,
}

impl Model {
    fn check(&mut self, right: bool) -> CheckResult {
        match self.status {
            Status::Verified => return CheckResult::AlreadyVerified,
            Status::Locked => return CheckResult::Locked,
            Status::Expired => return CheckResult::Expired,
            Status::Cancelled => return CheckResult::Cancelled,
            Status::Pending => {}
        }
        if self.age >= TTL {
            self.status = Status::Expired;
            return CheckResult::Expired;
        }
        self.attempts += 1;
        if right {
            self.status = Status::Verified;
            return CheckResult::Verified;
        }
        let left = MAX_ATTEMPTS - self.attempts;
        if left == 0 {
            self.status = Status::Locked;
        }
        CheckResult::Incorrect {
            attempts_left: left,
        }
    }

    fn cancel(&mut self) -> bool {
        if self.status == Status::Pending && self.age < TTL {
            self.status = Status::Cancelled;
            return true;
        }
        if self.status == Status::Pending {
            self.status = Status::Expired;
        }
        false
    }
}

async fn gateway(dir: &std::path::Path, clock: Arc<ManualClock>) -> Gateway {
    let url = format!("sqlite://{}", dir.join("model.db").display());
    console_gateway(Arc::new(SqliteStore::connect(&url).await.unwrap()), clock)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn the_engine_agrees_with_the_model(steps in proptest::collection::vec(step(), 1..30)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let clock = Arc::new(ManualClock::default());
            let gw = gateway(dir.path(), clock.clone()).await;
            let (app, _) = gw.create_app(&Namespace::parse("m").unwrap(), "M", None).await.unwrap();
            let id = VerificationId::parse("v").unwrap();
            gw.create(&app, CreateRequest {
                id: Some(id.clone()),
                code: Some(CustomCode::parse("424242").unwrap()),
                ttl_secs: Some(TTL as u64),
                max_attempts: Some(MAX_ATTEMPTS),
                ..CreateRequest::new(gw.target(&app, "console", "m@example.com").await.unwrap())
            }).await.unwrap();
            let mut model = Model { status: Status::Pending, attempts: 0, age: 0 };
            let mut successes = 0;
            for step in steps {
                match step {
                    Step::Check { right } => {
                        let code = if right { "424242" } else { "000000" };
                        let (got, record) = gw.check(&app, &id, code, CheckMode::HostedPage).await.unwrap();
                        let want = model.check(right);
                        assert_eq!(got, want, "check(right = {right}) at age {}", model.age);
                        assert!(record.attempts <= MAX_ATTEMPTS);
                        if got == CheckResult::Verified {
                            successes += 1;
                            assert!(model.age < TTL, "a success after expiry");
                        }
                    }
                    Step::Resend => {
                        let before = gw.get(&app, &id).await.unwrap().attempts;
                        let _ = gw.resend(&app, &id, None).await;
                        assert_eq!(gw.get(&app, &id).await.unwrap().attempts, before, "a resend never touches attempts");
                    }
                    Step::Cancel => {
                        let got = gw.cancel(&app, &id).await;
                        let want = model.cancel();
                        assert_eq!(got.is_ok(), want, "cancel at age {}", model.age);
                        if let Err(e) = got {
                            assert!(matches!(e, EngineError::Closed(_)), "{e:?}");
                        }
                    }
                    Step::Advance { secs } => {
                        clock.advance_ms(secs * 1000);
                        model.age += secs;
                    }
                }
                let stored = gw.get(&app, &id).await.unwrap();
                assert_eq!(stored.attempts, model.attempts);
            }
            assert!(successes <= 1);
        });
    }
}
