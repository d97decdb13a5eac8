//! SQLite's WAL checkpoints, on a thread of their own.
//!
//! A commit appends the pages it changed to the WAL; a checkpoint copies them back into
//! the database file and syncs both, so that the WAL can start over. Left to SQLite, the
//! commit that takes the WAL past 1,000 pages does the checkpoint itself, on the writer's
//! thread, before its batch is answered: every write queued meanwhile waits for it.
//!
//! Here the writer's connections never checkpoint (`wal_autocheckpoint = 0`). This
//! thread copies, on a connection of its own, what the writer committed, woken every
//! [`COMMITS_PER_PASS`] commits (and at least every [`IDLE_PASS`]); SQLite lets a
//! checkpoint run beside a writer, copying the frames committed before it began. A WAL
//! starts over only at a write that finds every frame of it copied, which a writer that
//! never stops seldom finds: once the WAL holds [`RESTART_FRAMES`], the thread asks the
//! writer to copy, between two batches, the few frames committed during its last pass
//! (`Checkpoints::catch_up`), after which the writer's next batch starts the WAL over.
//! The durability is SQLite's own either way: a checkpoint syncs the WAL before it writes
//! the database file, and nothing it does changes what a commit guarantees.

use std::{
    path::PathBuf,
    sync::{
        atomic::{AtomicBool, AtomicU32, Ordering},
        Arc, Condvar, Mutex, PoisonError, Weak,
    },
    time::Duration,
};

/// Commits of the writer between two passes.
const COMMITS_PER_PASS: u32 = 32;

/// The longest wait between two passes (writes that came through the other connection,
/// or the last ones before a quiet spell).
const IDLE_PASS: Duration = Duration::from_millis(200);

/// The WAL's length (in pages, 128 MiB of 4 KiB pages) past which the writer is asked to
/// let it start over. The writer's copy then waits for two `fsync`s (2–17 ms measured under
/// the bench's load of creates) and every write queued meanwhile waits for it, so it comes
/// as seldom as a WAL of this size allows: at 2,048 pages it came about eleven times a
/// second at half the bench's rate of creates, at 16,384 under twice a second.
const RESTART_FRAMES: i64 = 32_768;

/// What the writer and the checkpoint thread share.
#[derive(Debug)]
pub(super) struct Checkpoints {
    /// The writer's commits (wrapping), each [`COMMITS_PER_PASS`]th waking the thread.
    commits: AtomicU32,
    /// Set by the thread: the writer's next pause copies what is left.
    catch_up: AtomicBool,
    /// The WAL's length past which the thread asks for that ([`RESTART_FRAMES`]).
    restart_frames: i64,
    wake: Mutex<bool>,
    woken: Condvar,
}

impl Checkpoints {
    /// Starts the thread on `path`; it stops within [`IDLE_PASS`] of the last handle's
    /// drop.
    pub(super) fn start(path: PathBuf) -> Result<Arc<Self>, rusqlite::Error> {
        Self::start_restarting_at(path, RESTART_FRAMES)
    }

    /// As [`start`](Self::start), asking for the WAL to start over past `restart_frames`.
    fn start_restarting_at(
        path: PathBuf,
        restart_frames: i64,
    ) -> Result<Arc<Self>, rusqlite::Error> {
        let db = rusqlite::Connection::open_with_flags(
            &path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        db.busy_timeout(Duration::from_secs(5))?;
        let shared = Arc::new(Self {
            commits: AtomicU32::new(0),
            catch_up: AtomicBool::new(false),
            restart_frames,
            wake: Mutex::new(false),
            woken: Condvar::new(),
        });
        let weak = Arc::downgrade(&shared);
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || run(&db, &weak))
            .expect("the checkpoint thread starts");
        Ok(shared)
    }

    /// Told by the writer after each of its commits.
    pub(super) fn committed(&self) {
        let commits = self.commits.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        if commits.is_multiple_of(COMMITS_PER_PASS) {
            self.ring();
        }
    }

    /// Between two of the writer's batches: copies what is left of the WAL on `db` (the
    /// writer's connection) when the thread asked for it, and asks again after the next
    /// commit until nothing was left.
    pub(super) fn catch_up(&self, db: &rusqlite::Connection) {
        if !self.catch_up.swap(false, Ordering::Relaxed) {
            return;
        }
        let started = std::time::Instant::now();
        let passed = pass(db);
        crate::gateway::metrics::wal_caught_up(started.elapsed());
        let complete = passed.map_or_else(
            |e| {
                tracing::warn!(error = %e, "WAL checkpoint failed");
                false
            },
            |pass| pass.complete,
        );
        if !complete {
            self.catch_up.store(true, Ordering::Relaxed);
        }
    }

    fn ring(&self) {
        *self.wake.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.woken.notify_one();
    }

    /// Waits for a wake-up or [`IDLE_PASS`].
    fn wait(&self) {
        let rung = self.wake.lock().unwrap_or_else(PoisonError::into_inner);
        let (mut rung, _) = self
            .woken
            .wait_timeout_while(rung, IDLE_PASS, |rung| !*rung)
            .unwrap_or_else(PoisonError::into_inner);
        *rung = false;
    }
}

/// What one passive checkpoint found.
struct Pass {
    /// The WAL's length, in pages.
    wal: i64,
    /// Every frame of it copied (`false` when another checkpoint was running, or a reader
    /// still needed older frames).
    complete: bool,
}

/// One passive checkpoint on `db`.
fn pass(db: &rusqlite::Connection) -> rusqlite::Result<Pass> {
    db.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        let (busy, wal, copied): (i64, i64, i64) = (row.get(0)?, row.get(1)?, row.get(2)?);
        Ok(Pass {
            wal,
            complete: busy == 0 && copied == wal,
        })
    })
}

fn run(db: &rusqlite::Connection, shared: &Weak<Checkpoints>) {
    loop {
        let Some(shared) = shared.upgrade() else {
            return;
        };
        shared.wait();
        match pass(db) {
            // Even a pass that copied it all leaves the frames committed since: the WAL
            // starts over only at a write that finds none left.
            Ok(Pass { wal, .. }) if wal >= shared.restart_frames => {
                shared.catch_up.store(true, Ordering::Relaxed);
            }
            Ok(_) => {}
            // A busy database (another process's checkpoint) is tried again at the next
            // pass; so is anything else, which the writer's own commits will report too.
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a run of writes left of its WAL.
    struct Wal {
        /// The file's length: the longest the WAL grew, as a WAL that starts over is
        /// written again from its start.
        bytes: u64,
        /// The times it started over: its header's checkpoint sequence number, which
        /// SQLite counts up at each restart.
        restarts: u32,
    }

    /// Writes the same rows through a writer that never checkpoints, with the checkpoint
    /// thread beside it or not; answers what the WAL was at the end.
    fn wal_after_writes(with_thread: bool) -> Wal {
        let path = std::env::temp_dir().join(format!(
            "otpgate-checkpoints-{}.db",
            crate::gateway::secret::random_id()
        ));
        let writer = rusqlite::Connection::open(&path).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                 PRAGMA wal_autocheckpoint = 0; \
                 CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB NOT NULL); \
                 CREATE INDEX t_v ON t (v);",
            )
            .unwrap();
        // A small WAL for the test's few rows: it starts over several times.
        let checkpoints =
            with_thread.then(|| Checkpoints::start_restarting_at(path.clone(), 2048).unwrap());
        let mut k = 0_i64;
        for _ in 0..1000 {
            let tx = writer.unchecked_transaction().unwrap();
            for _ in 0..30 {
                k += 1;
                // Values all over the index, so each commit changes pages everywhere.
                let v: Vec<u8> = (0..200)
                    .map(|i| (k.wrapping_mul(2_654_435_761) >> (i % 24)) as u8)
                    .collect();
                tx.execute("INSERT INTO t (k, v) VALUES (?1, ?2)", (k, v))
                    .unwrap();
            }
            tx.commit().unwrap();
            if let Some(checkpoints) = &checkpoints {
                checkpoints.committed();
                checkpoints.catch_up(&writer);
            }
        }
        let wal_path = path.with_extension("db-wal");
        let mut header = [0_u8; 16];
        std::io::Read::read_exact(&mut std::fs::File::open(&wal_path).unwrap(), &mut header)
            .unwrap();
        let wal = Wal {
            bytes: std::fs::metadata(&wal_path).unwrap().len(),
            restarts: u32::from_be_bytes(header[12..16].try_into().unwrap()),
        };
        let rows: i64 = writer
            .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
            .unwrap();
        assert_eq!(rows, k, "every committed row is there");
        drop((writer, checkpoints));
        for file in [path.clone(), wal_path, path.with_extension("db-shm")] {
            let _ = std::fs::remove_file(file);
        }
        wal
    }

    /// A writer that never pauses for long still sees its WAL start over: with the thread
    /// and the writer's catch-ups the WAL restarts again and again, and never grows to
    /// what it grows to without. (How far past the threshold it grows between two
    /// restarts depends on how fast the disk syncs a pass, which a test cannot fix.)
    #[test]
    fn the_wal_starts_over_under_a_writer_that_never_stops() {
        let (without, with) = (wal_after_writes(false), wal_after_writes(true));
        assert_eq!(
            without.restarts, 0,
            "a WAL never checkpointed never starts over"
        );
        assert!(
            with.restarts >= 2,
            "the WAL started over {} times with the thread",
            with.restarts
        );
        assert!(
            with.bytes < without.bytes,
            "the WAL grew to {} bytes with the thread, {} without",
            with.bytes,
            without.bytes
        );
    }
}
