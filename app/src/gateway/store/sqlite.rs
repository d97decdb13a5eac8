//! The embedded SQLite backend: one file, WAL mode, one writer committing in batches,
//! several readers.

use super::{
    group_commit::{GroupCommit, Write},
    sql::sql_store,
    views::Views,
    StoreError,
};
use sqlx::{
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
    Connection, Sqlite, SqliteConnection, SqlitePool,
};
use std::{
    str::FromStr,
    sync::{Arc, Weak},
    time::Duration,
};
use tokio::sync::Notify;

/// SQLite-backed [`Store`](super::Store).
#[derive(Clone, Debug)]
pub struct SqliteStore {
    /// The readers: read-only connections (a write sent here fails), which WAL lets read
    /// the last commit while the writer writes.
    pool: SqlitePool,
    /// The one writer; every write goes through it (`group_commit.rs`).
    writer: Arc<GroupCommit>,
    /// What pages read, kept current by this store's writes (`views.rs`).
    views: Arc<Views>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` and applies the migrations.
    ///
    /// SQLite has one writer at a time, and nearly every request here writes. Several
    /// writing connections would contend for the write lock and sleep in SQLite's busy
    /// handler, and each commit of its own writes its pages to the WAL again; one writer
    /// connection takes the writes in turn and commits them in batches
    /// (`group_commit.rs`). Reads go to a few read-only connections. WAL keeps other
    /// processes (backups, `sqlite3`) able to read meanwhile; the busy timeout covers
    /// them. `synchronous = NORMAL` is WAL's usual setting: a commit survives the process
    /// dying at any point (SIGKILL); the WAL is synced at each checkpoint, which a
    /// connection of its own makes (`checkpoint_in_background`).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let mut writer = SqliteConnection::connect_with(
            &options
                .clone()
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .pragma("temp_store", "MEMORY")
                .pragma("wal_autocheckpoint", "0"),
        )
        .await?;
        sqlx::migrate!("../migrations/sqlite")
            .run(&mut writer)
            .await?;
        // The writer's second connection, for the hot writes (`group_commit.rs`), with the
        // same settings. WAL is the file's mode already.
        let direct = rusqlite::Connection::open_with_flags(
            options.get_filename(),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        direct.busy_timeout(Duration::from_secs(5))?;
        // Each write of a batch is a savepoint, and a savepoint keeps the pages it changes
        // in a sub-journal; past 64 KiB that goes to a temporary file, written with a
        // system call per page. In memory it stays (`temp_store`).
        // Its checkpoints are the checkpointer's (`checkpoint_in_background`).
        direct.execute_batch(
            "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA temp_store = MEMORY; \
             PRAGMA wal_autocheckpoint = 0;",
        )?;
        let checkpoints = rusqlite::Connection::open_with_flags(
            options.get_filename(),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        let pool = SqlitePoolOptions::new()
            .max_connections(Self::READERS)
            .connect_with(options.read_only(true))
            .await?;
        let writer = Arc::new(GroupCommit::new(writer, direct));
        tokio::spawn(checkpoint_in_background(
            checkpoints,
            Arc::downgrade(&writer),
        ));
        Ok(Self {
            pool,
            writer,
            views: Arc::default(),
        })
    }

    /// Read-only connections, so reads run side by side.
    const READERS: u32 = 4;

    /// A transaction of the store's: a write in the writer's current batch.
    async fn write_tx(&self) -> Result<Write, StoreError> {
        self.writer.begin().await
    }

    /// One write statement, in the writer's current batch.
    async fn write_one(&self) -> Result<Write, StoreError> {
        self.writer.begin_statement().await
    }

    /// SQLite cannot tell another process's commits: readers poll.
    async fn listen_for_events(&self) -> Result<Option<Arc<Notify>>, StoreError> {
        Ok(None)
    }

    /// The hot writes run on the writer's synchronous connection (`direct.rs`).
    fn direct(&self) -> Option<&GroupCommit> {
        Some(&self.writer)
    }

    /// The ids in the JSON array `$3`, as rows `t(value)`.
    const EACH_ID: &'static str = "json_each($3) AS t";

    /// SQLite's `LIKE` ignores ASCII case: a masked search compares the ends as well.
    const LIKE_IS_EXACT: bool = false;

    /// What the stats read as hourly rollups: kept by a trigger (migration 0013) in the
    /// transaction of each event.
    const STAT_HOURS: &'static str = "stat_hour";
    /// The events of `event e` already counted in `stat_hour`: all of them.
    const COUNTED: &'static str = "1 = 1";

    /// The trigger counts each event as it is written: nothing to fold.
    async fn fold_events(_: &mut SqliteConnection) -> Result<u64, StoreError> {
        Ok(0)
    }

    /// No folds to hold off.
    async fn hold_folds(_: &mut SqliteConnection) -> Result<(), StoreError> {
        Ok(())
    }

    /// Every event is counted already.
    async fn count_before_purge(
        _: &mut SqliteConnection,
        _: &str,
        _: i64,
        _: i64,
    ) -> Result<(), StoreError> {
        Ok(())
    }

    /// Called after a commit that added events; readers poll, so nobody needs telling.
    fn events_added(&self) {}
}

/// How often the checkpointer looks for new pages in the WAL.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// Copies the WAL's new pages into the database file every [`CHECKPOINT_EVERY`], on a
/// connection of its own in a blocking thread; the writer's connections checkpoint never
/// (`wal_autocheckpoint = 0`), so no commit waits for a checkpoint's writes and `fsync`
/// (with SQLite's default, every thousandth page of WAL made one commit do it). `PASSIVE`,
/// as SQLite's own automatic checkpoint is: it waits for nobody, and what a reader still
/// needs is copied the next time. Durability is unchanged: a commit is in the WAL before it
/// is answered, and the WAL is synced before its pages are copied. Stops when the store is
/// dropped.
async fn checkpoint_in_background(db: rusqlite::Connection, store: Weak<GroupCommit>) {
    let db = Arc::new(std::sync::Mutex::new(db));
    let mut every = tokio::time::interval(CHECKPOINT_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if store.strong_count() == 0 {
            return;
        }
        let db = db.clone();
        let done = tokio::task::spawn_blocking(move || {
            let db = db.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            db.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
        })
        .await;
        if let Ok(Err(e)) = done {
            tracing::warn!(error = %e, "WAL checkpoint failed; the next one tries again");
        }
    }
}

sql_store!(SqliteStore, Sqlite, "", "json_each(e.tags) AS t");
