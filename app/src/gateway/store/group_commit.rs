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
//! its own. A write that fails or is rolled back is undone alone; the batch's other writes
//! go on. If the batch itself fails (its commit, or an error that makes SQLite roll the
//! whole transaction back), every write in it is told so.
//!
//! Writes that are rolled back wait for the batch's commit as well: what they read (a
//! budget spent, a code consumed) came from writes of the batch, and an answer must not
//! rest on something that is never committed.
//!
//! The writer has two connections to the one file, and a batch is open on one of them at a
//! time. The hot writes (a create, a check, a rate bucket's hit, the outbox's writes for
//! each message: `direct.rs`) go to the direct writer: callers queue them and one thread
//! of its own takes every write queued, runs them back to back on a synchronous
//! connection (nothing awaited between statements) with those queued meanwhile, commits,
//! and answers them all. These run without savepoints: should one fail part-way, the
//! batch is rolled back and the writes before it run again, each in a savepoint
//! (`Lane::run_write`); nobody hands the connection to anybody
//! between two writes, and SQLite's work (a commit, a checkpoint inside one) never holds
//! up a thread of the runtime. Every other write runs on the sqlx
//! connection, whose statements each go to its worker thread and back, and takes the
//! writer in turn; the committer task commits its batch. A write for the other connection
//! first commits the open batch (answering its writes), so the two never wait on each
//! other's lock.

use super::{checkpoints::Checkpoints, fan_out, StoreError};
use rusqlite::CachedStatement;
use sqlx::SqliteConnection;
use std::{
    any::Any,
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
    /// Wakes the committer (a sqlx write ended).
    wake: Arc<Notify>,
    /// The direct writes waiting for the direct writer.
    queue: Arc<Queue>,
}

/// Why a batch failed, as each of its writes hears it.
pub type Failure = Arc<dyn std::error::Error + Send + Sync>;

/// How one batch ended, told to one of its writes.
type Ticket = Box<dyn FnOnce(Result<(), Failure>) + Send>;

/// A write of the open batch, waiting to hear how the batch ends.
enum Waiting {
    /// A write on the sqlx connection.
    Sqlx(Ticket),
    /// A direct write, kept or undone (`kept`). A kept one runs again should its batch be
    /// written anew without a write that failed part-way (`Lane::replay`).
    Direct {
        write: Box<dyn DirectWrite>,
        kept: bool,
    },
}

impl Waiting {
    fn tell(self, ended: Result<(), Failure>) {
        match self {
            Waiting::Sqlx(ticket) => ticket(ended),
            Waiting::Direct { write, .. } => write.answer(ended),
        }
    }
}

/// How a direct write ends: kept in the batch, or undone (nothing of it kept: its savepoint
/// rolled back, or its batch written anew without it). Either way its answer waits for the
/// batch's commit. A write that wrote nothing ends in `Keep`.
pub(super) enum Ending<R> {
    Keep(R),
    Undo(R),
}

/// The most writes one batch of the direct writer takes: more wait for the next, so the
/// first of a batch is not kept waiting for the commit by an endless stream behind it.
const MAX_DIRECT_BATCH: usize = 256;

/// The direct writes queued for the direct writer.
#[derive(Default)]
struct Queue {
    jobs: std::sync::Mutex<Queued>,
    /// Rung by a write queued while the writer sleeps, and when the writer goes away.
    ready: std::sync::Condvar,
}

#[derive(Default)]
struct Queued {
    jobs: Vec<Job>,
    /// The writer's handle is gone: the direct writer stops once the queue is empty.
    closed: bool,
    /// The direct writer waits on `ready`. While it works, a write queued is found by its
    /// next `take` or `wait`, and ringing would be a system call per write for nothing.
    sleeping: bool,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue").finish_non_exhaustive()
    }
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queued> {
        // A push or a take cannot leave the queue half-changed.
        self.jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn push(&self, job: Job) {
        let sleeping = {
            let mut queued = self.lock();
            queued.jobs.push(job);
            queued.sleeping
        };
        if sleeping {
            self.ready.notify_one();
        }
    }

    /// Up to `max` of the queued writes, oldest first.
    fn take(&self, max: usize) -> Vec<Job> {
        Self::split(&mut self.lock().jobs, max)
    }

    /// As [`take`](Self::take), waiting for a write while none is queued; `None` once the
    /// queue is closed and empty.
    fn wait(&self, max: usize) -> Option<Vec<Job>> {
        let mut queued = self.lock();
        while queued.jobs.is_empty() {
            if queued.closed {
                return None;
            }
            queued.sleeping = true;
            queued = self
                .ready
                .wait(queued)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            queued.sleeping = false;
        }
        Some(Self::split(&mut queued.jobs, max))
    }

    fn split(jobs: &mut Vec<Job>, max: usize) -> Vec<Job> {
        if jobs.len() <= max {
            std::mem::take(jobs)
        } else {
            let rest = jobs.split_off(max);
            std::mem::replace(jobs, rest)
        }
    }

    fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_one();
    }
}

/// One direct write queued for the direct writer.
struct Job {
    queued: Instant,
    /// A write of several statements (see `GroupCommit::run_in`).
    several: bool,
    write: Box<dyn DirectWrite>,
}

/// A caller's write with the way back to its caller, its type hidden from the writer.
trait DirectWrite: Send {
    /// Runs the write (a panic is caught and kept for the caller) and keeps how it ended
    /// for [`answer`](Self::answer). It runs again when its batch is written anew.
    fn run(&mut self, db: &rusqlite::Connection) -> Ran;
    /// Tells the caller: a write that ended hears how its batch ended (`ended`), one that
    /// failed hears its own error at once.
    fn answer(self: Box<Self>, ended: Result<(), Failure>);
    /// The write cannot run: its caller is told why.
    fn refuse(self: Box<Self>, why: Failure);
}

struct Pending<F, R> {
    write: F,
    caller: oneshot::Sender<Answer<R>>,
    /// How its last run ended; `None` before it ran.
    ran: Option<Outcome<R>>,
}

/// How a direct write's run ended.
enum Outcome<R> {
    /// Kept or undone, with its answer.
    Ended(R),
    /// Failed or panicked: what its caller hears.
    Failed(Answer<R>),
}

impl<F, R> DirectWrite for Pending<F, R>
where
    F: FnMut(&rusqlite::Connection) -> Result<Ending<R>, StoreError> + Send,
    R: Send + 'static,
{
    fn run(&mut self, db: &rusqlite::Connection) -> Ran {
        let (ran, outcome) = match panic::catch_unwind(AssertUnwindSafe(|| (self.write)(db))) {
            Ok(Ok(Ending::Keep(answer))) => (Ran::Kept, Outcome::Ended(answer)),
            Ok(Ok(Ending::Undo(answer))) => (Ran::Undo, Outcome::Ended(answer)),
            Ok(Err(e)) => (Ran::Failed, Outcome::Failed(Answer::Done(Err(e)))),
            Err(panicked) => (Ran::Failed, Outcome::Failed(Answer::Panicked(panicked))),
        };
        self.ran = Some(outcome);
        ran
    }

    fn answer(self: Box<Self>, ended: Result<(), Failure>) {
        let Pending { caller, ran, .. } = *self;
        let answer = match ran {
            Some(Outcome::Ended(answer)) => {
                Answer::Done(ended.map(|()| answer).map_err(StoreError::Batch))
            }
            Some(Outcome::Failed(answer)) => answer,
            None => Answer::Done(Err(StoreError::Batch(
                ended
                    .err()
                    .unwrap_or_else(|| Arc::new(Interrupted("the write did not run"))),
            ))),
        };
        let _ = caller.send(answer);
    }

    fn refuse(self: Box<Self>, why: Failure) {
        let _ = self.caller.send(Answer::Done(Err(StoreError::Batch(why))));
    }
}

/// How a direct write's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ran {
    /// To be kept in the batch.
    Kept,
    /// To be undone; its answer still waits for the batch's commit.
    Undo,
    /// Failed or panicked: nothing of it may be kept, and its caller hears at once.
    Failed,
}

/// What a direct write's caller hears.
enum Answer<R> {
    Done(Result<R, StoreError>),
    /// The write panicked; the caller panics with the same payload.
    Panicked(Box<dyn Any + Send>),
}

/// The direct write in progress was undone and its batch may be gone: the caller is told
/// `StoreError::Batch` with this.
#[derive(Debug)]
struct Interrupted(&'static str);

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Interrupted {}

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
    /// The events above this id are the batch's, added to the rollups and the webhook
    /// queue before it commits (`fan_out.rs`); `None` where the writer does not do that.
    mark: Option<i64>,
}

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
    /// A lone statement on the sqlx connection was dropped unfinished: the batch's mark is
    /// lowered before anything else runs, as its commit would have (`Lane::lower_mark`).
    stale_mark: bool,
    /// The writes of the open batch, answered when it ends. Only ever reached through
    /// `&mut Lane` (`Lane::tickets`); the mutex makes the lane `Sync`.
    tickets: std::sync::Mutex<Vec<Waiting>>,
    /// The open batch; `None` while no batch transaction is open.
    batch: Option<Batch>,
    /// The checkpoint thread, told of each direct commit (`checkpoints.rs`); `None`:
    /// SQLite's own checkpoints, inside commits.
    checkpoints: Option<Arc<Checkpoints>>,
    /// Whether each batch adds its events to the rollups and the webhook queue before it
    /// commits (`fan_out.rs`): the store's schema has them.
    fan_out: bool,
}

impl std::fmt::Debug for Lane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lane")
            .field("batch", &self.batch)
            .finish_non_exhaustive()
    }
}

impl GroupCommit {
    /// Takes `conn` and `direct` (two connections to one file) as the one writer and starts
    /// the committer (a task of the current runtime) and the direct writer (a thread that
    /// drives its few awaits through the runtime's handle); they stop when the last handle
    /// is dropped. With `fan_out`, each batch adds its events to the rollups and the
    /// webhook queue before it commits.
    pub(super) fn new(
        conn: SqliteConnection,
        direct: rusqlite::Connection,
        checkpoints: Option<Arc<Checkpoints>>,
        fan_out: bool,
    ) -> Self {
        // Every statement of the hot writes stays prepared.
        direct.set_prepared_statement_cache_capacity(64);
        let lane = Arc::new(Mutex::new(Lane {
            direct: std::sync::Mutex::new(direct),
            conn,
            dirty: false,
            in_doubt: false,
            stale_mark: false,
            tickets: std::sync::Mutex::default(),
            batch: None,
            checkpoints,
            fan_out,
        }));
        let wake = Arc::new(Notify::new());
        let queue = Arc::new(Queue::default());
        tokio::spawn(commit_batches(Arc::downgrade(&lane), wake.clone()));
        let (weak, queued, runtime) = (
            Arc::downgrade(&lane),
            queue.clone(),
            tokio::runtime::Handle::current(),
        );
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || write_directly(&weak, &queued, &runtime))
            .expect("the direct writer's thread starts");
        Self { lane, wake, queue }
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

    /// Runs `write`, a write of several statements, on the direct connection, and answers
    /// once the batch that holds it is committed. Should it fail or end in
    /// [`Ending::Undo`], nothing of it is kept (see `Lane::run_write`); an error is
    /// answered at once. It may run more than once, its batch rolled back in between.
    pub(super) async fn run<R: Send + 'static>(
        &self,
        write: impl FnMut(&rusqlite::Connection) -> Result<Ending<R>, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        self.run_in(true, write).await
    }

    /// Runs `write`, one statement, as [`run`](Self::run) does: SQLite undoes a failed
    /// statement by itself and keeps the transaction. It cannot end in [`Ending::Undo`].
    pub(super) async fn run_one<R: Send + 'static>(
        &self,
        mut write: impl FnMut(&rusqlite::Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        self.run_in(false, move |db| write(db).map(Ending::Keep))
            .await
    }

    /// Runs `write` as [`run`](Self::run) does; `several`: it may write part of itself
    /// before it fails (a write of one statement cannot). The write is queued for the
    /// direct writer; should the caller go away meanwhile, it still runs (as a write whose
    /// caller went away after its commit would have).
    pub(super) async fn run_in<R: Send + 'static>(
        &self,
        several: bool,
        write: impl FnMut(&rusqlite::Connection) -> Result<Ending<R>, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let (caller, answer) = oneshot::channel::<Answer<R>>();
        self.queue.push(Job {
            queued: Instant::now(),
            several,
            write: Box::new(Pending {
                write,
                caller,
                ran: None,
            }),
        });
        match answer.await {
            Ok(Answer::Done(done)) => done,
            Ok(Answer::Panicked(panicked)) => panic::resume_unwind(panicked),
            Err(_) => Err(StoreError::Batch(Arc::new(Interrupted(
                "the direct writer stopped",
            )))),
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
    for (position, (name, value)) in NAMES.iter().zip(values).enumerate() {
        // SQLite numbers the parameters in the order the text first names them: `$n` is
        // the n-th unless the text names a later one first. Asking the n-th's name is a
        // lookup by number; asking a name's number hashes the name into rusqlite's cache.
        let index = match statement.parameter_name(position + 1) {
            Some(named) if named == name => position + 1,
            _ => statement
                .parameter_index(name)?
                .ok_or_else(|| rusqlite::Error::InvalidParameterName(name.clone()))?,
        };
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
        // The committer and the direct writer hold the lane weakly: woken, they find it
        // gone and stop.
        self.wake.notify_one();
        self.queue.close();
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
        if let Err(e) = lane.lower_mark().await {
            return Err(lane.abort(Arc::new(e)).await);
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
    lane.tickets().push(Waiting::Sqlx(Box::new(move |ended| {
        let _ = ticket.send(ended);
    })));
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
            // A lone statement either ran or failed whole (and may have deleted the
            // newest events); a savepoint is undone.
            lane.dirty |= self.savepoint;
            lane.stale_mark |= !self.savepoint;
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
            Side::Sqlx => {
                self.step("BEGIN IMMEDIATE").await?;
                let mark = if self.fan_out {
                    match self.doubtful(fan_out::last_sqlx).await {
                        Ok(mark) => Some(mark),
                        Err(e) => {
                            let _ = self.step("ROLLBACK").await;
                            return Err(e.into());
                        }
                    }
                } else {
                    None
                };
                self.batch = Some(Batch {
                    on: side,
                    opened_at: Instant::now(),
                    mark,
                });
            }
            Side::Direct => self.begin_direct()?,
        }
        Ok(())
    }

    /// Opens a batch on the direct connection, with its mark.
    fn begin_direct(&mut self) -> rusqlite::Result<()> {
        self.direct_step("BEGIN IMMEDIATE")?;
        let mark = if self.fan_out {
            match fan_out::last(self.direct()) {
                Ok(mark) => Some(mark),
                Err(e) => {
                    let _ = self.direct().execute_batch("ROLLBACK");
                    return Err(e);
                }
            }
        } else {
            None
        };
        self.batch = Some(Batch {
            on: Side::Direct,
            opened_at: Instant::now(),
            mark,
        });
        Ok(())
    }

    /// After a write on the sqlx connection: should it have deleted the newest events, the
    /// batch's mark comes down to the largest id left (see `fan_out.rs`).
    async fn lower_mark(&mut self) -> Result<(), sqlx::Error> {
        let Some(mark) = self.batch.and_then(|b| b.mark) else {
            return Ok(());
        };
        let last = self.doubtful(fan_out::last_sqlx).await?;
        if let Some(batch) = &mut self.batch {
            batch.mark = Some(mark.min(last));
        }
        Ok(())
    }

    /// Runs `work` on the sqlx connection as a statement that moves the batch's state (see
    /// [`step`](Self::step)).
    async fn doubtful<T>(
        &mut self,
        work: impl AsyncFnOnce(&mut SqliteConnection) -> Result<T, sqlx::Error>,
    ) -> Result<T, sqlx::Error> {
        self.in_doubt = true;
        let done = work(&mut self.conn).await;
        self.in_doubt = false;
        done
    }

    /// The open batch's writes.
    fn tickets(&mut self) -> &mut Vec<Waiting> {
        self.tickets
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
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

    /// Runs `jobs`, and what is queued meanwhile (up to [`MAX_DIRECT_BATCH`] in all), as
    /// one batch on the direct connection, commits it and answers them. A batch open on
    /// the sqlx connection is committed first.
    async fn run_direct(&mut self, mut jobs: Vec<Job>, queue: &Queue) {
        if let Err(e) = self.open(Side::Direct).await {
            let why: Failure = Arc::new(e);
            for job in jobs {
                job.write.refuse(why.clone());
            }
            return;
        }
        let mut taken = jobs.len();
        loop {
            for job in jobs.drain(..) {
                self.run_job(job);
            }
            if taken >= MAX_DIRECT_BATCH {
                break;
            }
            // What was queued while these ran joins them (the runtime's threads queue
            // writes meanwhile), so the commit, which writes every page the batch changed
            // to the WAL, is shared as widely as the load makes it.
            jobs = queue.take(MAX_DIRECT_BATCH - taken);
            if jobs.is_empty() {
                break;
            }
            taken += jobs.len();
        }
        self.commit_direct();
    }

    /// Runs one queued direct write in the open batch.
    fn run_job(&mut self, job: Job) {
        crate::gateway::metrics::write_queued(job.queued.elapsed());
        self.run_write(job.write, job.several, false);
    }

    /// Runs one direct write in the open batch (opening one if a failure ended the last).
    ///
    /// A write of several statements (`several`) runs without a savepoint of its own: a
    /// savepoint makes SQLite copy every page the write changes into its statement journal
    /// first (2–3 µs of the 17 µs a create's write held the writer), for writes that nearly
    /// always succeed. Should one fail or ask to be undone, part of it may be written: the batch
    /// is rolled back and the writes kept before it run again in a new one, each in a
    /// savepoint (`guarded`, [`replay`](Self::replay)); it is then answered as it would
    /// have been, with nothing of it kept. A write of one statement that fails needs
    /// nothing: SQLite undoes the statement and keeps the transaction.
    fn run_write(&mut self, mut write: Box<dyn DirectWrite>, several: bool, guarded: bool) {
        if self.batch.is_none() {
            if let Err(e) = self.begin_direct() {
                write.refuse(Arc::new(e));
                return;
            }
        }
        let held_since = Instant::now();
        if guarded {
            if let Err(e) = self.direct_step("SAVEPOINT w") {
                let why: Failure = Arc::new(e);
                write.refuse(why.clone());
                self.abort_direct(why);
                return;
            }
        }
        let ran = write.run(self.direct());
        let failure = |e: rusqlite::Error| -> Failure { Arc::new(e) };
        let ended = match (guarded, ran) {
            (true, Ran::Kept) => self.direct_step("RELEASE w").map_err(failure),
            (true, _) => self.direct_undo().map_err(failure),
            // SQLite rolled the whole batch back (a full disk, an I/O error): its other
            // writes are told.
            (false, Ran::Failed) if self.direct().is_autocommit() => {
                Err(Arc::new(Interrupted("SQLite rolled the write batch back")) as Failure)
            }
            (false, Ran::Undo | Ran::Failed) if several => {
                self.replay();
                Ok(())
            }
            _ => Ok(()),
        };
        crate::gateway::metrics::write_held("direct", held_since.elapsed());
        if let Err(why) = ended {
            // A write that failed hears its own error.
            write.answer(Err(why.clone()));
            self.abort_direct(why);
            return;
        }
        match ran {
            Ran::Failed => write.answer(Ok(())),
            Ran::Kept | Ran::Undo => self.wait_for_commit(write, ran == Ran::Kept),
        }
    }

    /// Rolls back the open direct batch and runs the writes it kept again in a new one,
    /// each in a savepoint (a write of several statements failed, or asked to be undone,
    /// without one). Each runs on the rows it ran on before, in the same order, so it
    /// writes and answers what it did then. The undone writes wait for the new batch's
    /// commit.
    fn replay(&mut self) {
        let earlier = std::mem::take(self.tickets());
        let _ = self.direct().execute_batch("ROLLBACK");
        self.batch = None;
        if let Err(e) = self.begin_direct() {
            let why: Failure = Arc::new(e);
            for waiting in earlier {
                waiting.tell(Err(why.clone()));
            }
            return;
        }
        for waiting in earlier {
            match waiting {
                Waiting::Direct { write, kept: true } => self.run_write(write, true, true),
                Waiting::Direct { write, kept: false } => self.wait_for_commit(write, false),
                // A batch is open on one connection at a time; a write for the other
                // commits it first.
                Waiting::Sqlx(ticket) => ticket(Err(Arc::new(Interrupted(
                    "a write of the other connection in a direct batch",
                )))),
            }
        }
    }

    /// `write` ran to its end (kept, or undone): it is answered when the open batch ends,
    /// or at once if none is open (it could not be written again).
    fn wait_for_commit(&mut self, write: Box<dyn DirectWrite>, kept: bool) {
        if self.batch.is_some() {
            self.tickets().push(Waiting::Direct { write, kept });
        } else {
            write.answer(Err(Arc::new(Interrupted(
                "the write batch could not be written again",
            ))));
        }
    }

    /// The direct batch cannot go on: rolls back what is left of it (on the direct
    /// connection) and tells its writes.
    fn abort_direct(&mut self, e: Failure) {
        tracing::error!(error = ?e, writes = self.tickets().len(), "write batch failed");
        // Fails harmlessly when SQLite rolled it back already.
        let _ = self.direct().execute_batch("ROLLBACK");
        self.batch = None;
        for waiting in self.tickets().drain(..) {
            waiting.tell(Err(e.clone()));
        }
    }

    /// Commits the open direct batch and answers its writes.
    fn commit_direct(&mut self) {
        let Some(batch) = self.batch else {
            return;
        };
        let started = Instant::now();
        if let Some(mark) = batch.mark {
            if let Err(e) = fan_out::add(self.direct(), mark) {
                self.abort_direct(Arc::new(e));
                return;
            }
        }
        if let Err(e) = self.direct_step("COMMIT") {
            self.abort_direct(Arc::new(e));
            return;
        }
        self.batch = None;
        self.committed(batch, started);
        if let Some(checkpoints) = self.checkpoints.clone() {
            checkpoints.committed();
            // Answered already: only the writes queued meanwhile wait for the copy.
            checkpoints.catch_up(self.direct());
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
        self.doubtful(async |conn| sqlx::query(sql).execute(conn).await.map(drop))
            .await
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
        if std::mem::take(&mut self.stale_mark) {
            if let Err(e) = self.lower_mark().await {
                self.abort(Arc::new(e)).await;
            }
        }
    }

    /// The batch cannot go on (SQLite may already have rolled it back): rolls back what
    /// is left of it and tells its writes.
    async fn abort(&mut self, e: Failure) -> StoreError {
        // Whatever `batch` says, a transaction may be open on either connection; gone
        // mid-way, the next holder of the lane rolls back again.
        self.in_doubt = true;
        let _ = sqlx::query("ROLLBACK").execute(&mut self.conn).await;
        self.in_doubt = false;
        self.dirty = false;
        self.abort_direct(e.clone());
        StoreError::Batch(e)
    }

    /// Commits the open batch and answers its writes.
    async fn end_batch(&mut self) {
        self.recover().await;
        let Some(batch) = self.batch else {
            return;
        };
        if batch.on == Side::Direct {
            self.commit_direct();
            return;
        }
        let started = Instant::now();
        if let Some(mark) = batch.mark {
            let added = self
                .doubtful(async |conn| fan_out::add_sqlx(conn, mark).await)
                .await;
            if let Err(e) = added {
                self.abort(Arc::new(e)).await;
                return;
            }
        }
        if let Err(e) = self.step("COMMIT").await {
            self.abort(Arc::new(e)).await;
            return;
        }
        self.batch = None;
        self.committed(batch, started);
    }

    /// `batch` was committed (its `COMMIT` started at `started`): its writes are told.
    fn committed(&mut self, batch: Batch, started: Instant) {
        crate::gateway::metrics::batch_committed(
            self.tickets().len(),
            started.elapsed(),
            batch.opened_at.elapsed(),
        );
        for waiting in self.tickets().drain(..) {
            waiting.tell(Ok(()));
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

/// The direct writer, on a thread of its own: it waits for direct writes, takes the writer
/// and runs every write queued then (and those queued while they run) as one batch. The
/// runtime's threads go on serving requests (and queueing the next batch's writes) while
/// SQLite works; the few awaits here (the lane, a sqlx batch to commit first) are driven
/// on this thread through the runtime's handle.
fn write_directly(lane: &Weak<Mutex<Lane>>, queue: &Queue, runtime: &tokio::runtime::Handle) {
    while let Some(jobs) = queue.wait(MAX_DIRECT_BATCH) {
        // Gone: the jobs are dropped, and their callers hear that the writer stopped.
        let Some(lane) = lane.upgrade() else { return };
        runtime.block_on(async {
            let mut lane = lane.lock().await;
            lane.recover().await;
            lane.run_direct(jobs, queue).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Connection;

    /// A writer on a fresh file with one table, `t(k PRIMARY KEY)`, and the file's path.
    async fn writer() -> (GroupCommit, std::path::PathBuf) {
        writer_with(&["CREATE TABLE t (k TEXT PRIMARY KEY)"], false).await
    }

    /// A writer on a fresh file made by `schema`, its batches fanning out their events or
    /// not, and the file's path.
    async fn writer_with(schema: &[&str], fan_out: bool) -> (GroupCommit, std::path::PathBuf) {
        let path = std::env::temp_dir().join(format!(
            "otpgate-group-commit-{}.db",
            crate::gateway::secret::random_id()
        ));
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal);
        let mut conn = SqliteConnection::connect_with(&options).await.unwrap();
        for sql in schema {
            sqlx::query(sql).execute(&mut conn).await.unwrap();
        }
        let direct = rusqlite::Connection::open(&path).unwrap();
        (GroupCommit::new(conn, direct, None, fan_out), path)
    }

    fn insert(db: &rusqlite::Connection, k: &str) -> Result<(), StoreError> {
        db.execute("INSERT INTO t (k) VALUES (?1)", [k])
            .map(drop)
            .map_err(|e| {
                let unique = e.to_string().contains("UNIQUE");
                StoreError::Corrupt(if unique { "unique" } else { "other" })
            })
    }

    /// The committed keys, as another connection reads them.
    fn stored(path: &std::path::Path) -> Vec<String> {
        let db = rusqlite::Connection::open(path).unwrap();
        let mut keys = db.prepare("SELECT k FROM t ORDER BY k").unwrap();
        let keys = keys.query_map([], |row| row.get(0)).unwrap();
        keys.collect::<Result<_, _>>().unwrap()
    }

    /// `bound` binds `$1`, `$2`, … to their values whether the text names them in order
    /// (found by number) or not (found by name), and refuses values the text has no
    /// parameter for.
    #[test]
    fn values_are_bound_to_their_placeholders_in_any_order() {
        let db = rusqlite::Connection::open_in_memory().unwrap();
        let read = |sql: &str, values: &[&dyn rusqlite::ToSql]| -> rusqlite::Result<String> {
            let mut statement = bound(&db, sql, values)?;
            let mut rows = statement.raw_query();
            let row = rows.next()?.expect("one row");
            row.get(0)
        };
        let values: [&dyn rusqlite::ToSql; 3] = [&"a", &"b", &"c"];
        assert_eq!(read("SELECT $1 || $2 || $3", &values).unwrap(), "abc");
        assert_eq!(read("SELECT $3 || $1 || $2", &values).unwrap(), "cab");
        assert_eq!(
            read("SELECT $2 || $3 || $1 || $2", &values).unwrap(),
            "bcab"
        );
        assert!(matches!(
            read("SELECT $1 || $2", &values),
            Err(rusqlite::Error::InvalidParameterName(name)) if name == "$3"
        ));
    }

    /// A batch's events reach the rollups and the webhook queue with its commit, also
    /// when a write of the batch deleted the newest events first and the next event took
    /// an id below the batch's mark again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_adds_its_events_even_after_the_newest_were_deleted() {
        let schema = [
            "CREATE TABLE event (event_id INTEGER PRIMARY KEY, kind TEXT NOT NULL, \
             created_at INTEGER NOT NULL, app_id INTEGER, channel TEXT NOT NULL, \
             provider TEXT NOT NULL, country TEXT NOT NULL, tags TEXT)",
            "CREATE TABLE stat_hour (app_id INTEGER NOT NULL, hour INTEGER NOT NULL, \
             channel TEXT NOT NULL, provider TEXT NOT NULL, country TEXT NOT NULL, \
             metric TEXT NOT NULL, shard INTEGER NOT NULL, n INTEGER NOT NULL, \
             PRIMARY KEY (app_id, hour, channel, provider, country, metric, shard))",
            "CREATE TABLE app_webhook (webhook_id INTEGER PRIMARY KEY, app_id INTEGER, \
             kinds TEXT NOT NULL)",
            "CREATE TABLE webhook_message (message_id INTEGER PRIMARY KEY, \
             webhook_id INTEGER NOT NULL, event_id INTEGER NOT NULL, \
             next_attempt_at INTEGER NOT NULL, created_at INTEGER NOT NULL, \
             updated_at INTEGER NOT NULL)",
            "INSERT INTO app_webhook (app_id, kinds) VALUES (1, ',verified,')",
        ];
        let (writer, path) = writer_with(&schema, true).await;
        let event = |kind: &'static str, tags: Option<&'static str>| {
            sqlx::query(
                "INSERT INTO event (kind, created_at, app_id, channel, provider, country, tags) \
                 VALUES ($1, 7200001, 1, 'email', 'smtp', '', $2)",
            )
            .bind(kind)
            .bind(tags)
        };
        // Three events in a batch of their own, one of them with a tag.
        for (kind, tags) in [
            ("created", None),
            ("verified", Some(r#"["tries:1"]"#)),
            ("created", None),
        ] {
            let mut write = writer.begin_statement().await.unwrap();
            event(kind, tags).execute(&mut *write).await.unwrap();
            write.commit().await.unwrap();
        }
        // In one batch: the newest two go, and a new event takes the id 2 again.
        {
            let mut lane = writer.lane.clone().lock_owned().await;
            lane.open(Side::Sqlx).await.unwrap();
            assert_eq!(lane.batch.and_then(|b| b.mark), Some(3));
            sqlx::query("DELETE FROM event WHERE event_id > 1")
                .execute(&mut lane.conn)
                .await
                .unwrap();
            lane.lower_mark().await.unwrap();
            let id = event("verified", None)
                .execute(&mut lane.conn)
                .await
                .unwrap()
                .last_insert_rowid();
            assert_eq!(id, 2, "SQLite gives the new event an id below the mark");
            lane.end_batch().await;
        }
        let db = rusqlite::Connection::open(&path).unwrap();
        let mut counts = db
            .prepare("SELECT metric, hour, n FROM stat_hour ORDER BY metric")
            .unwrap();
        let counts: Vec<(String, i64, i64)> = counts
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            counts,
            [
                ("created".to_owned(), 7200000, 2),
                ("tries:1".to_owned(), 7200000, 1),
                ("verified".to_owned(), 7200000, 2),
            ]
        );
        let messages: Vec<i64> = db
            .prepare("SELECT event_id FROM webhook_message ORDER BY message_id")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(messages, [2, 2], "one message for each verified event");
        drop(writer);
        let _ = std::fs::remove_file(&path);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_direct_write_hears_its_own_ending() {
        let (writer, path) = writer().await;
        let writer = Arc::new(writer);
        let mut all = tokio::task::JoinSet::new();
        for n in 0..60 {
            let writer = writer.clone();
            all.spawn(async move {
                let answer = match n % 4 {
                    // The second insert collides with the first: neither is kept.
                    0 => {
                        writer
                            .run(move |db| {
                                insert(db, &format!("collides-{n}"))?;
                                insert(db, &format!("collides-{n}"))?;
                                Ok(Ending::Keep(n))
                            })
                            .await
                    }
                    1 => {
                        writer
                            .run(move |db| {
                                insert(db, &format!("undone-{n}"))?;
                                Ok(Ending::Undo(n))
                            })
                            .await
                    }
                    2 => {
                        writer
                            .run_one(move |db| insert(db, &format!("one-{n}")).map(|()| n))
                            .await
                    }
                    _ => {
                        writer
                            .run(move |db| {
                                insert(db, &format!("panicked-{n}"))?;
                                panic!("write {n} panicked");
                            })
                            .await
                    }
                };
                (n, answer)
            });
        }
        let mut panics = 0;
        while let Some(joined) = all.join_next().await {
            let Ok((n, answer)) = joined else {
                panics += 1;
                continue;
            };
            match n % 4 {
                0 => assert!(
                    matches!(answer, Err(StoreError::Corrupt("unique"))),
                    "{n}: {answer:?}"
                ),
                1 | 2 => assert_eq!(answer.unwrap(), n),
                _ => unreachable!("write {n} answered {answer:?} instead of panicking"),
            }
        }
        assert_eq!(panics, 15, "every panicking write panics in its caller");
        let mut expected: Vec<String> = (0..60)
            .filter(|n| n % 4 == 2)
            .map(|n| format!("one-{n}"))
            .collect();
        expected.sort();
        assert_eq!(
            stored(&path),
            expected,
            "only the kept writes were committed"
        );
        drop(writer);
        let _ = std::fs::remove_file(&path);
    }

    /// Direct writes run without savepoints; one that fails part-way, or asks to be undone
    /// after writing, makes the batch roll back and run the writes before it again. Five
    /// writes queued behind a held writer run as one batch: each caller hears its own
    /// answer, and only the kept writes are committed, whole.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_direct_write_that_fails_part_way_leaves_the_rest_of_its_batch() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        type Queued<'a> = std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<&'static str, StoreError>> + Send + 'a>,
        >;
        let (writer, path) = writer().await;
        let runs: Vec<Arc<AtomicUsize>> = (0..5).map(|_| Arc::default()).collect();
        // Two rows, or a failure after the first (the second collides with `a`), or an
        // undo after the first.
        let write = |n: usize, key: &'static str, second: &'static str, undo: bool| -> Queued {
            let runs = runs[n].clone();
            Box::pin(writer.run(move |db| {
                runs.fetch_add(1, Ordering::SeqCst);
                insert(db, key)?;
                if undo {
                    return Ok(Ending::Undo(key));
                }
                insert(db, second)?;
                Ok(Ending::Keep(key))
            }))
        };
        // Held, the writer lets the direct writes queue up; released, it takes them all.
        let held = writer.begin().await.unwrap();
        let mut queued = vec![
            write(0, "a", "a-2", false),
            write(1, "b", "a", false),
            write(2, "c", "c-2", false),
            write(3, "d", "d-2", true),
            write(4, "e", "e-2", false),
        ];
        for write in &mut queued {
            // The first poll queues the write, in this order.
            std::future::poll_fn(|cx| {
                let _ = write.as_mut().poll(cx);
                std::task::Poll::Ready(())
            })
            .await;
        }
        held.commit().await.unwrap();
        let mut answers = Vec::new();
        for write in queued {
            answers.push(write.await);
        }
        assert_eq!(answers[0].as_ref().unwrap(), &"a");
        assert!(
            matches!(answers[1], Err(StoreError::Corrupt("unique"))),
            "{:?}",
            answers[1]
        );
        assert_eq!(answers[2].as_ref().unwrap(), &"c");
        assert_eq!(answers[3].as_ref().unwrap(), &"d");
        assert_eq!(answers[4].as_ref().unwrap(), &"e");
        assert_eq!(stored(&path), ["a", "a-2", "c", "c-2", "e", "e-2"]);
        // `a` ran again after `b` failed and after `d` was undone, `c` after `d`; the
        // failed and undone writes did not run again.
        let runs: Vec<usize> = runs.iter().map(|r| r.load(Ordering::SeqCst)).collect();
        assert_eq!(runs, [3, 1, 2, 1, 1]);
        drop(writer);
        let _ = std::fs::remove_file(&path);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn direct_and_sqlx_writes_take_turns() {
        let (writer, path) = writer().await;
        let writer = Arc::new(writer);
        let mut all = tokio::task::JoinSet::new();
        for n in 0..40 {
            let writer = writer.clone();
            all.spawn(async move {
                if n % 2 == 0 {
                    writer
                        .run_one(move |db| insert(db, &format!("direct-{n:02}")))
                        .await
                } else {
                    let mut write = writer.begin().await?;
                    sqlx::query("INSERT INTO t (k) VALUES ($1)")
                        .bind(format!("sqlx-{n:02}"))
                        .execute(&mut *write)
                        .await?;
                    write.commit().await
                }
            });
        }
        while let Some(joined) = all.join_next().await {
            joined.unwrap().unwrap();
        }
        let keys = stored(&path);
        assert_eq!(keys.len(), 40, "{keys:?}");
        assert_eq!(keys.iter().filter(|k| k.starts_with("direct-")).count(), 20);
        drop(writer);
        let _ = std::fs::remove_file(&path);
    }
}
