//! App authentication: namespace and secret, checked against argon2id hashes.
//!
//! argon2id is deliberately slow, so a successful pair is remembered (as a SHA-256 digest,
//! with its app) for one minute; a secret changed on this instance drops the entry at once,
//! one changed on another instance stops working here within the minute.
//!
//! It is also deliberately hungry (19 MiB a hash), so at most one check per core runs at
//! a time: a burst of requests that all miss the memory (a start, a minute's end, or a
//! flood of wrong secrets) waits its turn instead of holding 19 MiB each at once, and the
//! requests behind the first right one find it remembered.

use crate::gateway::{
    error::EngineError,
    secret::ApiSecret,
    store::{ActiveSecret, AppRecord, Store},
};
use sha2::{Digest, Sha256};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use subtle::ConstantTimeEq;

/// How long a verified pair is trusted without asking the database again.
const REMEMBER: Duration = Duration::from_secs(60);

struct Remembered {
    digest: [u8; 32],
    app: AppRecord,
    at: Instant,
    /// When the matched secret stops working (a rotated-out one), in the engine's time.
    expires_at: Option<i64>,
}

pub(crate) struct Authenticator {
    store: Arc<dyn Store>,
    verified: Mutex<HashMap<String, Remembered>>,
    /// Checked when the namespace is unknown, so both paths cost one argon2id. Made on
    /// first use, off the executor.
    decoy_hash: tokio::sync::OnceCell<String>,
    /// One permit per core: argon2id checks running at once.
    hashing: tokio::sync::Semaphore,
}

impl Authenticator {
    pub(crate) fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            verified: Mutex::new(HashMap::new()),
            decoy_hash: tokio::sync::OnceCell::new(),
            hashing: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(1, |n| n.get()),
            ),
        }
    }

    pub(crate) fn forget(&self, namespace: &str) {
        self.cache().remove(namespace);
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, Remembered>> {
        self.verified.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The app of a pair checked within the last minute, if this is one.
    fn remembered(&self, namespace: &str, digest: &[u8; 32], now: i64) -> Option<AppRecord> {
        let cache = self.cache();
        let known = cache.get(namespace)?;
        (known.at.elapsed() < REMEMBER
            && known.expires_at.is_none_or(|at| now < at)
            && bool::from(known.digest.ct_eq(digest)))
        .then(|| known.app.clone())
    }

    /// Checks a pair at `now` (engine time, for secrets that expire after a rotation); a
    /// secret that matches is noted as used.
    pub(crate) async fn authenticate(
        &self,
        namespace: &str,
        secret: &str,
        now: i64,
    ) -> Result<AppRecord, EngineError> {
        let digest: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        if let Some(app) = self.remembered(namespace, &digest, now) {
            return Ok(app);
        }
        let _turn = self
            .hashing
            .acquire()
            .await
            .expect("the semaphore is never closed");
        // A request ahead of this one may have checked the same pair meanwhile.
        if let Some(app) = self.remembered(namespace, &digest, now) {
            return Ok(app);
        }
        let app = self.store.find_app(namespace).await?;
        let secrets = match &app {
            Some(app) => self.store.active_secrets(app.app_id, now).await?,
            None => {
                let decoy = self
                    .decoy_hash
                    .get_or_init(|| async {
                        tokio::task::spawn_blocking(|| ApiSecret::generate().hash())
                            .await
                            .expect("argon2 hashing does not panic")
                    })
                    .await;
                vec![ActiveSecret {
                    secret_id: 0,
                    hash: decoy.clone(),
                    expires_at: None,
                }]
            }
        };
        let secret = secret.to_owned();
        let matched = tokio::task::spawn_blocking(move || {
            let secret = ApiSecret::parse(&secret).ok()?;
            secrets.into_iter().find(|s| secret.verify(&s.hash))
        })
        .await
        .ok()
        .flatten();
        crate::gateway::metrics::secret_checked(matched.is_some());
        match (app, matched) {
            (Some(app), Some(matched)) => {
                self.store.secret_used(matched.secret_id, now).await?;
                let remembered = Remembered {
                    digest,
                    app: app.clone(),
                    at: Instant::now(),
                    expires_at: matched.expires_at,
                };
                self.cache().insert(namespace.to_owned(), remembered);
                Ok(app)
            }
            _ => Err(EngineError::Unauthorized),
        }
    }
}
