//! PostgreSQL's hot read (a check's read of its verification, a fresh page's) in batches.
//!
//! Read one at a time, each read was a statement of its own: a round trip, a wake-up of
//! its backend, and the executor's start and end around one index lookup. On the bench's
//! machine PostgreSQL's processes spent more CPU per check than the server did. The reads
//! that come while one batch is out now go together in the next, one statement that
//! looks each verification up through its index (`verification_current`), on a
//! connection the batcher keeps (`pg_batch.rs`). A read is safe to repeat: a batch whose
//! kept connection turns out lost is read again on one from the pool.

use super::{
    pg_batch::Batched,
    sql::{counter, verification_record, VERIFICATION_COLUMNS},
    StoreError, VerificationRecord,
};
use crate::model::Status;
use sqlx::{PgConnection, Row};
use std::sync::LazyLock;

/// One read of a verification by its app and public id.
pub(super) struct Find {
    pub(super) app_id: i64,
    pub(super) public_id: String,
}

impl Batched for Find {
    type In = Find;
    type Out = Option<VerificationRecord>;
    const READ_ONLY: bool = true;

    fn key(find: &Find) -> (i64, String) {
        (find.app_id, find.public_id.clone())
    }

    async fn write_all(
        conn: &mut PgConnection,
        finds: &[&Find],
    ) -> Result<Vec<Result<Option<VerificationRecord>, StoreError>>, StoreError> {
        let rows = sqlx::query(&FIND_ALL)
            .bind(finds.iter().map(|f| f.app_id).collect::<Vec<i64>>())
            .bind(
                finds
                    .iter()
                    .map(|f| f.public_id.as_str())
                    .collect::<Vec<&str>>(),
            )
            .fetch_all(conn)
            .await?;
        let mut found: Vec<Option<VerificationRecord>> = vec![None; finds.len()];
        for row in &rows {
            let n: i64 = row.try_get("n")?;
            let slot = usize::try_from(n - 1)
                .ok()
                .and_then(|i| found.get_mut(i))
                .ok_or(StoreError::Corrupt("read batch"))?;
            *slot = Some(verification_record!(row, try_get)?);
        }
        Ok(found.into_iter().map(Ok).collect())
    }
}

/// [`Find`] for a batch: the current verification of each of the arrays' (app, public
/// id), with its place in them (`n`, from 1), one lookup through `verification_current`
/// each. `OFFSET 0` keeps the lookup a subquery of its own: flattened into a join, the
/// planner scanned every current verification and hashed them while a growing table's
/// statistics lagged, and with both ids compared as arrays its generic plan looked up the
/// app and filtered all of its verifications (16–26 ms a batch; 639 and 903 µs of PostgreSQL's CPU per check in two
/// bench runs, against 181–198 µs read one at a time).
static FIND_ALL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT i.n, v.* FROM unnest($1::bigint[], $2::text[]) WITH ORDINALITY AS i(a, p, n) \
         CROSS JOIN LATERAL (SELECT {VERIFICATION_COLUMNS} FROM verification \
           WHERE app_id = i.a AND public_id = i.p AND superseded_at IS NULL OFFSET 0) v"
    )
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::store::pg_batch::Batches;
    use std::time::Duration;

    /// A batch of reads that answers the backend it ran on.
    struct Backend;

    impl Batched for Backend {
        type In = ();
        type Out = i32;
        const READ_ONLY: bool = true;

        fn key((): &()) -> (i64, String) {
            (0, String::new())
        }

        async fn write_all(
            conn: &mut PgConnection,
            reads: &[&()],
        ) -> Result<Vec<Result<i32, StoreError>>, StoreError> {
            let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
                .fetch_one(conn)
                .await?;
            Ok(reads.iter().map(|_| Ok(pid)).collect())
        }
    }

    /// A batch of reads whose kept connection the database ended is made again on another
    /// connection: it answers, instead of failing (writes are not made again).
    #[tokio::test]
    async fn a_read_whose_kept_connection_was_ended_is_made_again() {
        let url = std::env::var("OTPGATE_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .connect_lazy(&url)
            .unwrap();
        let reads = Batches::<Backend>::start(pool.clone());
        let first = reads.write(()).await.expect("a read");
        assert_eq!(reads.write(()).await.unwrap(), first, "the kept connection");
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
        let again = reads.write(()).await.expect("read again");
        assert_ne!(again, first, "on another connection");
        assert_eq!(reads.write(()).await.unwrap(), again, "kept in its place");
    }
}
