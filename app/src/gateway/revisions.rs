//! What the engine builds from one app's stored rows (its own providers, its own
//! templates), kept per app at the revision it was built from: a column of the app
//! (`providers_rev`, `templates_rev`) that every write to those rows moves in its
//! transaction and that reads carry, so each instance sees another's change with its next
//! read. Revision 0 is an app that never had any such rows.

use std::{
    collections::HashMap,
    future::Future,
    sync::{Arc, Mutex, MutexGuard},
};

/// Each app's `T`, at the newest revision built so far.
#[derive(Debug)]
pub struct ByRevision<T> {
    held: Mutex<HashMap<i64, (i64, Arc<T>)>>,
}

impl<T> Default for ByRevision<T> {
    fn default() -> Self {
        Self {
            held: Mutex::default(),
        }
    }
}

impl<T: Default> ByRevision<T> {
    /// App `app_id`'s value at revision `rev`: kept already, or made by `build` now (and
    /// kept unless a newer revision was kept meanwhile). Revision 0 is the empty value.
    pub async fn get_or_build<E, F>(
        &self,
        app_id: i64,
        rev: i64,
        build: impl FnOnce() -> F,
    ) -> Result<Arc<T>, E>
    where
        F: Future<Output = Result<T, E>>,
    {
        if rev == 0 {
            return Ok(Arc::default());
        }
        if let Some((held, value)) = self.lock().get(&app_id) {
            if *held == rev {
                return Ok(value.clone());
            }
        }
        let value = Arc::new(build().await?);
        let mut held = self.lock();
        if held.get(&app_id).is_none_or(|(kept, _)| *kept < rev) {
            held.insert(app_id, (rev, value.clone()));
        }
        Ok(value)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<i64, (i64, Arc<T>)>> {
        // Each critical section is one map operation: nothing is left half done.
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }
}
