//! Group commit for SQLite's one writer.
//!
//! SQLite takes one writer at a time, and each commit writes every page it changed to the
//! WAL again. Here every write (a whole transaction of the store, or one statement) runs on the
//! writer connection inside a batch transaction (a transaction of several statements in a
//! savepoint of its own; one statement is undone whole by SQLite) that stays open while
//! writes queue for the connection; the committer task commits the batch when its turn in
//! that queue comes, which is after every write that was waiting when the first of the
//! batch finished. Each caller is answered only after the commit that holds its write:
//! nothing is acknowledged before SQLite has it with the same guarantee as a commit of
//! its own. A write that fails or is rolled back undoes its savepoint alone; the batch's
//! other writes go on. If the batch itself fails (its commit, or an error that makes
//! SQLite roll the whole transaction back), every write in it is told so.
//!
//! Writes that are rolled back wait for the batch's commit as well: what they read (a
//! budget spent, a code consumed) came from writes of the batch, and an answer must not
//! rest on something that is never committed.
//!
//! The writer has two connections to the one file, and a batch is open on one of them at a
//! time. The hot writes (a create, a check, a rate bucket's hit, the outbox's writes for
//! each message: `direct.rs`) run on a synchronous connection, every statement in the
//! caller's task with nothing awaited between them, so the writer is held for the few
//! microseconds SQLite takes. Every other
//! write runs on the sqlx connection, whose statements each go to its worker thread and
//! back. A write for the other connection first commits the open batch (answering its
//! writes), so the two never wait on each other's lock.

use super::StoreError;
use rusqlite::CachedStatement;
use sqlx::SqliteConnection;
use std::{
    ops::{Deref, DerefMut},
    panic::{self, AssertUnwindSafe},
    sync::{Arc, Weak},
    time::Instant,
};
use tokio::sync::{oneshot, Mutex, Notify, OwnedMutexGuard};

/// The writer connection and the batches committed on it.
#[derive(Debug)]
pub(super) struct GroupCommit {
    lane: Arc<Mutex<Lane>>,
    wake: Arc<Notify>,
}

/// Why a batch failed, as each of its writes hears it.
pub type Failure = Arc<dyn std::error::Error + Send + Sync>;

/// How one batch ended, as its writes hear it.
type Ticket = oneshot::Sender<Result<(), Failure>>;

/// How a direct write ends: kept in the batch, or undone (its savepoint rolled back). Either
/// way its answer waits for the batch's commit.
pub(super) enum Ending<R> {
    Keep(R),
    Undo(R),
}

/// The connection a batch is open on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    /// `Lane::conn`, through sqlx.
    Sqlx,
    /// `Lane::direct`, synchronous.
    Direct,
}

#[derive(Debug, Clone, Copy)]
struct Batch {
    on: Side,
    opened_at: Instant,
}

#[derive(Debug)]
struct Lane {
    /// The hot writes' connection (see the module's text); declared first, so it closes
    /// (rolling back anything uncommitted) before the other. Only ever reached through
    /// `&mut Lane` (`Lane::direct`), never locked: the mutex makes the lane `Sync`.
    direct: std::sync::Mutex<rusqlite::Connection>,
    conn: SqliteConnection,
    /// A write was dropped before it ended (an error returned early, or its caller went
    /// away): its savepoint is still open and is rolled back before anything else runs.
    dirty: bool,
    /// A statement that moves the batch's state (`BEGIN`, `SAVEPOINT`, `RELEASE`,
    /// `ROLLBACK TO`, `COMMIT`) was left unanswered by a caller that went away: nobody
    /// knows what state the connection is in, so the batch is rolled back and its writes
    /// are told they failed.
    in_doubt: bool,
    /// The writes of the open batch, answered when it ends.
    tickets: Vec<Ticket>,
    /// The open batch; `None` while no batch transaction is open.
    batch: Option<Batch>,
}

impl GroupCommit {
    /// Takes `conn` and `direct` (two connections to one file) as the one writer and starts
    /// the committer on the current runtime; it stops when the last handle is dropped.
    pub(super) fn new(conn: SqliteConnection, direct: rusqlite::Connection) -> Self {
        // Every statement of the hot writes stays prepared.
        direct.set_prepared_statement_cache_capacity(64);
        let lane = Arc::new(Mutex::new(Lane {
            direct: std::sync::Mutex::new(direct),
            conn,
            dirty: false,
            in_doubt: false,
            tickets: Vec::new(),
            batch: None,
        }));
        let wake = Arc::new(Notify::new());
        tokio::spawn(commit_batches(Arc::downgrade(&lane), wake.clone()));
        Self { lane, wake }
    }

    /// Starts a write of several statements: waits for the writer connection, joins (or
    /// opens) the batch and opens this write's savepoint. End it with [`Write::commit`]
    /// or [`Write::rollback`]; dropped unfinished, it is rolled back.
    pub(super) async fn begin(&self) -> Result<Write, StoreError> {
        self.start(true).await
    }

    /// Starts a write of one statement. SQLite undoes a failed statement by itself and
    /// keeps the transaction, so it needs no savepoint: one round trip to the connection
    /// fewer on each side. End it with [`Write::commit`].
    pub(super) async fn begin_statement(&self) -> Result<Write, StoreError> {
        self.start(false).await
    }

    async fn start(&self, savepoint: bool) -> Result<Write, StoreError> {
        let (mut lane, held_since) = self.take_lane().await;
        lane.open(Side::Sqlx).await?;
        if savepoint {
            if let Err(e) = lane.step("SAVEPOINT w").await {
                return Err(lane.abort(Arc::new(e)).await);
            }
        }
        Ok(Write {
            lane: Some(lane),
            wake: self.wake.clone(),
            savepoint,
            held_since,
        })
    }

    /// Runs `write` as one write on the direct connection, in a savepoint of its own, and
    /// answers once the batch that holds it is committed. An error undoes the savepoint and
    /// is answered at once (nothing of it is kept).
    pub(super) async fn run<R>(
        &self,
        write: impl FnOnce(&rusqlite::Connection) -> Result<Ending<R>, StoreError>,
    ) -> Result<R, StoreError> {
        self.run_in(true, write).await
    }

    /// Runs `write`, one statement, as [`run`](Self::run) does but without a savepoint:
    /// SQLite undoes a failed statement by itself and keeps the transaction. It cannot end
    /// in [`Ending::Undo`].
    pub(super) async fn run_one<R>(
        &self,
        write: impl FnOnce(&rusqlite::Connection) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        self.run_in(false, |db| write(db).map(Ending::Keep)).await
    }

    /// Runs `write` as [`run`](Self::run) does, in a savepoint of its own only when
    /// `savepoint` (a write of one statement needs none).
    pub(super) async fn run_in<R>(
        &self,
        savepoint: bool,
        write: impl FnOnce(&rusqlite::Connection) -> Result<Ending<R>, StoreError>,
    ) -> Result<R, StoreError> {
        let (mut lane, held_since) = self.take_lane().await;
        lane.open(Side::Direct).await?;
        if savepoint {
            if let Err(e) = lane.direct_step("SAVEPOINT w") {
                return Err(lane.abort(Arc::new(e)).await);
            }
        }
        let done = panic::catch_unwind(AssertUnwindSafe(|| write(lane.direct())));
        let ending = match done {
            Ok(Ok(Ending::Keep(answer))) if savepoint => {
                lane.direct_step("RELEASE w").map(|()| answer)
            }
            Ok(Ok(Ending::Keep(answer))) => Ok(answer),
            Ok(Ok(Ending::Undo(answer))) => lane.direct_undo().map(|()| answer),
            Ok(Err(e)) => {
                lane.direct_failed(savepoint).await;
                return Err(e);
            }
            Err(panicked) => {
                lane.direct_failed(savepoint).await;
                panic::resume_unwind(panicked);
            }
        };
        match ending {
            Ok(answer) => wait(lane, &self.wake, held_since).await.map(|()| answer),
            Err(e) => Err(lane.abort(Arc::new(e)).await),
        }
    }

    /// Waits for the writer (counted as queue time), and puts right what a caller that went
    /// away left there.
    async fn take_lane(&self) -> (OwnedMutexGuard<Lane>, Instant) {
        let queued = Instant::now();
        let mut lane = self.lane.clone().lock_owned().await;
        let held_since = Instant::now();
        crate::gateway::metrics::write_queued(held_since - queued);
        lane.recover().await;
        (lane, held_since)
    }
}

/// A prepared statement of the direct connection with `values` bound to `$1`, `$2`, …
/// (the placeholders the shared SQL uses), whatever order they first appear in.
pub(super) fn bound<'c>(
    db: &'c rusqlite::Connection,
    sql: &str,
    values: &[&dyn rusqlite::ToSql],
) -> rusqlite::Result<CachedStatement<'c>> {
    /// `$1` … `$32`, named once rather than on every bind.
    static NAMES: std::sync::LazyLock<Vec<String>> =
        std::sync::LazyLock::new(|| (1..=32).map(|n| format!("${n}")).collect());
    let mut statement = db.prepare_cached(sql)?;
    for (name, value) in NAMES.iter().zip(values) {
        let index = statement
            .parameter_index(name)?
            .ok_or_else(|| rusqlite::Error::InvalidParameterName(name.clone()))?;
        statement.raw_bind_parameter(index, value)?;
    }
    if values.len() > NAMES.len() {
        return Err(rusqlite::Error::InvalidParameterCount(
            values.len(),
            NAMES.len(),
        ));
    }
    Ok(statement)
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        // The committer holds the lane weakly: woken, it finds it gone and stops.
        self.wake.notify_one();
    }
}

/// One write on the writer connection, inside the open batch (and, for several
/// statements, inside its own savepoint). Dereferences to the connection, so statements
/// run on `&mut *write`.
#[derive(Debug)]
pub(super) struct Write {
    /// `None` once ended.
    lane: Option<OwnedMutexGuard<Lane>>,
    wake: Arc<Notify>,
    /// Whether this write opened a savepoint.
    savepoint: bool,
    /// When it took the writer connection.
    held_since: Instant,
}

impl Write {
    /// Keeps this write in the batch; answers once the batch is committed.
    pub(super) async fn commit(mut self) -> Result<(), StoreError> {
        let mut lane = self.lane.take().expect("a write ends once");
        if self.savepoint {
            if let Err(e) = lane.step("RELEASE w").await {
                return Err(lane.abort(Arc::new(e)).await);
            }
        }
        self.wait(lane).await
    }

    /// Undoes this write; answers once the batch it read from is committed.
    pub(super) async fn rollback(mut self) -> Result<(), StoreError> {
        let mut lane = self.lane.take().expect("a write ends once");
        debug_assert!(
            self.savepoint,
            "a one-statement write has nothing to roll back"
        );
        if self.savepoint {
            lane.undo().await?;
        }
        self.wait(lane).await
    }

    async fn wait(&self, lane: OwnedMutexGuard<Lane>) -> Result<(), StoreError> {
        wait(lane, &self.wake, self.held_since).await
    }
}

/// Ends a write that holds the lane: it joins the batch's tickets and lets the lane go, and
/// answers when the batch is committed.
async fn wait(
    mut lane: OwnedMutexGuard<Lane>,
    wake: &Notify,
    held_since: Instant,
) -> Result<(), StoreError> {
    let connection = match lane.batch.map(|b| b.on) {
        Some(Side::Direct) => "direct",
        _ => "sqlx",
    };
    crate::gateway::metrics::write_held(connection, held_since.elapsed());
    let (ticket, answer) = oneshot::channel();
    lane.tickets.push(ticket);
    // The committer queues for the lane behind every write waiting now.
    wake.notify_one();
    drop(lane);
    match answer.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(StoreError::Batch(e)),
        Err(_) => Err(StoreError::Batch(Arc::new(sqlx::Error::PoolClosed))),
    }
}

impl Deref for Write {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        &self.lane.as_ref().expect("a write in progress").conn
    }
}

impl DerefMut for Write {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.lane.as_mut().expect("a write in progress").conn
    }
}

impl Drop for Write {
    fn drop(&mut self) {
        if let Some(mut lane) = self.lane.take() {
            // A lone statement either ran or failed whole; a savepoint is undone.
            lane.dirty |= self.savepoint;
            self.wake.notify_one();
        }
    }
}

impl Lane {
    /// Opens a batch on `side` unless one is open there; a batch open on the other
    /// connection is committed first.
    async fn open(&mut self, side: Side) -> Result<(), StoreError> {
        match self.batch {
            Some(batch) if batch.on == side => return Ok(()),
            Some(_) => self.end_batch().await,
            None => {}
        }
        match side {
            Side::Sqlx => self.step("BEGIN IMMEDIATE").await?,
            Side::Direct => self.direct_step("BEGIN IMMEDIATE")?,
        }
        self.batch = Some(Batch {
            on: side,
            opened_at: Instant::now(),
        });
        Ok(())
    }

    /// The direct connection.
    fn direct(&mut self) -> &rusqlite::Connection {
        // Never locked, so never poisoned; a panic in a write is caught in `run`.
        self.direct
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs a statement without values on the direct connection (kept prepared).
    fn direct_step(&mut self, sql: &str) -> rusqlite::Result<()> {
        self.direct().prepare_cached(sql)?.execute([]).map(drop)
    }

    /// A direct write failed (or panicked): its savepoint, if it has one, is undone; should
    /// SQLite have rolled the whole transaction back (a full disk, an I/O error), the
    /// batch's writes are told.
    async fn direct_failed(&mut self, savepoint: bool) {
        if savepoint {
            if let Err(undo) = self.direct_undo() {
                self.abort(Arc::new(undo)).await;
            }
        } else if self.direct().is_autocommit() {
            let gone = sqlx::Error::Protocol("SQLite rolled the write batch back".into());
            self.abort(Arc::new(gone)).await;
        }
    }

    /// Rolls back the savepoint of the direct write that holds the lane.
    fn direct_undo(&mut self) -> rusqlite::Result<()> {
        self.direct_step("ROLLBACK TO w")?;
        self.direct_step("RELEASE w")
    }

    /// Runs a statement that moves the batch's state. Should the caller go away before
    /// it answers, `in_doubt` stays set for the next holder of the lane.
    async fn step(&mut self, sql: &str) -> Result<(), sqlx::Error> {
        self.in_doubt = true;
        let done = sqlx::query(sql).execute(&mut self.conn).await;
        self.in_doubt = false;
        done.map(drop)
    }

    /// Rolls back the savepoint of the write that holds the lane.
    async fn undo(&mut self) -> Result<(), StoreError> {
        for sql in ["ROLLBACK TO w", "RELEASE w"] {
            if let Err(e) = self.step(sql).await {
                return Err(self.abort(Arc::new(e)).await);
            }
        }
        Ok(())
    }

    /// Puts right what a caller that went away left: the savepoint of a write dropped
    /// unfinished is rolled back; a statement left unanswered fails the whole batch.
    async fn recover(&mut self) {
        if std::mem::take(&mut self.in_doubt) {
            let interrupted = sqlx::Error::Protocol("a write batch was interrupted".into());
            self.abort(Arc::new(interrupted)).await;
        } else if std::mem::take(&mut self.dirty) {
            // On failure `undo` has failed the batch already.
            let _ = self.undo().await;
        }
    }

    /// The batch cannot go on (SQLite may already have rolled it back): rolls back what
    /// is left of it and tells its writes.
    async fn abort(&mut self, e: Failure) -> StoreError {
        tracing::error!(error = ?e, writes = self.tickets.len(), "write batch failed");
        // Whatever `batch` says, a transaction may be open on either connection; gone
        // mid-way, the next holder of the lane rolls back again.
        self.in_doubt = true;
        let _ = sqlx::query("ROLLBACK").execute(&mut self.conn).await;
        // Fails harmlessly when no transaction is open there.
        let _ = self.direct().execute_batch("ROLLBACK");
        self.in_doubt = false;
        self.dirty = false;
        self.batch = None;
        for ticket in self.tickets.drain(..) {
            let _ = ticket.send(Err(e.clone()));
        }
        StoreError::Batch(e)
    }

    /// Commits the open batch and answers its writes.
    async fn end_batch(&mut self) {
        self.recover().await;
        let Some(batch) = self.batch else {
            return;
        };
        let writes = self.tickets.len();
        let started = Instant::now();
        let committed = match batch.on {
            Side::Sqlx => self
                .step("COMMIT")
                .await
                .map_err(|e| Arc::new(e) as Failure),
            Side::Direct => self
                .direct_step("COMMIT")
                .map_err(|e| Arc::new(e) as Failure),
        };
        if let Err(e) = committed {
            self.abort(e).await;
            return;
        }
        self.batch = None;
        crate::gateway::metrics::batch_committed(
            writes,
            started.elapsed(),
            batch.opened_at.elapsed(),
        );
        for ticket in self.tickets.drain(..) {
            let _ = ticket.send(Ok(()));
        }
    }
}

/// The committer: woken by each write that ends, it queues for the lane and commits the
/// batch when its turn comes.
async fn commit_batches(lane: Weak<Mutex<Lane>>, wake: Arc<Notify>) {
    loop {
        wake.notified().await;
        let Some(lane) = lane.upgrade() else { return };
        let mut lane = lane.lock_owned().await;
        lane.end_batch().await;
    }
}
