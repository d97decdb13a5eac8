//! The PostgreSQL backend, for more than one instance: every guarantee is one statement,
//! so it holds across instances.

use super::{
    group_commit::GroupCommit,
    pg_batch::{Batches, Create, Settle},
    readers::Readers,
    sql::sql_store,
    views::Views,
    DeliveryOutcome, NewDelivery, NewVerification, StoreError, VerificationRecord,
};
use sqlx::{
    pool::PoolConnection,
    postgres::{PgListener, PgPoolOptions},
    PgConnection, PgPool, Postgres,
};
use std::{sync::Arc, time::Duration};
use tokio::sync::Notify;

/// PostgreSQL-backed [`Store`](super::Store).
#[derive(Clone, Debug)]
pub struct PostgresStore {
    pool: PgPool,
    /// Raised after each commit that added events; see [`notify_listeners`].
    events: Arc<Notify>,
    /// What pages read, kept current by this store's writes and, for other instances'
    /// writes, by the live pump (`views.rs`).
    views: Arc<Views>,
    /// The group commit of this instance's creates (`pg_batch.rs`).
    creates: Batches<Create>,
    /// The group commit of its outbox's outcomes.
    settles: Batches<Settle>,
}

impl PostgresStore {
    /// Connects to `url` and applies the migrations. 16 connections cover a busy instance
    /// on a small database server; acquiring one waits at most 5 s before failing closed.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await?;
        sqlx::migrate!("../migrations/postgres").run(&pool).await?;
        let events = Arc::new(Notify::new());
        tokio::spawn(notify_listeners(pool.clone(), Arc::downgrade(&events)));
        Ok(Self {
            creates: Batches::start(pool.clone()),
            settles: Batches::start(pool.clone()),
            pool,
            events,
            views: Arc::default(),
        })
    }

    /// A transaction of the store's: PostgreSQL commits concurrent transactions' WAL in
    /// one flush of its own, so each has its own connection.
    async fn write_tx(&self) -> Result<sqlx::Transaction<'static, Postgres>, StoreError> {
        Ok(self.pool.begin().await?)
    }

    /// One write statement, committed by itself (no `BEGIN`/`COMMIT` round trips).
    async fn write_one(&self) -> Result<Autocommit, StoreError> {
        Ok(Autocommit(self.pool.acquire().await?))
    }

    /// Every write is the shared SQL's; a statement may write several tables
    /// (`WITH … AS (INSERT …)`).
    fn direct(&self) -> Option<&GroupCommit> {
        None
    }

    /// Creates are written in batches, each one statement (`pg_batch.rs`).
    async fn insert_in_batch(
        &self,
        new: &NewVerification,
        delivery: Option<&NewDelivery>,
    ) -> Result<VerificationRecord, StoreError> {
        let create = Create {
            new: new.clone(),
            delivery: delivery.cloned(),
        };
        self.creates.write(create).await
    }

    /// A delivery's outcome and its events are written in batches, each one statement
    /// (`pg_batch.rs`).
    async fn settle_in_batch(
        &self,
        delivery_id: i64,
        owner: &str,
        outcome: &DeliveryOutcome,
        events: &[(&str, &str)],
        now: i64,
    ) -> Result<bool, StoreError> {
        let settle = Settle {
            delivery_id,
            owner: owner.to_owned(),
            outcome: outcome.clone(),
            events: super::sql::events_json(events),
            now,
        };
        self.settles.write(settle).await
    }

    /// Every read goes through the pool.
    fn readers(&self) -> Option<&Readers> {
        None
    }

    /// The ids in the JSON array `$3`, as a subquery.
    const IDS: &'static str =
        "SELECT CAST(t.value AS BIGINT) FROM jsonb_array_elements_text($3::jsonb) AS t(value)";

    /// The condition that a column is one of the values the subquery `values` answers: as
    /// an array, which PostgreSQL looks up through the column's index whatever its
    /// statistics say. `IN (values)` became a hash join over a scan of the whole table
    /// while a fast-growing table's statistics lagged (milliseconds for a claim's few
    /// dozen ids).
    fn one_of(values: &str) -> String {
        format!("= ANY (ARRAY({values}))")
    }

    /// PostgreSQL's `LIKE` tells case: a masked search needs nothing else.
    const LIKE_IS_EXACT: bool = true;

    /// What the stats read as hourly rollups: the folded ones and the events not folded
    /// yet (migration 0017).
    const STAT_HOURS: &'static str = "stat_hour_live";
    /// The events of `event e` already counted in `stat_hour`: folded, or from before the
    /// folder (counted by the trigger that preceded it).
    const COUNTED: &'static str =
        "(e.txn IS NULL OR e.txn < (SELECT at FROM purge_mark WHERE name = 'events_folded'))";

    /// Adds the events of every transaction that has ended and is not folded yet to
    /// `stat_hour`, and moves the mark past them, inside `tx`; returns how many rollup
    /// rows it wrote. Concurrent folders (other instances) wait for each other on the
    /// mark's row; nothing is locked when there is nothing to fold.
    async fn fold_events(tx: &mut PgConnection) -> Result<u64, StoreError> {
        let pending: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM event WHERE txn >= otpgate_events_folded() \
             AND txn < pg_snapshot_xmin(pg_current_snapshot())::text::bigint)",
        )
        .fetch_one(&mut *tx)
        .await?;
        if !pending {
            return Ok(0);
        }
        let from: i64 =
            sqlx::query_scalar("SELECT at FROM purge_mark WHERE name = 'events_folded' FOR UPDATE")
                .fetch_one(&mut *tx)
                .await?;
        // Read after the lock: every transaction below it has ended, and the fold's own
        // statement (a later snapshot) sees all their events.
        let until: i64 =
            sqlx::query_scalar("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
                .fetch_one(&mut *tx)
                .await?;
        if until <= from {
            return Ok(0);
        }
        let written = sqlx::query(&add_to_rollups("txn >= $1 AND txn < $2"))
            .bind(from)
            .bind(until)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("UPDATE purge_mark SET at = $1 WHERE name = 'events_folded'")
            .bind(until)
            .execute(&mut *tx)
            .await?;
        Ok(written)
    }

    /// Holds off every fold until `tx` ends, so the events counted in `stat_hour` stay
    /// those `COUNTED` names meanwhile.
    async fn hold_folds(tx: &mut PgConnection) -> Result<(), StoreError> {
        sqlx::query("SELECT at FROM purge_mark WHERE name = 'events_folded' FOR UPDATE")
            .execute(&mut *tx)
            .await?;
        Ok(())
    }

    /// Counts the unfolded events of the verifications `chosen` selects (a subquery over
    /// `$1`, `$2`), which `tx` is about to delete, so no fold needs them.
    async fn count_before_purge(
        tx: &mut PgConnection,
        chosen: &str,
        before: i64,
        batch: i64,
    ) -> Result<(), StoreError> {
        Self::hold_folds(tx).await?;
        sqlx::query(&add_to_rollups(&format!(
            "verification_id IN ({chosen}) AND txn >= otpgate_events_folded()"
        )))
        .bind(before)
        .bind(batch)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    /// Called after a commit that added events: the listeners of every instance hear of
    /// it from [`notify_listeners`].
    fn events_added(&self) {
        self.events.notify_one();
    }

    /// Listens on `otpgate_event` on a connection of its own and
    /// raises the returned signal for each notification. A lost connection is re-opened by
    /// the listener; the signal is raised then too, since notifications sent meanwhile
    /// are gone and the reader must look for itself.
    async fn listen_for_events(&self) -> Result<Option<Arc<Notify>>, StoreError> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(EVENT_CHANNEL).await?;
        let signal = Arc::new(Notify::new());
        let raised = signal.clone();
        tokio::spawn(async move {
            loop {
                match listener.try_recv().await {
                    // A notification, or a dropped connection (the next call reconnects
                    // and listens again): either way the reader looks.
                    Ok(_) => raised.notify_one(),
                    Err(e) => {
                        tracing::warn!(error = ?e, "live updates: LISTEN failed; retrying");
                        raised.notify_one();
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
                // Nobody holds the signal any more: the pump has stopped.
                if Arc::strong_count(&raised) == 1 {
                    return;
                }
            }
        });
        Ok(Some(signal))
    }
}

/// A pooled connection for one write statement, which commits by itself; `commit` is
/// there so the shared SQL ends every write the same way on both backends.
pub(super) struct Autocommit(PoolConnection<Postgres>);

impl Autocommit {
    async fn commit(self) -> Result<(), StoreError> {
        Ok(())
    }
}

impl std::ops::Deref for Autocommit {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        &self.0
    }
}

impl std::ops::DerefMut for Autocommit {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.0
    }
}

/// Adds the events `filter` picks (a condition on the view `event_metric`) to `stat_hour`.
fn add_to_rollups(filter: &str) -> String {
    format!(
        "INSERT INTO stat_hour (app_id, hour, channel, provider, country, metric, shard, n) \
         SELECT app_id, hour, channel, provider, country, metric, 0, COUNT(*) \
         FROM event_metric WHERE {filter} \
         GROUP BY app_id, hour, channel, provider, country, metric \
         ON CONFLICT (app_id, hour, channel, provider, country, metric, shard) \
         DO UPDATE SET n = stat_hour.n + excluded.n"
    )
}

/// The channel that tells every instance new events are committed.
const EVENT_CHANNEL: &str = "otpgate_event";

/// Sends `NOTIFY otpgate_event` after commits that added events, on a transaction of its
/// own. Notifying inside the writing transaction (a trigger did, until migration 0007)
/// makes PostgreSQL serialise those commits, WAL flush included, and cost creates about
/// a third of their throughput. Raises that come while a notification is on its way fold
/// into one more, so the rate stays at one round trip at most. Stops when the store is
/// gone.
async fn notify_listeners(pool: PgPool, events: std::sync::Weak<Notify>) {
    loop {
        let Some(raised) = events.upgrade() else {
            return;
        };
        let woken = tokio::time::timeout(Duration::from_secs(5), raised.notified())
            .await
            .is_ok();
        drop(raised);
        if woken {
            if let Err(e) = sqlx::query("SELECT pg_notify($1, '')")
                .bind(EVENT_CHANNEL)
                .execute(&pool)
                .await
            {
                tracing::warn!(error = ?e, "live updates: NOTIFY failed; listeners will poll");
            }
        }
    }
}

sql_store!(
    PostgresStore,
    Postgres,
    "FOR UPDATE SKIP LOCKED",
    "jsonb_array_elements_text(e.tags::jsonb) AS t(value)"
);
