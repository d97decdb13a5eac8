//! SQLite's hot reads (a verification by its public id, which every check makes; the
//! verifications behind the outbox rows a claim took) on
//! synchronous read-only connections of its own, run in place on the task that asks.
//!
//! A read by key takes SQLite a few microseconds. Through sqlx it went to a connection's
//! worker thread and came back on a channel, a wake-up each way; that hand-over cost a
//! check more than the read. WAL lets these connections read the last commit while the
//! writer writes, so a read waits for nobody; only SQLite's rare recovery of a WAL left by
//! a crashed process makes a reader wait (the busy timeout).

use super::{
    group_commit::bound,
    sql::{counter, verification_record, FIND_VERIFICATION, VERIFICATION_COLUMNS},
    StoreError, VerificationRecord,
};
use crate::model::Status;
use rusqlite::{types::FromSql, Connection, OpenFlags, Row, ToSql};
use std::{
    cell::Cell,
    path::PathBuf,
    sync::{LazyLock, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

/// Read-only connections to one database file, opened as needed and kept for reuse.
pub struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for Readers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readers").field("path", &self.path).finish()
    }
}

impl Readers {
    /// Connections kept when idle; more are opened while more reads overlap (one per
    /// runtime thread at most, since a read never waits inside the runtime).
    const KEPT: usize = 8;

    pub(super) fn new(path: PathBuf) -> Self {
        Self {
            path,
            idle: Mutex::default(),
        }
    }

    fn idle(&self) -> MutexGuard<'_, Vec<Connection>> {
        // A push or a pop cannot leave the list half-changed.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn open(&self) -> Result<Connection, StoreError> {
        let db = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        db.busy_timeout(Duration::from_secs(5))?;
        Ok(db)
    }

    /// Runs `read` on an idle connection (or a new one), then keeps the connection.
    fn with<T>(
        &self,
        read: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let taken = self.idle().pop();
        let db = match taken {
            Some(db) => db,
            None => self.open()?,
        };
        let answer = read(&db);
        let mut idle = self.idle();
        if idle.len() < Self::KEPT {
            idle.push(db);
        }
        answer
    }

    /// The rows `sql` reads with `values` bound to `$1`, `$2`, …, each made by `read`.
    pub(super) fn rows<T>(
        &self,
        sql: &str,
        values: &[&dyn ToSql],
        mut read: impl FnMut(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        self.with(|db| {
            let mut statement = bound(db, sql, values)?;
            let mut rows = statement.raw_query();
            let mut all = Vec::new();
            while let Some(row) = rows.next()? {
                all.push(read(row)?);
            }
            Ok(all)
        })
    }

    /// The current verification with `public_id` in app `app_id`.
    pub(super) fn verification(
        &self,
        app_id: i64,
        public_id: &str,
    ) -> Result<Option<VerificationRecord>, StoreError> {
        let found = self.rows(&FIND_VERIFICATION, &[&app_id, &public_id], |row| {
            verification_record!(Leading::new(row), get)
        })?;
        Ok(found.into_iter().next())
    }
}

/// A row whose first columns are [`VERIFICATION_COLUMNS`], in that order, read by their
/// names. rusqlite finds a column by name by asking SQLite for every column's name in
/// turn and comparing it without regard to case, for each value read: for the 27 values
/// of a verification, a twentieth of a check's time. Here each name is looked for in the
/// list of those columns from just after the last one read, where the next one read
/// nearly always is.
pub(super) struct Leading<'r, 's> {
    row: &'r Row<'s>,
    next: Cell<usize>,
}

/// The names of [`VERIFICATION_COLUMNS`], in order.
static LEADING: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| VERIFICATION_COLUMNS.split(',').map(str::trim).collect());

impl<'r, 's> Leading<'r, 's> {
    pub(super) fn new(row: &'r Row<'s>) -> Self {
        Self {
            row,
            next: Cell::new(0),
        }
    }

    /// The value of the verification column `name`.
    pub(super) fn get<T: FromSql>(&self, name: &str) -> rusqlite::Result<T> {
        let names = &*LEADING;
        let from = self.next.get().min(names.len());
        let index = (from..names.len())
            .chain(0..from)
            .find(|&i| names[i] == name)
            .ok_or_else(|| rusqlite::Error::InvalidColumnName(name.to_owned()))?;
        debug_assert_eq!(self.row.as_ref().column_name(index).ok(), Some(name));
        self.next.set(index + 1);
        self.row.get(index)
    }
}
