//! The embedded SQLite backend: one file, WAL mode, a busy timeout.

use super::{sql::sql_store, views::Views, StoreError};
use sqlx::{
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
    Sqlite, SqlitePool,
};
use std::{str::FromStr, sync::Arc, time::Duration};
use tokio::sync::Notify;

/// SQLite-backed [`Store`](super::Store).
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// What pages read, kept current by this store's writes (`views.rs`).
    views: Arc<Views>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` and applies the migrations.
    ///
    /// SQLite has one writer at a time, and nearly every request here writes. Several
    /// connections would contend for the write lock and sleep in SQLite's busy handler; one
    /// connection queues requests in the pool instead, which is several times faster. WAL
    /// keeps other processes (backups, `sqlite3`) able to read meanwhile; the busy timeout
    /// covers them.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        sqlx::migrate!("../migrations/sqlite").run(&pool).await?;
        Ok(Self {
            pool,
            views: Arc::default(),
        })
    }

    /// SQLite cannot tell another process's commits: readers poll.
    async fn listen_for_events(&self) -> Result<Option<Arc<Notify>>, StoreError> {
        Ok(None)
    }

    /// SQLite's `LIKE` ignores ASCII case: a masked search compares the ends as well.
    const LIKE_IS_EXACT: bool = false;

    /// What the stats read as hourly rollups: kept by a trigger (migration 0013) in the
    /// transaction of each event.
    const STAT_HOURS: &'static str = "stat_hour";
    /// The events of `event e` already counted in `stat_hour`: all of them.
    const COUNTED: &'static str = "1 = 1";

    /// The trigger counts each event as it is written: nothing to fold.
    async fn fold_events(_: &mut sqlx::Transaction<'_, Sqlite>) -> Result<u64, StoreError> {
        Ok(0)
    }

    /// No folds to hold off.
    async fn hold_folds(_: &mut sqlx::Transaction<'_, Sqlite>) -> Result<(), StoreError> {
        Ok(())
    }

    /// Every event is counted already.
    async fn count_before_purge(
        _: &mut sqlx::Transaction<'_, Sqlite>,
        _: &str,
        _: i64,
        _: i64,
    ) -> Result<(), StoreError> {
        Ok(())
    }

    /// Called after a commit that added events; readers poll, so nobody needs telling.
    fn events_added(&self) {}
}

sql_store!(SqliteStore, Sqlite, "", "json_each(e.tags) AS t");
