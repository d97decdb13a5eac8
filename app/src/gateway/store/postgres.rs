//! The PostgreSQL backend, for more than one instance: every guarantee is one statement,
//! so it holds across instances.

use super::{
    group_commit::GroupCommit,
    pg_batch::{Batches, Budget, Check, Checked, Consume, Create, Settle, PING_AFTER_IDLE},
    pg_reads::Find,
    readers::Readers,
    sql::{sql_store, FINISH},
    stats::{tags, verified_detail},
    views::Views,
    Attempt, AttemptOutcome, DeliveryOutcome, DeliveryStore, DevMessage, EventStore, Inserted,
    NewDelivery, NewVerification, StoreError, VerificationRecord,
};
use crate::{gateway::code::CodeDigests, model::Status};
use sqlx::{
    pool::PoolConnection,
    postgres::{PgListener, PgPoolOptions},
    Connection, PgConnection, PgPool, Postgres,
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
    /// The group commit of its checks: a right code's one statement, otherwise two.
    checks: Batches<Check>,
    budgets: Batches<Budget>,
    consumes: Batches<Consume>,
    /// Its hot reads, in batches (`pg_reads.rs`).
    finds: Batches<Find>,
}

impl PostgresStore {
    /// Connects to `url` and applies the migrations. 20 connections cover a busy instance
    /// on a small database server: the six batchers (five of writes, one of reads) keep
    /// one each, and the rest serve everything else.
    /// Acquiring one waits at most 5 s before failing closed.
    /// A connection is pinged before it is handed out only after it has been idle for
    /// [`PING_AFTER_IDLE`] (by default sqlx pings at every acquire: a round trip, and a
    /// wake-up of its backend, before each statement of a busy server).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(20)
            .acquire_timeout(Duration::from_secs(5))
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_AFTER_IDLE {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect(url)
            .await?;
        sqlx::migrate!("../migrations/postgres").run(&pool).await?;
        let events = Arc::new(Notify::new());
        tokio::spawn(notify_listeners(pool.clone(), Arc::downgrade(&events)));
        Ok(Self {
            creates: Batches::start(pool.clone()),
            settles: Batches::start(pool.clone()),
            checks: Batches::start(pool.clone()),
            budgets: Batches::start(pool.clone()),
            consumes: Batches::start(pool.clone()),
            finds: Batches::start(pool.clone()),
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
    ) -> Result<Inserted, StoreError> {
        let create = Create {
            new: new.clone(),
            delivery: delivery.cloned(),
        };
        self.creates.write(create).await
    }

    /// A delivery's outcome and its events are written in batches, each one statement
    /// (`pg_batch.rs`); a message for the dev inbox is kept first.
    async fn settle_in_batch(
        &self,
        delivery_id: i64,
        owner: &str,
        outcome: &DeliveryOutcome,
        kept: Option<&DevMessage>,
        events: &[(&str, &str)],
        now: i64,
    ) -> Result<bool, StoreError> {
        if let Some(kept) = kept {
            self.capture_message(kept).await?;
        }
        let settle = Settle {
            delivery_id,
            owner: owner.to_owned(),
            outcome: outcome.clone(),
            events: super::sql::events_json(events),
            now,
        };
        self.settles.write(settle).await
    }

    /// A right code for a verification still as the check read it is one statement in a
    /// batch that commits by itself ([`Check`], `pg_batch.rs`): the code is compared in
    /// constant time here with the digest the check read, and the statement counts the
    /// attempt and consumes the verification only if that digest and the attempts are
    /// still the verification's, so nothing is answered that was not committed. Any other
    /// check is two statements, each in a batch of its kind: the address's failure budget
    /// and the attempt ([`Budget`]), then, after the comparison with the digest it
    /// returned, either the consumption with its event and the budget given back
    /// ([`Consume`]) or the failure's event. There the attempt is counted and committed
    /// before the code is compared, so what happens after (a lost connection, a crash) can
    /// only leave an attempt counted, never a guess uncounted. The last attempt's failure
    /// locks the verification and records both events in a transaction of its own.
    async fn attempt_in_batch(
        &self,
        a: &Attempt,
        code: &CodeDigests,
    ) -> Result<AttemptOutcome, StoreError> {
        // A right code for a pending verification, compared with what the check read:
        // counted and consumed in one statement, if the verification is still as read.
        if !a.reconfirm && code.matches(&a.seen.code_hmac) {
            let detail = verified_detail(a.now - a.seen.created_at, a.seen.attempts);
            let checked = self
                .checks
                .write(Check {
                    now: a.now,
                    verification_id: a.verification_id,
                    key: a.budget_key.clone(),
                    window: a.budget_window,
                    max: a.budget_max,
                    attempts: i64::from(a.seen.attempts),
                    code_hmac: a.seen.code_hmac.clone(),
                    retire: a.retire,
                    tags: tags("verified", &detail),
                    detail: detail.to_string(),
                })
                .await?;
            match checked {
                Checked::Verified(attempts) => return Ok(AttemptOutcome::Verified { attempts }),
                Checked::OverBudget => return Ok(AttemptOutcome::OverBudget),
                Checked::Changed => {}
            }
        }
        let on = if a.reconfirm {
            Status::Verified
        } else {
            Status::Pending
        };
        let budgeted = self
            .budgets
            .write(Budget {
                now: a.now,
                verification_id: a.verification_id,
                on: on.as_str(),
                key: a.budget_key.clone(),
                window: a.budget_window,
                max: a.budget_max,
            })
            .await?;
        let counted = match (budgeted.spent, budgeted.counted) {
            (Some(spent), _) if spent > a.budget_max => return Ok(AttemptOutcome::OverBudget),
            (_, None) => return Ok(AttemptOutcome::NotOpen),
            (_, Some(counted)) => counted,
        };
        let (attempts, max_attempts) = (counted.attempts, counted.max_attempts);
        let left = max_attempts.saturating_sub(attempts);
        let right = code.matches(&counted.code_hmac);
        if !right && !a.reconfirm && left == 0 {
            return self.lock_after_last(a, attempts, max_attempts).await;
        }
        if right {
            let (kind, detail) = if a.reconfirm {
                (
                    "recheck",
                    serde_json::json!({ "verified": true, "attempts_left": left }),
                )
            } else {
                (
                    "verified",
                    verified_detail(a.now - counted.created_at, attempts.saturating_sub(1)),
                )
            };
            let consumed = self
                .consumes
                .write(Consume {
                    now: a.now,
                    verification_id: a.verification_id,
                    retire: a.retire,
                    reconfirm: a.reconfirm,
                    kind,
                    tags: tags(kind, &detail),
                    detail: detail.to_string(),
                    key: a.budget_key.clone(),
                    window: a.budget_window,
                })
                .await?;
            // False: another check consumed it between the two statements.
            return Ok(if consumed {
                AttemptOutcome::Verified { attempts }
            } else {
                AttemptOutcome::NotOpen
            });
        }
        // A kept verified record stays verified; its spent budget only stops re-checks.
        let (kind, detail) = if a.reconfirm {
            (
                "recheck",
                serde_json::json!({ "verified": false, "attempts_left": left }),
            )
        } else {
            ("attempt", serde_json::json!({ "attempts_left": left }))
        };
        EventStore::record_event(self, a.verification_id, kind, &detail.to_string(), a.now).await?;
        Ok(AttemptOutcome::Incorrect {
            attempts,
            max_attempts,
            locked: false,
        })
    }

    /// The last attempt's wrong code (counted already): its event, the verification
    /// locked and that event, in one transaction.
    async fn lock_after_last(
        &self,
        a: &Attempt,
        attempts: u32,
        max_attempts: u32,
    ) -> Result<AttemptOutcome, StoreError> {
        let (id, now) = (a.verification_id, a.now);
        let mut tx = self.pool.begin().await?;
        let detail = serde_json::json!({ "attempts_left": 0 }).to_string();
        insert_event(&mut tx, id, "attempt", &detail, now).await?;
        let locked = sqlx::query(FINISH)
            .bind(Status::Locked.as_str())
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        if locked {
            insert_event(&mut tx, id, "locked", "{}", now).await?;
        }
        tx.commit().await?;
        Ok(AttemptOutcome::Incorrect {
            attempts,
            max_attempts,
            locked,
        })
    }

    /// Every read goes through the pool.
    fn readers(&self) -> Option<&Readers> {
        None
    }

    /// A hot read (a check's, a fresh page's), in the next batch of reads (`pg_reads.rs`).
    async fn find_hot(
        &self,
        app_id: i64,
        public_id: &str,
    ) -> Result<Option<VerificationRecord>, StoreError> {
        self.finds
            .write(Find {
                app_id,
                public_id: public_id.to_owned(),
            })
            .await
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

    /// Whether a statement whose plan turns on a table's size is kept prepared. PostgreSQL
    /// settles on a generic plan for a prepared statement after five executions and
    /// keeps it until the table is next analyzed; one settled while `delivery` or `event`
    /// was nearly empty (a new database) scanned the whole table at every execution (in
    /// the bench: each count of sends read every outbox row, 294 times in 3 s). Those
    /// statements are planned each time they run instead, for their values and the
    /// table as it is.
    const KEEP_PLANS: bool = false;

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
        // The least unfolded transaction id, one entry of `event_txn` (an `EXISTS` over
        // the range let the planner pick a sequential scan, which reaches the newest
        // events last, while the table had no statistics).
        let pending: bool = sqlx::query_scalar(
            "SELECT COALESCE((SELECT min(txn) FROM event WHERE txn >= otpgate_events_folded()) \
             < pg_snapshot_xmin(pg_current_snapshot())::text::bigint, false)",
        )
        .persistent(Self::KEEP_PLANS)
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
            .persistent(Self::KEEP_PLANS)
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
/// a third of their throughput. Raises that come while a notification is on its way, or
/// within [`NOTIFY_SPACING`] of it, fold into one more: at most one notification per
/// spacing, each a transaction with a WAL flush of its own and a read of the new events
/// by every instance. Stops when the store is gone.
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
            tokio::time::sleep(NOTIFY_SPACING).await;
        }
    }
}

/// The least time between two notifications of new events. Under load every batch's
/// commit raises one; spaced, each read takes the events of several commits, and a live
/// page hears of a change at most this much later.
const NOTIFY_SPACING: Duration = Duration::from_millis(5);

sql_store!(
    PostgresStore,
    Postgres,
    "FOR UPDATE SKIP LOCKED",
    "jsonb_array_elements_text(e.tags::jsonb) AS t(value)"
);
