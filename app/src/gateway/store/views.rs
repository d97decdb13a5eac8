//! What the hosted pages read, kept in memory: verifications by (app, public id) and apps
//! by namespace, so a page view or a status poll needs no database round trip.
//!
//! It is a read cache, never a source of decisions: checks, sends and every other change
//! go to the database, whose conditional statements decide. It stays current this way:
//! - every write through this process's store forgets the verification it touched, after
//!   its commit (so a request that follows a write sees the write);
//! - a read fills an entry only if nothing was forgotten while it was reading
//!   ([`Views::epoch`]), so a read that raced a write cannot put back the old state;
//! - other instances' writes (PostgreSQL) arrive as events: the live pump forgets each
//!   event's verification ([`Views::forget`]), a few milliseconds after their commit.
//!   Every change to a verification records an event.
//!
//! Apps change only through the CLI and the config file; an app entry is re-read after
//! [`APP_TTL`] so another instance's change is seen too.

use super::{AppRecord, VerificationRecord};
use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, MutexGuard,
    },
    time::{Duration, Instant},
};

/// Verifications kept at most; past it, an arbitrary one makes room.
const CAPACITY: usize = 8192;
/// How long an app read stays good.
pub(super) const APP_TTL: Duration = Duration::from_secs(10);

type Key = (i64, String);

#[derive(Default)]
struct Entries {
    verifications: HashMap<Key, Arc<VerificationRecord>>,
    /// verification_id → key, to forget by the id writes and events carry.
    keys: HashMap<i64, Key>,
    apps: HashMap<String, (Arc<AppRecord>, Instant)>,
}

/// The cache; see the module documentation for how it stays current.
#[derive(Default)]
pub struct Views {
    entries: Mutex<Entries>,
    /// Raised by every forget; a fill that saw another value does not fill.
    epoch: AtomicU64,
}

impl std::fmt::Debug for Views {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Views")
            .field("verifications", &self.lock().verifications.len())
            .finish()
    }
}

impl Views {
    fn lock(&self) -> MutexGuard<'_, Entries> {
        // Every critical section leaves the maps consistent, so a panic elsewhere while
        // holding the lock poisons nothing that matters.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Taken before a database read whose result may fill the cache.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    pub fn verification(&self, app_id: i64, public_id: &str) -> Option<Arc<VerificationRecord>> {
        self.lock()
            .verifications
            .get(&(app_id, public_id.to_owned()))
            .cloned()
    }

    /// Keeps `record` unless something was forgotten since `epoch` was taken.
    pub fn fill_verification(&self, epoch: u64, record: VerificationRecord) {
        let mut entries = self.lock();
        if self.epoch.load(Ordering::Acquire) != epoch {
            return;
        }
        if entries.verifications.len() >= CAPACITY {
            if let Some(old) = entries.keys.keys().next().copied() {
                if let Some(key) = entries.keys.remove(&old) {
                    entries.verifications.remove(&key);
                }
            }
        }
        let key = (record.app_id, record.public_id.clone());
        let verification_id = record.verification_id;
        entries.keys.insert(verification_id, key.clone());
        if let Some(previous) = entries.verifications.insert(key, Arc::new(record)) {
            // The same public id under a newer verification (a closed one set aside and
            // started anew): the old id no longer names this entry.
            if entries.keys.get(&previous.verification_id)
                == Some(&(previous.app_id, previous.public_id.clone()))
                && previous.verification_id != verification_id
            {
                entries.keys.remove(&previous.verification_id);
            }
        }
    }

    /// The verification changed (or may have): the next read goes to the database.
    pub fn forget(&self, verification_id: i64) {
        let mut entries = self.lock();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        if let Some(key) = entries.keys.remove(&verification_id) {
            entries.verifications.remove(&key);
        }
    }

    /// A verification was created under this public id (possibly anew, after a closed one
    /// was set aside): whatever was kept under it is stale.
    pub fn forget_key(&self, app_id: i64, public_id: &str) {
        let mut entries = self.lock();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        if let Some(old) = entries
            .verifications
            .remove(&(app_id, public_id.to_owned()))
        {
            entries.keys.remove(&old.verification_id);
        }
    }

    pub fn app(&self, namespace: &str) -> Option<Arc<AppRecord>> {
        let entries = self.lock();
        let (app, read_at) = entries.apps.get(namespace)?;
        (read_at.elapsed() < APP_TTL).then(|| app.clone())
    }

    pub fn fill_app(&self, epoch: u64, app: AppRecord) {
        let mut entries = self.lock();
        if self.epoch.load(Ordering::Acquire) == epoch {
            entries
                .apps
                .insert(app.namespace.clone(), (Arc::new(app), Instant::now()));
        }
    }

    /// An app changed: every app is read anew.
    pub fn forget_apps(&self) {
        let mut entries = self.lock();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        entries.apps.clear();
    }
}
