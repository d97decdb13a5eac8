//! PostgreSQL's hot reads (a check's read of its verification, a fresh page's) on
//! connections kept out of sqlx's pool between reads. sqlx pings every connection given
//! back to its pool (`return_to_pool`): a second round trip, and a second wake-up of the
//! backend, after a read's one statement. A read here takes the most recently used kept
//! connection and puts it back after its answer, so a busy instance reads in one round
//! trip. At most [`KEEP`] wait between reads, and those idle for [`PING_AFTER_IDLE`] go
//! back to the pool (which pings them and retires those past their lifetime), so a quiet
//! instance holds no connection here that the pool could lend elsewhere; one kept for
//! [`KEEP_FOR`] goes back too, so the pool's lifetime retires kept connections as well.

use super::pg_batch::{unavailable_sqlx, KEEP_FOR, PING_AFTER_IDLE};
use sqlx::{
    pool::PoolConnection,
    postgres::{PgArguments, PgRow},
    query::Query,
    PgPool, Postgres,
};
use std::{sync::Mutex, time::Instant};

/// Connections kept at most between reads, of the pool's 20. With four, a third of a
/// busy instance's reads still went through the pool (and its ping) on the bench's
/// machine; with eight, about one in ten.
const KEEP: usize = 8;

/// The connections kept for hot reads.
#[derive(Debug, Default)]
pub(super) struct KeptReads {
    /// Newest last: each is put back after the ones used before it.
    idle: Mutex<Vec<Idle>>,
}

#[derive(Debug)]
struct Idle {
    conn: PoolConnection<Postgres>,
    used: Instant,
    /// When it was taken from the pool.
    taken: Instant,
}

impl KeptReads {
    /// Runs the query `query` makes, for its one row if any, on a kept connection or
    /// one from `pool`. A read is safe to repeat: if a kept connection turns out to be
    /// lost (the database ended it within [`PING_AFTER_IDLE`] of its last use), the read
    /// is made again on one from the pool.
    pub(super) async fn fetch_optional<'q>(
        &self,
        pool: &PgPool,
        query: impl Fn() -> Query<'q, Postgres, PgArguments>,
    ) -> Result<Option<PgRow>, sqlx::Error> {
        if let Some((mut conn, taken)) = self.take() {
            match query().fetch_optional(&mut *conn).await {
                Err(e) if unavailable_sqlx(&e) => drop(conn),
                read => {
                    self.put_back(conn, taken);
                    return read;
                }
            }
        }
        // Dropped here by a cancelled read, a connection goes back to the pool, which
        // pings it (and closes it if it is no longer usable).
        let mut conn = pool.acquire().await?;
        let read = query().fetch_optional(&mut *conn).await;
        if !matches!(&read, Err(e) if unavailable_sqlx(e)) {
            self.put_back(conn, Instant::now());
        }
        read
    }

    /// The most recently used kept connection; those idle for [`PING_AFTER_IDLE`] go
    /// back to the pool first.
    fn take(&self) -> Option<(PoolConnection<Postgres>, Instant)> {
        let (stale, newest) = {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            // Oldest first, so the stale ones are a prefix.
            let fresh = idle
                .iter()
                .position(|i| i.used.elapsed() < PING_AFTER_IDLE)
                .unwrap_or(idle.len());
            let stale: Vec<Idle> = idle.drain(..fresh).collect();
            (stale, idle.pop())
        };
        // Dropped outside the lock: each goes back to the pool on a task of sqlx's.
        drop(stale);
        newest.map(|i| (i.conn, i.taken))
    }

    /// Keeps `conn` (taken from the pool at `taken`) for the next read, unless [`KEEP`]
    /// are kept already or it has been kept for [`KEEP_FOR`].
    fn put_back(&self, conn: PoolConnection<Postgres>, taken: Instant) {
        let spare = {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            if idle.len() < KEEP && taken.elapsed() < KEEP_FOR {
                idle.push(Idle {
                    conn,
                    used: Instant::now(),
                    taken,
                });
                None
            } else {
                Some(conn)
            }
        };
        drop(spare);
    }
}

impl Drop for KeptReads {
    fn drop(&mut self) {
        // A connection goes back to sqlx's pool on a task of the runtime. Dropped outside
        // one (a store that outlived its runtime), each is closed where it is instead.
        if tokio::runtime::Handle::try_current().is_err() {
            let idle = self.idle.get_mut().unwrap_or_else(|e| e.into_inner());
            for kept in idle.drain(..) {
                drop(kept.conn.detach());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Row;
    use std::time::Duration;

    /// A small pool on PostgreSQL's `postgres` database on loopback (nothing is written).
    fn pool() -> PgPool {
        let url = std::env::var("OTPGATE_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .connect_lazy(&url)
            .unwrap()
    }

    /// The backend a read ran on.
    async fn backend(kept: &KeptReads, pool: &PgPool) -> i32 {
        let row = kept
            .fetch_optional(pool, || sqlx::query("SELECT pg_backend_pid()"))
            .await
            .expect("a read")
            .expect("a row");
        row.get(0)
    }

    /// Waits until the pool holds `n` idle connections.
    async fn idle_in_pool(pool: &PgPool, n: usize) {
        for _ in 0..100 {
            if pool.num_idle() == n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{} idle in the pool, not {n}", pool.num_idle());
    }

    /// Reads in turn run on one connection, kept out of the pool between them; once it
    /// has been quiet for `PING_AFTER_IDLE` it goes back to the pool.
    #[tokio::test]
    async fn reads_in_turn_share_a_kept_connection_until_it_is_quiet() {
        let (pool, kept) = (pool(), KeptReads::default());
        let first = backend(&kept, &pool).await;
        for _ in 0..3 {
            assert_eq!(backend(&kept, &pool).await, first, "the kept connection");
        }
        assert_eq!(
            (pool.size(), pool.num_idle()),
            (1, 0),
            "kept, not in the pool"
        );
        tokio::time::sleep(PING_AFTER_IDLE + Duration::from_millis(100)).await;
        assert!(kept.take().is_none(), "a quiet connection is not kept");
        idle_in_pool(&pool, 1).await;
    }

    /// A kept connection whose backend the database ended is found by the read that
    /// takes it, and the read is made again on another: it answers, instead of failing.
    #[tokio::test]
    async fn a_read_whose_kept_connection_was_ended_is_made_again() {
        let (pool, kept) = (pool(), KeptReads::default());
        let first = backend(&kept, &pool).await;
        let ended: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
            .bind(first)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert!(ended, "the kept connection's backend told to end");
        for _ in 0..100 {
            let alive: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)")
                    .bind(first)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            if !alive {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let again = backend(&kept, &pool).await;
        assert_ne!(again, first, "read again on another connection");
        assert_eq!(
            backend(&kept, &pool).await,
            again,
            "which is kept in its place"
        );
    }
}
