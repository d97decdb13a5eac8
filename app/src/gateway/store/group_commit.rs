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

use super::StoreError;
use sqlx::SqliteConnection;
use std::{
    ops::{Deref, DerefMut},
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

/// How one batch ended, as its writes hear it.
type Ticket = oneshot::Sender<Result<(), Arc<sqlx::Error>>>;

#[derive(Debug)]
struct Lane {
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
    /// When the open batch began; `None` while no batch transaction is open.
    opened_at: Option<Instant>,
}

impl GroupCommit {
    /// Takes `conn` as the one writer and starts the committer on the current runtime; it
    /// stops when the last handle is dropped.
    pub(super) fn new(conn: SqliteConnection) -> Self {
        let lane = Arc::new(Mutex::new(Lane {
            conn,
            dirty: false,
            in_doubt: false,
            tickets: Vec::new(),
            opened_at: None,
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
        let queued = Instant::now();
        let mut lane = self.lane.clone().lock_owned().await;
        let held_since = Instant::now();
        crate::gateway::metrics::write_queued(held_since - queued);
        lane.recover().await;
        if lane.opened_at.is_none() {
            lane.step("BEGIN IMMEDIATE").await?;
            lane.opened_at = Some(Instant::now());
        }
        if savepoint {
            if let Err(e) = lane.step("SAVEPOINT w").await {
                return Err(lane.abort(e).await);
            }
        }
        Ok(Write {
            lane: Some(lane),
            wake: self.wake.clone(),
            savepoint,
            held_since,
        })
    }
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
                return Err(lane.abort(e).await);
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

    async fn wait(&self, mut lane: OwnedMutexGuard<Lane>) -> Result<(), StoreError> {
        crate::gateway::metrics::write_held(self.held_since.elapsed());
        let (ticket, answer) = oneshot::channel();
        lane.tickets.push(ticket);
        // The committer queues for the lane behind every write waiting now.
        self.wake.notify_one();
        drop(lane);
        match answer.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StoreError::Batch(e)),
            Err(_) => Err(StoreError::Batch(Arc::new(sqlx::Error::PoolClosed))),
        }
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
                return Err(self.abort(e).await);
            }
        }
        Ok(())
    }

    /// Puts right what a caller that went away left: the savepoint of a write dropped
    /// unfinished is rolled back; a statement left unanswered fails the whole batch.
    async fn recover(&mut self) {
        if std::mem::take(&mut self.in_doubt) {
            let interrupted = sqlx::Error::Protocol("a write batch was interrupted".into());
            self.abort(interrupted).await;
        } else if std::mem::take(&mut self.dirty) {
            // On failure `undo` has failed the batch already.
            let _ = self.undo().await;
        }
    }

    /// The batch cannot go on (SQLite may already have rolled it back): rolls back what
    /// is left of it and tells its writes.
    async fn abort(&mut self, e: sqlx::Error) -> StoreError {
        tracing::error!(error = ?e, writes = self.tickets.len(), "write batch failed");
        // Whatever `opened_at` says, a transaction may be open; gone mid-way, the next holder
        // of the lane rolls back again.
        self.in_doubt = true;
        let _ = sqlx::query("ROLLBACK").execute(&mut self.conn).await;
        self.in_doubt = false;
        self.dirty = false;
        self.opened_at = None;
        let e = Arc::new(e);
        for ticket in self.tickets.drain(..) {
            let _ = ticket.send(Err(e.clone()));
        }
        StoreError::Batch(e)
    }

    /// Commits the open batch and answers its writes.
    async fn end_batch(&mut self) {
        self.recover().await;
        let Some(opened_at) = self.opened_at else {
            return;
        };
        let writes = self.tickets.len();
        let started = Instant::now();
        if let Err(e) = self.step("COMMIT").await {
            self.abort(e).await;
            return;
        }
        self.opened_at = None;
        crate::gateway::metrics::batch_committed(writes, started.elapsed(), opened_at.elapsed());
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
