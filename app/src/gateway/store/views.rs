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

impl Entries {
    /// Keeps `record` under its (app, public id), making room first when full.
    fn keep(&mut self, record: VerificationRecord) {
        if self.verifications.len() >= CAPACITY {
            if let Some(key) = self
                .keys
                .keys()
                .next()
                .copied()
                .and_then(|old| self.keys.remove(&old))
            {
                self.verifications.remove(&key);
            }
        }
        let key = (record.app_id, record.public_id.clone());
        let verification_id = record.verification_id;
        self.keys.insert(verification_id, key.clone());
        if let Some(previous) = self.verifications.insert(key, Arc::new(record)) {
            // The same public id under a newer verification (a closed one set aside and
            // started anew): the old id no longer names this entry.
            if previous.verification_id != verification_id {
                self.keys.remove(&previous.verification_id);
            }
        }
    }
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
        if self.epoch.load(Ordering::Acquire) == epoch {
            entries.keep(record);
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

    /// A verification was created (possibly under the public id of a closed one set
    /// aside): whatever was kept under its id is stale, and the new record is kept unless
    /// something was forgotten since `epoch`, taken before its commit (a change made
    /// meanwhile would be missing from it).
    pub fn created(&self, epoch: u64, record: &VerificationRecord) {
        let mut entries = self.lock();
        if let Some(old) = entries
            .verifications
            .remove(&(record.app_id, record.public_id.clone()))
        {
            entries.keys.remove(&old.verification_id);
        }
        if self.epoch.fetch_add(1, Ordering::AcqRel) == epoch {
            entries.keep(record.clone());
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

#[cfg(test)]
mod tests {
    use super::*;

    fn record(verification_id: i64, public_id: &str, attempts: u32) -> VerificationRecord {
        VerificationRecord {
            attempts,
            ..VerificationRecord::sample(verification_id, public_id)
        }
    }

    #[test]
    fn a_fill_is_kept_until_its_verification_is_forgotten() {
        let views = Views::default();
        views.fill_verification(views.epoch(), record(7, "v", 0));
        assert_eq!(views.verification(1, "v").map(|r| r.attempts), Some(0));
        assert!(views.verification(2, "v").is_none(), "another app's id");
        views.forget(7);
        assert!(views.verification(1, "v").is_none());
    }

    #[test]
    fn a_read_that_raced_a_write_does_not_fill() {
        let views = Views::default();
        let before = views.epoch();
        // The read saw attempts = 0; a write committed and forgot meanwhile.
        views.forget(7);
        views.fill_verification(before, record(7, "v", 0));
        assert!(views.verification(1, "v").is_none());
        // A read that started after the write fills.
        views.fill_verification(views.epoch(), record(7, "v", 1));
        assert_eq!(views.verification(1, "v").map(|r| r.attempts), Some(1));
    }

    #[test]
    fn a_verification_started_anew_replaces_the_closed_one_under_its_id() {
        let views = Views::default();
        views.fill_verification(views.epoch(), record(7, "v", 5));
        let before_commit = views.epoch();
        views.created(before_commit, &record(8, "v", 0));
        let kept = views.verification(1, "v").expect("the new one is kept");
        assert_eq!((kept.verification_id, kept.attempts), (8, 0));
        // Forgetting the old id leaves the new entry alone; the new id reaches it.
        views.forget(7);
        assert!(views.verification(1, "v").is_some());
        views.forget(8);
        assert!(views.verification(1, "v").is_none());
    }

    #[test]
    fn a_creation_that_raced_a_change_is_not_kept() {
        let views = Views::default();
        let before_commit = views.epoch();
        views.forget(8); // a check of the new verification, answered meanwhile
        views.created(before_commit, &record(8, "v", 0));
        assert!(views.verification(1, "v").is_none());
    }

    #[test]
    fn it_holds_at_most_its_capacity() {
        let views = Views::default();
        for n in 0..(CAPACITY as i64 + 100) {
            views.fill_verification(views.epoch(), record(n, &format!("v{n}"), 0));
        }
        let entries = views.lock();
        assert_eq!(entries.verifications.len(), CAPACITY);
        assert_eq!(entries.keys.len(), CAPACITY);
        assert!(entries.keys.iter().all(|(id, key)| {
            entries.verifications.get(key).map(|r| r.verification_id) == Some(*id)
        }));
    }

    #[test]
    fn apps_are_forgotten_on_change_and_reread_after_their_time() {
        let views = Views::default();
        let app = AppRecord {
            app_id: 1,
            namespace: "demo".into(),
            name: "Demo".into(),
            echo_code: false,
            ..AppRecord::default()
        };
        views.fill_app(views.epoch(), app.clone());
        assert_eq!(
            views.app("demo").map(|a| a.name.clone()),
            Some("Demo".into())
        );
        views.forget_apps();
        assert!(views.app("demo").is_none());
        views.fill_app(views.epoch(), app);
        views.lock().apps.get_mut("demo").unwrap().1 -= APP_TTL;
        assert!(views.app("demo").is_none(), "older than its time");
    }
}
