//! The embedded SQLite backend: one file, WAL mode, one writer committing in batches,
//! several readers.

use super::{
    checkpoints::Checkpoints,
    group_commit::{GroupCommit, Write},
    readers::Readers,
    sql::sql_store,
    views::Views,
    Attempt, AttemptOutcome, DeliveryOutcome, DevMessage, Inserted, NewDelivery, NewVerification,
    StoreError, VerificationRecord,
};
use crate::gateway::code::CodeDigests;
use sqlx::{
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
    Connection, Sqlite, SqliteConnection, SqlitePool,
};
use std::{str::FromStr, sync::Arc, time::Duration};
use tokio::sync::Notify;

/// SQLite-backed [`Store`](super::Store).
#[derive(Clone, Debug)]
pub struct SqliteStore {
    /// The readers: read-only connections (a write sent here fails), which WAL lets read
    /// the last commit while the writer writes.
    pool: SqlitePool,
    /// The one writer; every write goes through it (`group_commit.rs`).
    writer: Arc<GroupCommit>,
    /// Read-only connections for the hot read, used in place (`readers.rs`).
    readers: Arc<Readers>,
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
    /// dying at any point (SIGKILL); the WAL is synced at each checkpoint.
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
        // A write of a batch in a savepoint (the sqlx connection's, and a direct write run
        // again after another failed part-way) keeps the pages it changes in a
        // sub-journal; past 64 KiB that goes to a temporary file, written with a system
        // call per page. In memory it stays (`temp_store`).
        direct.execute_batch(
            "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA temp_store = MEMORY; \
             PRAGMA wal_autocheckpoint = 0;",
        )?;
        // A file that cannot be written (a read-only disk or file) is refused here, at
        // start, rather than at the first write.
        direct.execute_batch("BEGIN IMMEDIATE; ROLLBACK;")?;
        // The writer's connections leave the WAL's checkpoints to a thread of their own.
        let checkpoints = Checkpoints::start(options.get_filename().to_owned())?;
        let readers = Readers::new(options.get_filename().to_owned());
        let pool = SqlitePoolOptions::new()
            .max_connections(Self::READERS)
            .connect_with(options.read_only(true))
            .await?;
        Ok(Self {
            pool,
            writer: Arc::new(GroupCommit::new(writer, direct, Some(checkpoints), true)),
            readers: Arc::new(readers),
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

    /// The hot read runs on synchronous connections (`readers.rs`).
    fn readers(&self) -> Option<&Readers> {
        Some(&self.readers)
    }

    /// The hot read runs in place on the synchronous readers (`readers.rs`).
    async fn find_hot(
        &self,
        app_id: i64,
        public_id: &str,
    ) -> Result<Option<VerificationRecord>, StoreError> {
        self.readers.verification(app_id, public_id)
    }

    /// SQLite cannot tell another process's commits: readers poll.
    async fn listen_for_events(&self) -> Result<Option<Arc<Notify>>, StoreError> {
        Ok(None)
    }

    /// The hot writes run on the writer's synchronous connection (`direct.rs`).
    fn direct(&self) -> Option<&GroupCommit> {
        Some(&self.writer)
    }

    /// A check is one of the writer's hot writes, committed with its batch.
    async fn attempt_in_batch(
        &self,
        a: &Attempt,
        code: &CodeDigests,
    ) -> Result<AttemptOutcome, StoreError> {
        self.writer.attempt(a, code).await
    }

    /// A delivery's outcome is one of the writer's hot writes, committed with its batch.
    async fn settle_in_batch(
        &self,
        delivery_id: i64,
        owner: &str,
        outcome: &DeliveryOutcome,
        kept: Option<&DevMessage>,
        events: &[(&str, &str)],
        now: i64,
    ) -> Result<bool, StoreError> {
        // One write: nothing kept unless settled, nothing settled unless kept.
        self.writer
            .settle_delivery(delivery_id, owner, outcome, kept, events, now)
            .await
    }

    /// A create is one of the writer's hot writes, committed with its batch.
    async fn insert_in_batch(
        &self,
        new: &NewVerification,
        delivery: Option<&NewDelivery>,
    ) -> Result<Inserted, StoreError> {
        self.writer.insert_verification(new, delivery).await
    }

    /// The ids in the JSON array `$3`, as a subquery.
    const IDS: &'static str = "SELECT CAST(t.value AS BIGINT) FROM json_each($3) AS t";

    /// The condition that a column is one of the values the subquery `values` answers.
    fn one_of(values: &str) -> String {
        format!("IN ({values})")
    }

    /// SQLite's `LIKE` ignores ASCII case: a masked search compares the ends as well.
    const LIKE_IS_EXACT: bool = false;

    /// SQLite plans a statement once, when it is prepared, by its indexes (it keeps no
    /// table sizes unless told to): a kept statement keeps its index lookups.
    const KEEP_PLANS: bool = true;

    /// What the stats read as hourly rollups: kept by each write batch, for the events it
    /// recorded, in its transaction (`fan_out.rs`).
    const STAT_HOURS: &'static str = "stat_hour";
    /// The events of `event e` already counted in `stat_hour`: all of them.
    const COUNTED: &'static str = "1 = 1";

    /// Each batch counts its events as it commits them: nothing to fold.
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

sql_store!(SqliteStore, Sqlite, "", "json_each(e.tags) AS t");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::store::{EventStore, VerificationStore};
    use sqlx::migrate::Migrator;

    const VERIFICATION: &str = "INSERT INTO verification (app_id, public_id, provider, \
         channel, code_hmac, code_length, code_alphabet, max_attempts, max_sends, created_at, \
         updated_at, expires_at, status) VALUES (1, ?1, 'console', 'email', x'00', 6, 'digits', \
         3, 3, 0, 0, 0, ?2)";
    const DELIVERY: &str = "INSERT INTO delivery (verification_id, route, address, \
         next_attempt_at, created_at, updated_at, status) VALUES (1, '[]', 'a@example.com', 0, \
         0, 0, ?1)";

    /// A fresh store in a file of its own, a second connection to it, and an app.
    async fn scratch(name: &str) -> (SqliteStore, rusqlite::Connection, std::path::PathBuf, i64) {
        let path = std::env::temp_dir().join(format!(
            "otpgate-{name}-{}.db",
            crate::gateway::secret::random_id()
        ));
        let store = SqliteStore::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        let db = rusqlite::Connection::open(&path).unwrap();
        db.execute(
            "INSERT INTO app (namespace, name, created_at, updated_at) VALUES ('a', 'a', 0, 0)",
            [],
        )
        .unwrap();
        let app_id = db.last_insert_rowid();
        (store, db, path, app_id)
    }

    fn remove(path: &std::path::Path) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }

    /// A German phone's verification of app `app_id`, code digest `[1; 32]`.
    fn phone(app_id: i64, public_id: &str) -> crate::gateway::store::NewVerification {
        crate::gateway::store::NewVerification {
            app_id,
            public_id: public_id.into(),
            provider: "console".into(),
            channel: "sms".into(),
            address: "+4915112345678".into(),
            channel_description: String::new(),
            address_description: String::new(),
            code_hmac: vec![1; 32],
            code_sealed: vec![2; 40],
            code_length: 6,
            code_alphabet: "digits".into(),
            max_attempts: 5,
            sends: 1,
            max_sends: 3,
            extra: "{}".into(),
            redirect_url: String::new(),
            state: String::new(),
            locale: String::new(),
            address_key: Some(vec![3; 32]),
            now: 7_000,
            expires_at: 607_000,
            inbound_key: None,
            intent: String::new(),
        }
    }

    /// Each row `sql` reads, each value as SQLite holds it.
    fn rows(db: &rusqlite::Connection, sql: &str) -> Vec<Vec<String>> {
        let mut statement = db.prepare(sql).unwrap();
        let width = statement.column_count();
        statement
            .query_map([], |row| {
                (0..width)
                    .map(|i| {
                        row.get::<_, rusqlite::types::Value>(i)
                            .map(|v| format!("{v:?}"))
                    })
                    .collect()
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// A create's `created` event is inserted with the values the verification was
    /// inserted with, not read back from its row; it must hold what `EVENT` (which reads
    /// them) writes for the same verification.
    #[tokio::test]
    async fn a_created_event_holds_what_reading_its_verification_gives() {
        let (store, db, path, app_id) = scratch("created-event").await;
        let id = store
            .insert_verification(&phone(app_id, "phone-1"), None)
            .await
            .unwrap()
            .record
            .verification_id;
        store
            .record_event(id, "created", "{}", 7_000)
            .await
            .unwrap();
        let rows = rows(
            &db,
            "SELECT verification_id, kind, detail, created_at, app_id, channel, provider, \
             country, tags FROM event ORDER BY event_id",
        );
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0], rows[1], "inserted with the create, then by EVENT");
        assert_eq!(rows[0][7], "Text(\"+49\")");
        assert_eq!(rows[0][8], "Null");
        drop(db);
        drop(store);
        remove(&path);
    }

    /// A right code for a verification as its check read it is counted and consumed in
    /// one statement (`VERIFY_AS_READ`); one read before another check counted an attempt
    /// takes the two statements. Both leave the same verification and the same event.
    #[tokio::test]
    async fn a_right_code_checked_as_read_leaves_what_two_statements_leave() {
        let (store, db, path, app_id) = scratch("verify-as-read").await;
        let hasher =
            crate::gateway::code::CodeHasher::new(vec![crate::gateway::code::CodeKey::from_bytes(
                [4; 32],
            )])
            .unwrap();
        let spec =
            crate::gateway::code::CodeSpec::new(6, crate::gateway::code::Alphabet::Digits).unwrap();
        let code = crate::gateway::code::OtpCode::parse("123456", spec).unwrap();
        for (name, seen_attempts) in [("as-read", 0), ("changed", 1)] {
            let mut new = phone(app_id, name);
            new.code_hmac = hasher.hash("a", name, &code);
            let record = store.insert_verification(&new, None).await.unwrap().record;
            let attempt = crate::gateway::store::Attempt {
                verification_id: record.verification_id,
                now: 9_500,
                budget_key: format!("fail_addr:{name}"),
                budget_window: 0,
                budget_max: 5,
                retire: true,
                reconfirm: false,
                seen: crate::gateway::store::Seen {
                    attempts: seen_attempts,
                    code_hmac: record.code_hmac.clone(),
                    created_at: record.created_at,
                },
            };
            let outcome = store
                .attempt(&attempt, &hasher.digests("a", name, &code))
                .await
                .unwrap();
            assert_eq!(
                outcome,
                crate::gateway::store::AttemptOutcome::Verified { attempts: 1 }
            );
        }
        let verifications = rows(
            &db,
            "SELECT status, attempts, verified_at, updated_at, retired_at FROM verification \
             ORDER BY verification_id",
        );
        assert_eq!(verifications[0], verifications[1]);
        assert_eq!(
            verifications[0],
            [
                "Text(\"verified\")",
                "Integer(1)",
                "Integer(9500)",
                "Integer(9500)",
                "Integer(9500)"
            ]
        );
        let events = rows(
            &db,
            "SELECT kind, detail, created_at, app_id, channel, provider, country, tags \
             FROM event WHERE kind = 'verified' ORDER BY event_id",
        );
        assert_eq!(events.len(), 2);
        assert_eq!(events[0], events[1]);
        assert_eq!(
            events[0][1],
            "Text(\"{\\\"after_ms\\\":2500,\\\"wrong\\\":0}\")"
        );
        assert_eq!(events[0][6], "Text(\"+49\")");
        drop(db);
        drop(store);
        remove(&path);
    }

    /// Migration 0023 rewrites the two `status` CHECKs of a database that holds rows: the
    /// rows stay, the file passes SQLite's integrity check (which tests every row against
    /// the CHECKs), and the new definitions take exactly the old values.
    #[tokio::test]
    async fn the_status_checks_are_comparisons_that_take_the_same_values() {
        let path = std::env::temp_dir().join(format!(
            "otpgate-status-checks-{}.db",
            crate::gateway::secret::random_id()
        ));
        let url = format!("sqlite://{}", path.display());
        let options = SqliteConnectOptions::from_str(&url)
            .unwrap()
            .create_if_missing(true)
            .foreign_keys(true)
            .journal_mode(SqliteJournalMode::Wal);
        let mut before = SqliteConnection::connect_with(&options).await.unwrap();
        let all = sqlx::migrate!("../migrations/sqlite");
        let earlier = Migrator {
            migrations: all
                .migrations
                .iter()
                .filter(|m| m.version < 23)
                .cloned()
                .collect::<Vec<_>>()
                .into(),
            ..Migrator::DEFAULT
        };
        earlier.run(&mut before).await.unwrap();
        for insert in [
            sqlx::query(
                "INSERT INTO app (namespace, name, created_at, updated_at) VALUES ('a', 'a', 0, 0)",
            ),
            sqlx::query(VERIFICATION).bind("kept").bind("verified"),
            sqlx::query(DELIVERY).bind("sent"),
        ] {
            insert.execute(&mut before).await.unwrap();
        }
        before.close().await.unwrap();

        let store = SqliteStore::connect(&url).await.unwrap();
        // A connection opened after the migration, as the writer's direct one is.
        let db = rusqlite::Connection::open(&path).unwrap();
        db.execute_batch("PRAGMA foreign_keys = ON").unwrap();
        for table in ["verification", "delivery"] {
            let sql: String = db
                .query_row(
                    "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?1",
                    [table],
                    |row| row.get(0),
                )
                .unwrap();
            assert!(sql.contains("CHECK (status = "), "{table}: {sql}");
            assert!(!sql.contains(" IN ("), "{table}: {sql}");
        }
        let integrity: String = db
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .unwrap();
        assert_eq!(integrity, "ok");
        let kept: (String, String) = db
            .query_row(
                "SELECT v.status, d.status FROM verification v JOIN delivery d USING \
                 (verification_id)",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .unwrap();
        assert_eq!(kept, ("verified".to_owned(), "sent".to_owned()));

        let refused = |e: rusqlite::Error| e.to_string().contains("CHECK constraint failed");
        for (n, status) in ["pending", "verified", "expired", "locked", "cancelled"]
            .into_iter()
            .enumerate()
        {
            db.execute(VERIFICATION, [format!("v{n}").as_str(), status])
                .unwrap();
        }
        for status in ["queued", "sending", "sent", "dead", "suppressed", "dropped"] {
            db.execute(DELIVERY, [status]).unwrap();
        }
        for status in ["", "Pending", "bogus", "pending "] {
            assert!(refused(
                db.execute(VERIFICATION, ["x", status]).unwrap_err()
            ));
            assert!(refused(
                db.execute("UPDATE verification SET status = ?1", [status])
                    .unwrap_err()
            ));
        }
        for status in ["", "Queued", "bogus", "verified"] {
            assert!(refused(db.execute(DELIVERY, [status]).unwrap_err()));
            assert!(refused(
                db.execute("UPDATE delivery SET status = ?1", [status])
                    .unwrap_err()
            ));
        }
        drop(store);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}
