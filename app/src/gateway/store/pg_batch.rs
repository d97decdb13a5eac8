//! PostgreSQL's group commit for its hot writes: creates ([`Create`]), a right code's
//! check as one statement ([`Check`]), otherwise a check's two statements ([`Budget`],
//! then [`Consume`] for a right code), and the outbox's outcomes ([`Settle`]). Each kind
//! has a queue; a batcher takes all that are queued, up to [`MOST`], and writes them in
//! one statement over arrays bound once (`unnest`, with data-modifying `WITH` for the rows
//! each write adds to other tables), committed by itself: one round trip, one plan, one
//! WAL flush for the lot, where each was a statement and a commit of its own. One batch
//! of a kind runs at a time ([`IN_FLIGHT`]), on a connection the batcher keeps
//! ([`Held`]); writes that come meanwhile wait in the queue and make the next batch, so
//! the batches grow with the load and a lone write goes at once. Each caller is answered
//! after the commit that holds its write.
//!
//! A batch cannot fail for one write's sake: an id (or inbound key) already taken is
//! skipped (`ON CONFLICT DO NOTHING`) and answered [`StoreError::Conflict`], exactly as
//! the unique index answers one statement; two writes with one key (a create's id, a
//! check's budget bucket) never share a batch (the later waits for the next). Whatever
//! else fails a batch (a deadlock, an app deleted meanwhile, a lost connection) writes
//! none of it, and each of its writes is then written again alone, so each gets its own
//! answer.

use super::{
    deliveries::AppForSending,
    sql::{counter, verification_record, INSERT_VERIFICATION_COLUMNS, VERIFICATION_COLUMNS},
    stats::{country_prefix, tags},
    ClaimedDelivery, DeliveryOutcome, Inserted, Lease, NewDelivery, NewVerification, SendCount,
    StoreError, VerificationRecord,
};
use crate::model::Status;
use sqlx::{
    pool::PoolConnection, postgres::PgRow, Connection, PgConnection, PgPool, Postgres, Row,
};
use std::{
    collections::{HashMap, HashSet, VecDeque},
    future::Future,
    sync::LazyLock,
    time::{Duration, Instant},
};
use tokio::sync::{mpsc, oneshot};

/// The most creates in one batch.
const MOST: usize = 256;

/// Batches of one kind written at once, each on a connection of its own. One: the
/// writes that come while a batch commits make the next one. On the bench's machine more
/// made smaller batches and lower rates (creates 3,647 / 3,366 / 2,814 / 2,529 a second
/// and checks 2,443 / 1,942 / 1,271 / 993 with 1, 2, 4 and 8).
const IN_FLIGHT: usize = 1;

/// A kind of write PostgreSQL takes in batches: what one write is, what it answers, and
/// how a batch of them is written.
pub(super) trait Batched: Send + Sync + 'static {
    type In: Send + Sync + 'static;
    type Out: Send + 'static;
    /// A batch of reads (`pg_reads.rs`): safe to make again on another connection when
    /// its kept one turns out lost, and counted apart from the writes' batches.
    const READ_ONLY: bool = false;
    /// Orders a batch (parallel batches take rows in one order, so they never wait on each
    /// other in a circle); two writes with one key never share a batch.
    fn key(input: &Self::In) -> (i64, String);
    /// Writes (or reads) `inputs` in one statement that commits by itself; answers each,
    /// in order.
    fn write_all(
        conn: &mut PgConnection,
        inputs: &[&Self::In],
    ) -> impl Future<Output = Result<Vec<Result<Self::Out, StoreError>>, StoreError>> + Send;
}

/// One write waiting for its batch.
struct Job<B: Batched> {
    input: B::In,
    answer: oneshot::Sender<Result<B::Out, StoreError>>,
}

/// The queue of an instance's writes of one kind; the batcher stops when the last handle
/// is gone.
pub(super) struct Batches<B: Batched> {
    queue: mpsc::UnboundedSender<Job<B>>,
}

impl<B: Batched> Clone for Batches<B> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
        }
    }
}

impl<B: Batched> std::fmt::Debug for Batches<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batches").finish_non_exhaustive()
    }
}

impl<B: Batched> Batches<B> {
    /// Starts the batcher on `pool`.
    pub(super) fn start(pool: PgPool) -> Self {
        let (queue, jobs) = mpsc::unbounded_channel();
        tokio::spawn(batcher::<B>(pool, jobs));
        Self { queue }
    }

    /// Writes `input` in the next batch; answers after the commit that holds it.
    pub(super) async fn write(&self, input: B::In) -> Result<B::Out, StoreError> {
        let (answer, answered) = oneshot::channel();
        let closed = || StoreError::Database(sqlx::Error::PoolClosed);
        self.queue
            .send(Job { input, answer })
            .map_err(|_| closed())?;
        answered.await.map_err(|_| closed())?
    }
}

/// Takes the queued writes in batches and writes each batch on a task of its own, at
/// most [`IN_FLIGHT`] at a time, each on a connection of its slot ([`Held`]).
async fn batcher<B: Batched>(pool: PgPool, mut jobs: mpsc::UnboundedReceiver<Job<B>>) {
    let (free, mut slots) = mpsc::channel::<Held>(IN_FLIGHT);
    for _ in 0..IN_FLIGHT {
        free.try_send(Held::default()).expect("a free slot each");
    }
    // Writes held back from a batch that had their key already: first in the next.
    let mut held: VecDeque<Job<B>> = VecDeque::new();
    loop {
        let first = match held.pop_front() {
            Some(job) => job,
            None => match jobs.recv().await {
                Some(job) => job,
                None => return,
            },
        };
        let Some(slot) = slots.recv().await else {
            return;
        };
        // Everything queued while the slot was awaited joins this batch.
        let mut keys = HashSet::from([B::key(&first.input)]);
        let mut batch = vec![first];
        let mut later = VecDeque::new();
        while batch.len() < MOST {
            let next = match held.pop_front() {
                Some(job) => job,
                None => match jobs.try_recv() {
                    Ok(job) => job,
                    Err(_) => break,
                },
            };
            if keys.insert(B::key(&next.input)) {
                batch.push(next);
            } else {
                later.push_back(next);
            }
        }
        later.extend(held.drain(..));
        held = later;
        let (pool, free) = (pool.clone(), free.clone());
        tokio::spawn(async move {
            let mut lent = Lent {
                held: Some(slot),
                free,
            };
            let slot = lent.held.as_mut().expect("lent with its slot");
            write_batch::<B>(&pool, slot, batch).await;
        });
    }
}

/// A slot lent to a batch's task, given back when the task ends, even by a panic: the
/// batcher waits for a free slot before its next batch. After a panic it goes back without
/// its connection, whose state is then unknown.
struct Lent {
    held: Option<Held>,
    free: mpsc::Sender<Held>,
}

impl Drop for Lent {
    fn drop(&mut self) {
        let held = match self.held.take() {
            Some(held) if !std::thread::panicking() => held,
            _ => Held::default(),
        };
        // Room for every slot: each is either lent or in the channel.
        let _ = self.free.try_send(held);
    }
}

/// A kept or pooled connection is pinged before use once it has been idle this long: a
/// connection the database dropped meanwhile (a restart, an idle timeout) is found then,
/// and replaced, instead of failing its statement.
pub(super) const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// A connection taken from the pool is kept by a batcher (of writes or of reads) at most
/// this long, then given back, so that the pool's `max_lifetime` (sqlx's default, the same 30
/// minutes, checked as a connection is given back) retires kept connections too.
pub(super) const KEEP_FOR: Duration = Duration::from_secs(30 * 60);

/// A batch slot's connection, kept from one batch to the next. Handing a connection back
/// to sqlx's pool and taking it again costs two round trips (a ping on each), each a
/// wake-up of its PostgreSQL backend; a batch's statement is one. Dropped when the
/// database could not be reached through it, so the next batch takes a new one.
struct Held {
    conn: Option<PoolConnection<Postgres>>,
    used: Instant,
    /// When `conn` was taken from the pool.
    taken: Instant,
}

impl Default for Held {
    fn default() -> Self {
        Self {
            conn: None,
            used: Instant::now(),
            taken: Instant::now(),
        }
    }
}

impl Held {
    /// Writes `inputs` on the kept connection (pinged first if it has been idle for
    /// [`PING_AFTER_IDLE`]), or on one taken from the pool (in its place once it has been
    /// kept for [`KEEP_FOR`]).
    async fn write_all<B: Batched>(
        &mut self,
        pool: &PgPool,
        inputs: &[&B::In],
    ) -> Result<Vec<Result<B::Out, StoreError>>, StoreError> {
        let mut kept = self.conn.take();
        if self.taken.elapsed() >= KEEP_FOR {
            kept = None;
        }
        if let Some(conn) = &mut kept {
            if self.used.elapsed() >= PING_AFTER_IDLE && conn.ping().await.is_err() {
                kept = None;
            }
        }
        let was_kept = kept.is_some();
        let conn = match kept {
            Some(conn) => conn,
            None => self.take(pool).await?,
        };
        let mut written = B::write_all(self.conn.insert(conn), inputs).await;
        if B::READ_ONLY && was_kept && matches!(&written, Err(e) if unavailable(e)) {
            // The database ended the kept connection within `PING_AFTER_IDLE` of its last
            // use: reads are made again on a new one.
            self.conn = None;
            let conn = self.take(pool).await?;
            written = B::write_all(self.conn.insert(conn), inputs).await;
        }
        self.used = Instant::now();
        if matches!(&written, Err(e) if unavailable(e)) {
            self.conn = None;
        }
        written
    }

    /// A connection from the pool, to be kept from now.
    async fn take(&mut self, pool: &PgPool) -> Result<PoolConnection<Postgres>, StoreError> {
        let conn = pool.acquire().await?;
        self.taken = Instant::now();
        Ok(conn)
    }
}

/// Writes `batch` in one statement on `slot`'s connection and answers each write; if the
/// statement fails, each write is written again alone.
async fn write_batch<B: Batched>(pool: &PgPool, slot: &mut Held, mut batch: Vec<Job<B>>) {
    batch.sort_by_cached_key(|job| B::key(&job.input));
    let started = Instant::now();
    let inputs: Vec<&B::In> = batch.iter().map(|job| &job.input).collect();
    let written = slot.write_all::<B>(pool, &inputs).await;
    if B::READ_ONLY {
        crate::gateway::metrics::read_batch(batch.len());
    } else {
        crate::gateway::metrics::batch_committed(batch.len(), started.elapsed(), started.elapsed());
    }
    match written {
        Ok(answers) if answers.len() == batch.len() => {
            for (job, answer) in batch.into_iter().zip(answers) {
                let _ = job.answer.send(answer);
            }
        }
        Ok(_) => {
            for job in batch {
                let _ = job.answer.send(Err(StoreError::Corrupt("batch answers")));
            }
        }
        Err(e) if batch.len() == 1 => {
            let job = batch.pop().expect("one job");
            let _ = job.answer.send(Err(e));
        }
        Err(e) if unavailable(&e) => {
            // No write of the batch is to blame when the database cannot be reached:
            // each is answered at once (the caller says 503) instead of waiting for a
            // connection again, alone, behind the others.
            for job in batch {
                let _ = job.answer.send(Err(same_failure(&e)));
            }
        }
        Err(e) => {
            tracing::debug!(error = ?e, writes = batch.len(), "write batch failed; writing each alone");
            let mut down = None;
            for job in batch {
                let answer = match &down {
                    Some(e) => Err(same_failure(e)),
                    None => match slot.write_all::<B>(pool, &[&job.input]).await {
                        Ok(mut answers) if answers.len() == 1 => answers.pop().expect("one answer"),
                        Ok(_) => Err(StoreError::Corrupt("batch answers")),
                        Err(e) => {
                            if unavailable(&e) {
                                down = Some(same_failure(&e));
                            }
                            Err(e)
                        }
                    },
                };
                let _ = job.answer.send(answer);
            }
        }
    }
}

/// Whether `e` says the database could not be reached (no connection within the pool's
/// wait, a connection lost, the server shutting down or starting), not that a write was
/// refused.
fn unavailable(e: &StoreError) -> bool {
    matches!(e, StoreError::Database(e) if unavailable_sqlx(e))
}

/// As [`unavailable`], for sqlx's own error.
pub(super) fn unavailable_sqlx(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => true,
        // Class 08 (connection exception) and 57P01–57P03 (shutting down, crashed,
        // starting up).
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|c| c.starts_with("08") || matches!(&*c, "57P01" | "57P02" | "57P03")),
        _ => false,
    }
}

/// The failure a batch's other writes are answered with when the database is out of
/// reach: the pool's timeout, as each of them would have met.
fn same_failure(e: &StoreError) -> StoreError {
    match e {
        StoreError::Database(sqlx::Error::PoolClosed) => {
            StoreError::Database(sqlx::Error::PoolClosed)
        }
        _ => StoreError::Database(sqlx::Error::PoolTimedOut),
    }
}

/// A create: the verification and its outbox row, if it sends.
pub(super) struct Create {
    pub(super) new: NewVerification,
    pub(super) delivery: Option<NewDelivery>,
}

impl Create {
    /// The lease its outbox row is written with, if any.
    fn lease(&self) -> Option<&Lease> {
        self.delivery.as_ref().and_then(|d| d.lease.as_ref())
    }

    /// The send cap's bucket its leased message counts against, if it asks for one.
    fn count(&self) -> Option<&SendCount> {
        self.lease().and_then(|l| l.count.as_ref())
    }
}

impl Batched for Create {
    type In = Create;
    type Out = Inserted;

    fn key(create: &Create) -> (i64, String) {
        (create.new.app_id, create.new.public_id.clone())
    }

    /// A create missing from the rows written had its id (or inbound key) taken.
    async fn write_all(
        conn: &mut PgConnection,
        creates: &[&Create],
    ) -> Result<Vec<Result<Inserted, StoreError>>, StoreError> {
        let mut written = match insert_all(conn, creates, true).await {
            // A count that fails leaves the messages to the worker, which counts each
            // before it is sent, as it counts a claimed row: the creates go on without it.
            Err(StoreError::Database(sqlx::Error::Database(e)))
                if creates.iter().any(|c| c.count().is_some()) =>
            {
                tracing::warn!(error = %e, "send caps not counted with their creates; the worker counts them");
                insert_all(conn, creates, false).await?
            }
            written => written?,
        };
        Ok(creates
            .iter()
            .map(|c| {
                let (record, leased) = written.remove(&Self::key(c)).ok_or(StoreError::Conflict)?;
                let leased = match (leased, &c.delivery) {
                    (Some((delivery_id, app, sends)), Some(delivery)) => {
                        Some(ClaimedDelivery::leased_at_insert(
                            delivery_id,
                            delivery,
                            &record,
                            app,
                            sends,
                        ))
                    }
                    _ => None,
                };
                Ok(Inserted { record, leased })
            })
            .collect())
    }
}

/// The statement: the creates as parallel arrays (one row each), the verifications
/// inserted in the arrays' order skipping any whose id or inbound key is taken, then the
/// `created` event and the outbox row of each one inserted, and each leased row's message
/// counted against its send cap (`HIT`, one upsert per bucket in key order; the k-th of
/// a batch's messages to one bucket is answered as its k-th hit). Counted here, a handed
/// message needs no write of the worker's before it is sent: that count was a statement
/// and a commit of its own for every one or two messages. A count key is bound only for a
/// leased outbox row (`Create::count`).
static INSERT_ALL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH i AS (SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], \
           $5::text[], $6::text[], $7::text[], $8::bytea[], $9::bigint[], $10::text[], \
           $11::bigint[], $12::bigint[], $13::bigint[], $14::text[], $15::bigint[], \
           $16::bigint[], $17::bytea[], $18::text[], $19::text[], $20::text[], $21::bytea[], \
           $22::text[], $23::bytea[], $24::text[], $25::text[], $26::bool[], $28::text[], \
           $29::bigint[], $30::text[], $31::text[], $32::bigint[]) WITH ORDINALITY \
           AS i(app_id, public_id, provider, channel, address, channel_description, \
             address_description, code_hmac, code_length, code_alphabet, max_attempts, sends, \
             max_sends, extra, now, expires_at, code_sealed, redirect_url, state, locale, \
             inbound_key, country, address_key, route, to_address, queued, lease_owner, \
             lease_until, intent, count_key, count_window, n)), \
         v AS (INSERT INTO verification ({INSERT_VERIFICATION_COLUMNS}) \
           SELECT app_id, public_id, provider, channel, address, channel_description, \
             address_description, code_hmac, code_length, code_alphabet, max_attempts, sends, \
             max_sends, extra, now, now, expires_at, code_sealed, \
             CASE WHEN sends > 0 THEN now ELSE NULL END, redirect_url, state, locale, \
             inbound_key, country, address_key, intent \
           FROM i ORDER BY n \
           ON CONFLICT DO NOTHING \
           RETURNING {VERIFICATION_COLUMNS}, country), \
         e AS (INSERT INTO event (verification_id, kind, detail, created_at, app_id, channel, \
             provider, country, tags) \
           SELECT verification_id, 'created', '{{}}', created_at, app_id, channel, provider, \
             country, $27 FROM v), \
         d AS (INSERT INTO delivery (verification_id, route, address, next_attempt_at, \
             created_at, updated_at, status, lease_owner, lease_until, attempts, send_counted) \
           SELECT v.verification_id, i.route, i.to_address, v.created_at, v.created_at, \
             v.created_at, CASE WHEN i.lease_owner IS NULL THEN 'queued' ELSE 'sending' END, \
             i.lease_owner, i.lease_until, CASE WHEN i.lease_owner IS NULL THEN 0 ELSE 1 END, \
             i.count_key IS NOT NULL \
           FROM v JOIN i ON i.app_id = v.app_id AND i.public_id = v.public_id \
           WHERE i.queued \
           RETURNING delivery_id, verification_id, lease_owner), \
         k AS (SELECT v.verification_id, i.count_key, i.count_window, \
             row_number() OVER (PARTITION BY i.count_key ORDER BY i.n) AS nth, \
             count(*) OVER (PARTITION BY i.count_key) AS named \
           FROM v JOIN i ON i.app_id = v.app_id AND i.public_id = v.public_id \
           WHERE i.count_key IS NOT NULL), \
         c AS (INSERT INTO rate_bucket (bucket_key, window_start, hits) \
           SELECT count_key, max(count_window), count(*) FROM k \
           GROUP BY count_key ORDER BY count_key \
           ON CONFLICT (bucket_key) DO UPDATE SET \
             hits = CASE WHEN rate_bucket.window_start = excluded.window_start \
               THEN rate_bucket.hits + excluded.hits ELSE excluded.hits END, \
             window_start = excluded.window_start \
           RETURNING bucket_key, hits) \
         SELECT v.*, d.delivery_id AS leased_delivery_id, a.namespace AS app_namespace, \
           a.name AS app_name, a.providers_rev AS app_providers_rev, \
           a.templates_rev AS app_templates_rev, c.hits - k.named + k.nth AS send_count \
         FROM v LEFT JOIN d ON d.verification_id = v.verification_id \
           AND d.lease_owner IS NOT NULL \
         LEFT JOIN app a ON a.app_id = v.app_id AND d.delivery_id IS NOT NULL \
         LEFT JOIN k ON k.verification_id = v.verification_id \
         LEFT JOIN c ON c.bucket_key = k.count_key"
    )
});

/// A verification written, with its outbox row's id, its app and its send-cap count when
/// the row was leased at once.
type Written = (
    VerificationRecord,
    Option<(i64, AppForSending, Option<i64>)>,
);

/// Writes `jobs` with [`INSERT_ALL`], committed by itself, their send caps counted if
/// `counted`; answers the verifications written, by app and public id.
async fn insert_all(
    conn: &mut PgConnection,
    jobs: &[&Create],
    counted: bool,
) -> Result<HashMap<(i64, String), Written>, StoreError> {
    // Each column borrowed from the creates; only what is computed here is owned.
    let text = |f: fn(&Create) -> &str| jobs.iter().map(|j| f(j)).collect::<Vec<&str>>();
    let number = |f: fn(&Create) -> i64| jobs.iter().map(|j| f(j)).collect::<Vec<i64>>();
    let bytes =
        |f: fn(&Create) -> Option<&[u8]>| jobs.iter().map(|j| f(j)).collect::<Vec<Option<&[u8]>>>();
    let route = |d: &NewDelivery| serde_json::to_string(&d.route).expect("strings serialise");
    let rows = sqlx::query(&INSERT_ALL)
        .bind(number(|j| j.new.app_id))
        .bind(text(|j| &j.new.public_id))
        .bind(text(|j| &j.new.provider))
        .bind(text(|j| &j.new.channel))
        .bind(text(|j| &j.new.address))
        .bind(text(|j| &j.new.channel_description))
        .bind(text(|j| &j.new.address_description))
        .bind(bytes(|j| Some(&j.new.code_hmac)))
        .bind(number(|j| i64::from(j.new.code_length)))
        .bind(text(|j| &j.new.code_alphabet))
        .bind(number(|j| i64::from(j.new.max_attempts)))
        .bind(number(|j| i64::from(j.new.sends)))
        .bind(number(|j| i64::from(j.new.max_sends)))
        .bind(text(|j| &j.new.extra))
        .bind(number(|j| j.new.now))
        .bind(number(|j| j.new.expires_at))
        .bind(bytes(|j| Some(&j.new.code_sealed)))
        .bind(text(|j| &j.new.redirect_url))
        .bind(text(|j| &j.new.state))
        .bind(text(|j| &j.new.locale))
        .bind(bytes(|j| j.new.inbound_key.as_deref()))
        .bind(
            jobs.iter()
                .map(|j| country_prefix(&j.new.address))
                .collect::<Vec<String>>(),
        )
        .bind(bytes(|j| j.new.address_key.as_deref()))
        .bind(
            jobs.iter()
                .map(|j| j.delivery.as_ref().map(route).unwrap_or_default())
                .collect::<Vec<String>>(),
        )
        .bind(text(|j| j.delivery.as_ref().map_or("", |d| &d.address)))
        .bind(
            jobs.iter()
                .map(|j| j.delivery.is_some())
                .collect::<Vec<bool>>(),
        )
        .bind(tags("created", &serde_json::json!({})))
        .bind(
            jobs.iter()
                .map(|j| j.lease().map(|l| l.owner.as_str()))
                .collect::<Vec<Option<&str>>>(),
        )
        .bind(
            jobs.iter()
                .map(|j| j.lease().map(|l| l.until))
                .collect::<Vec<Option<i64>>>(),
        )
        .bind(text(|j| &j.new.intent))
        .bind(
            jobs.iter()
                .map(|j| j.count().filter(|_| counted).map(|c| c.key.as_str()))
                .collect::<Vec<Option<&str>>>(),
        )
        .bind(
            jobs.iter()
                .map(|j| j.count().filter(|_| counted).map(|c| c.window_start))
                .collect::<Vec<Option<i64>>>(),
        )
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|row: &PgRow| {
            let record = verification_record!(row, try_get)?;
            let leased = match row.try_get::<Option<i64>, _>("leased_delivery_id")? {
                Some(delivery_id) => Some((
                    delivery_id,
                    (
                        row.try_get("app_namespace")?,
                        row.try_get("app_name")?,
                        row.try_get("app_providers_rev")?,
                        row.try_get("app_templates_rev")?,
                    ),
                    row.try_get("send_count")?,
                )),
                None => None,
            };
            Ok(((record.app_id, record.public_id.clone()), (record, leased)))
        })
        .collect()
}

/// How a leased outbox row ends for now, with the events it records (a JSON array from
/// `sql::events_json`).
pub(super) struct Settle {
    pub(super) delivery_id: i64,
    pub(super) owner: String,
    pub(super) outcome: DeliveryOutcome,
    pub(super) events: String,
    pub(super) now: i64,
}

impl Batched for Settle {
    type In = Settle;
    /// Whether the row was still leased to its owner, and so settled.
    type Out = bool;

    fn key(settle: &Settle) -> (i64, String) {
        (settle.delivery_id, String::new())
    }

    async fn write_all(
        conn: &mut PgConnection,
        settles: &[&Settle],
    ) -> Result<Vec<Result<bool, StoreError>>, StoreError> {
        let mut columns = SettleColumns::default();
        for s in settles {
            columns.push(s);
        }
        let settled: HashSet<i64> = sqlx::query_scalar(SETTLE_ALL)
            .bind(columns.delivery_id)
            .bind(columns.owner)
            .bind(columns.status)
            .bind(columns.provider)
            .bind(columns.message_id)
            .bind(columns.route_index)
            .bind(columns.next_attempt_at)
            .bind(columns.error)
            .bind(columns.now)
            .bind(columns.events)
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .collect();
        Ok(settles
            .iter()
            .map(|s| Ok(settled.contains(&s.delivery_id)))
            .collect())
    }
}

/// The settles of a batch as the arrays `SETTLE_ALL` takes, borrowed from them: each
/// outcome as the row's new status and the values that status sets (the others unused).
#[derive(Default)]
struct SettleColumns<'a> {
    delivery_id: Vec<i64>,
    owner: Vec<&'a str>,
    status: Vec<&'a str>,
    provider: Vec<&'a str>,
    message_id: Vec<Option<&'a str>>,
    route_index: Vec<i64>,
    next_attempt_at: Vec<i64>,
    error: Vec<&'a str>,
    now: Vec<i64>,
    events: Vec<&'a str>,
}

impl<'a> SettleColumns<'a> {
    fn push(&mut self, s: &'a Settle) {
        let (status, provider, message_id, route_index, next_attempt_at, error) = match &s.outcome {
            DeliveryOutcome::Sent {
                provider,
                message_id,
            } => ("sent", provider.as_str(), message_id.as_deref(), 0, 0, ""),
            DeliveryOutcome::Retry {
                route_index,
                next_attempt_at,
                error,
            } => (
                "queued",
                "",
                None,
                i64::from(*route_index),
                *next_attempt_at,
                error.as_str(),
            ),
            DeliveryOutcome::Closed { status, error } => (*status, "", None, 0, 0, error.as_str()),
        };
        self.delivery_id.push(s.delivery_id);
        self.owner.push(&s.owner);
        self.status.push(status);
        self.provider.push(provider);
        self.message_id.push(message_id);
        self.route_index.push(route_index);
        self.next_attempt_at.push(next_attempt_at);
        self.error.push(error);
        self.now.push(s.now);
        self.events.push(&s.events);
    }
}

/// The settles as parallel arrays; each row still leased to its owner takes its outcome
/// (what `DeliveryOutcome::settle_sql` writes for one), and its events are recorded with
/// what they are counted under (`sql::EVENT`), in the batch's order. Answers the rows
/// settled.
const SETTLE_ALL: &str = "WITH i AS (SELECT * FROM unnest($1::bigint[], $2::text[], \
       $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::text[], \
       $9::bigint[], $10::text[]) WITH ORDINALITY \
       AS i(delivery_id, owner, status, provider, message_id, route_index, next_attempt_at, \
         error, now, events, n)), \
     s AS (UPDATE delivery d SET status = i.status, \
         provider = CASE WHEN i.status = 'sent' THEN i.provider ELSE d.provider END, \
         provider_message_id = CASE WHEN i.status = 'sent' THEN i.message_id \
           ELSE d.provider_message_id END, \
         route_index = CASE WHEN i.status = 'queued' THEN i.route_index ELSE d.route_index END, \
         next_attempt_at = CASE WHEN i.status = 'queued' THEN i.next_attempt_at \
           ELSE d.next_attempt_at END, \
         sent_at = CASE WHEN i.status = 'sent' THEN i.now ELSE d.sent_at END, \
         last_error = i.error, lease_owner = NULL, lease_until = NULL, updated_at = i.now \
       FROM i WHERE d.delivery_id = i.delivery_id AND d.lease_owner = i.owner \
         AND d.status = 'sending' \
       RETURNING d.delivery_id, d.verification_id), \
     e AS (INSERT INTO event (verification_id, kind, detail, created_at, app_id, channel, \
         provider, country, tags) \
       SELECT s.verification_id, x.e->>'kind', x.e->>'detail', i.now, v.app_id, v.channel, \
         COALESCE(x.e->>'provider', v.provider), v.country, x.e->>'tags' \
       FROM s JOIN i ON i.delivery_id = s.delivery_id \
       JOIN verification v ON v.verification_id = s.verification_id \
       CROSS JOIN jsonb_array_elements(i.events::jsonb) WITH ORDINALITY AS x(e, k) \
       ORDER BY i.n, x.k) \
     SELECT delivery_id FROM s";

/// A check's first statement: if the verification is open for an attempt (status `on`,
/// unexpired, not retired, attempts left), one unit of the address's failure budget
/// reserved (a bucket stops at `max + 1`, so guesses refused past it change nothing) and,
/// unless that spends more than `max`, the attempt counted. Committed before the code is
/// compared, so nothing after can leave a guess uncounted.
pub(super) struct Budget {
    pub(super) now: i64,
    pub(super) verification_id: i64,
    pub(super) on: &'static str,
    pub(super) key: String,
    pub(super) window: i64,
    pub(super) max: i64,
}

/// What [`Budget`] found: the bucket's hits after it (`None`: the verification was not
/// open), and the counted attempt (`None`: none was counted).
#[derive(Debug)]
pub(super) struct Budgeted {
    pub(super) spent: Option<i64>,
    pub(super) counted: Option<Counted>,
}

/// The verification after its attempt was counted.
#[derive(Debug)]
pub(super) struct Counted {
    pub(super) attempts: u32,
    pub(super) max_attempts: u32,
    pub(super) code_hmac: Vec<u8>,
    pub(super) created_at: i64,
}

impl Batched for Budget {
    type In = Budget;
    type Out = Budgeted;

    /// One check a bucket per batch: a statement may not raise a row twice (and a
    /// verification's checks share its address's bucket).
    fn key(budget: &Budget) -> (i64, String) {
        (0, budget.key.clone())
    }

    async fn write_all(
        conn: &mut PgConnection,
        budgets: &[&Budget],
    ) -> Result<Vec<Result<Budgeted, StoreError>>, StoreError> {
        let each = |f: &dyn Fn(&Budget) -> i64| budgets.iter().map(|b| f(b)).collect::<Vec<i64>>();
        let rows = sqlx::query(BUDGET_ALL)
            .bind(each(&|b| b.now))
            .bind(each(&|b| b.verification_id))
            .bind(budgets.iter().map(|b| b.on).collect::<Vec<&str>>())
            .bind(
                budgets
                    .iter()
                    .map(|b| b.key.as_str())
                    .collect::<Vec<&str>>(),
            )
            .bind(each(&|b| b.window))
            .bind(each(&|b| b.max))
            .fetch_all(&mut *conn)
            .await?;
        Ok(rows
            .iter()
            .map(|row| {
                let attempts: Option<i64> = row.try_get("attempts")?;
                let counted = match attempts {
                    None => None,
                    Some(attempts) => Some(Counted {
                        attempts: counter(attempts, "attempts")?,
                        max_attempts: counter(row.try_get("max_attempts")?, "max_attempts")?,
                        code_hmac: row.try_get("code_hmac")?,
                        created_at: row.try_get("created_at")?,
                    }),
                };
                Ok(Budgeted {
                    spent: row.try_get("spent")?,
                    counted,
                })
            })
            .collect())
    }
}

/// [`Budget`] for a batch: parallel arrays, each bucket raised in key order (so parallel
/// batches lock buckets in one order, each before its verification, as the consumption
/// does), one row per check in the arrays' order.
const BUDGET_ALL: &str = "WITH i AS (SELECT * FROM unnest($1::bigint[], $2::bigint[], \
       $3::text[], $4::text[], $5::bigint[], $6::bigint[]) WITH ORDINALITY \
       AS i(now, verification_id, status, bucket_key, window_start, most, n)), \
     o AS (SELECT i.* FROM i JOIN verification v ON v.verification_id = i.verification_id \
       AND v.status = i.status AND v.expires_at > i.now AND v.retired_at IS NULL \
       AND v.attempts < v.max_attempts), \
     b AS (INSERT INTO rate_bucket (bucket_key, window_start, hits) \
       SELECT bucket_key, window_start, 1 FROM o ORDER BY bucket_key \
       ON CONFLICT (bucket_key) DO UPDATE SET \
         hits = CASE WHEN rate_bucket.window_start = excluded.window_start \
           THEN LEAST(rate_bucket.hits + excluded.hits, \
             (SELECT i.most FROM i WHERE i.bucket_key = excluded.bucket_key) + 1) \
           ELSE excluded.hits END, \
         window_start = excluded.window_start \
       RETURNING bucket_key, hits), \
     u AS (UPDATE verification v SET attempts = v.attempts + 1, updated_at = o.now \
       FROM o JOIN b ON b.bucket_key = o.bucket_key \
       WHERE v.verification_id = o.verification_id AND v.status = o.status \
         AND v.expires_at > o.now AND v.retired_at IS NULL AND v.attempts < v.max_attempts \
         AND b.hits <= o.most \
       RETURNING v.verification_id, v.attempts, v.max_attempts, v.code_hmac, v.created_at) \
     SELECT b.hits AS spent, u.attempts, u.max_attempts, u.code_hmac, u.created_at \
     FROM i LEFT JOIN b ON b.bucket_key = i.bucket_key \
     LEFT JOIN u ON u.verification_id = i.verification_id ORDER BY i.n";

/// A right code's second statement: the budget unit [`Budget`] reserved given back (a
/// right code spends nothing), then the verification consumed (or, `reconfirm`, a kept
/// verified record confirmed again; retired when `retire`) with its event.
pub(super) struct Consume {
    pub(super) now: i64,
    pub(super) verification_id: i64,
    pub(super) retire: bool,
    pub(super) reconfirm: bool,
    pub(super) kind: &'static str,
    pub(super) detail: String,
    pub(super) tags: Option<String>,
    pub(super) key: String,
    pub(super) window: i64,
}

impl Batched for Consume {
    type In = Consume;
    /// Whether this check consumed it (another may have, between the two statements).
    type Out = bool;

    fn key(consume: &Consume) -> (i64, String) {
        (0, consume.key.clone())
    }

    async fn write_all(
        conn: &mut PgConnection,
        consumes: &[&Consume],
    ) -> Result<Vec<Result<bool, StoreError>>, StoreError> {
        let flag =
            |f: &dyn Fn(&Consume) -> bool| consumes.iter().map(|c| f(c)).collect::<Vec<bool>>();
        let consumed: HashSet<i64> = sqlx::query_scalar(CONSUME_ALL)
            .bind(consumes.iter().map(|c| c.now).collect::<Vec<i64>>())
            .bind(
                consumes
                    .iter()
                    .map(|c| c.verification_id)
                    .collect::<Vec<i64>>(),
            )
            .bind(flag(&|c| c.retire))
            .bind(flag(&|c| c.reconfirm))
            .bind(consumes.iter().map(|c| c.kind).collect::<Vec<&str>>())
            .bind(
                consumes
                    .iter()
                    .map(|c| c.detail.as_str())
                    .collect::<Vec<&str>>(),
            )
            .bind(
                consumes
                    .iter()
                    .map(|c| c.tags.as_deref())
                    .collect::<Vec<Option<&str>>>(),
            )
            .bind(
                consumes
                    .iter()
                    .map(|c| c.key.as_str())
                    .collect::<Vec<&str>>(),
            )
            .bind(consumes.iter().map(|c| c.window).collect::<Vec<i64>>())
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .collect();
        Ok(consumes
            .iter()
            .map(|c| Ok(consumed.contains(&c.verification_id)))
            .collect())
    }
}

/// [`Consume`] for a batch: the buckets given back in key order, then each verification
/// consumed as `sql::CONSUME` (or confirmed again as `sql::RECONFIRM`) does, only after its
/// bucket (the order [`BUDGET_ALL`] locks them in), and its event. Answers the
/// verifications consumed.
const CONSUME_ALL: &str = "WITH i AS (SELECT * FROM unnest($1::bigint[], $2::bigint[], \
       $3::bool[], $4::bool[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bigint[]) \
       WITH ORDINALITY AS i(now, verification_id, retire, reconfirm, kind, detail, tags, \
         bucket_key, window_start, n)), \
     r AS (INSERT INTO rate_bucket (bucket_key, window_start, hits) \
       SELECT bucket_key, window_start, 0 FROM i ORDER BY bucket_key \
       ON CONFLICT (bucket_key) DO UPDATE SET \
         hits = CASE WHEN rate_bucket.window_start = excluded.window_start \
           THEN rate_bucket.hits - 1 ELSE 0 END, \
         window_start = excluded.window_start \
       RETURNING bucket_key), \
     c AS (UPDATE verification v SET \
         status = CASE WHEN i.reconfirm THEN v.status ELSE 'verified' END, \
         verified_at = CASE WHEN i.reconfirm THEN v.verified_at ELSE i.now END, \
         updated_at = i.now, retired_at = CASE WHEN i.retire THEN i.now ELSE NULL END \
       FROM i JOIN r ON r.bucket_key = i.bucket_key \
       WHERE v.verification_id = i.verification_id AND CASE WHEN i.reconfirm \
         THEN v.status = 'verified' AND v.retired_at IS NULL \
         ELSE v.status = 'pending' AND v.verified_at IS NULL END \
       RETURNING v.verification_id, v.app_id, v.channel, v.provider, v.country), \
     e AS (INSERT INTO event (verification_id, kind, detail, created_at, app_id, channel, \
         provider, country, tags) \
       SELECT c.verification_id, i.kind, i.detail, i.now, c.app_id, c.channel, c.provider, \
         c.country, i.tags \
       FROM c JOIN i ON i.verification_id = c.verification_id ORDER BY i.n) \
     SELECT verification_id FROM c";

/// A right code's check in one statement, for a verification still as the check read it
/// (pending, the attempts and the code's digest it read; the comparison was made in
/// constant time before): the attempt counted and the verification consumed with its
/// event, if the address's failure budget has a unit left. A right code spends none of
/// the budget, so its bucket is only read. A verification that changed since it was read
/// (another check counted an attempt, a resend changed the code, it closed), or that
/// another transaction holds, is left untouched, and the check takes the two statements.
pub(super) struct Check {
    pub(super) now: i64,
    pub(super) verification_id: i64,
    pub(super) key: String,
    pub(super) window: i64,
    pub(super) max: i64,
    /// The attempts the check read, before its own.
    pub(super) attempts: i64,
    /// The code's digest the check read and found its code matched.
    pub(super) code_hmac: Vec<u8>,
    pub(super) retire: bool,
    pub(super) detail: String,
    pub(super) tags: Option<String>,
}

/// What [`Check`] did.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Checked {
    /// Consumed; the attempts counted, this one included.
    Verified(u32),
    /// The failure budget had no unit left: nothing changed.
    OverBudget,
    /// The verification was not as read: nothing changed.
    Changed,
}

impl Batched for Check {
    type In = Check;
    type Out = Checked;

    /// One check an address per batch, so never two of one verification: the statement
    /// would answer both from its one consumption.
    fn key(check: &Check) -> (i64, String) {
        (0, check.key.clone())
    }

    async fn write_all(
        conn: &mut PgConnection,
        checks: &[&Check],
    ) -> Result<Vec<Result<Checked, StoreError>>, StoreError> {
        let each = |f: &dyn Fn(&Check) -> i64| checks.iter().map(|c| f(c)).collect::<Vec<i64>>();
        let rows = sqlx::query(CHECK_ALL)
            .bind(each(&|c| c.now))
            .bind(each(&|c| c.verification_id))
            .bind(checks.iter().map(|c| c.key.as_str()).collect::<Vec<&str>>())
            .bind(each(&|c| c.window))
            .bind(each(&|c| c.max))
            .bind(each(&|c| c.attempts))
            .bind(
                checks
                    .iter()
                    .map(|c| c.code_hmac.as_slice())
                    .collect::<Vec<&[u8]>>(),
            )
            .bind(checks.iter().map(|c| c.retire).collect::<Vec<bool>>())
            .bind(
                checks
                    .iter()
                    .map(|c| c.detail.as_str())
                    .collect::<Vec<&str>>(),
            )
            .bind(
                checks
                    .iter()
                    .map(|c| c.tags.as_deref())
                    .collect::<Vec<Option<&str>>>(),
            )
            .fetch_all(&mut *conn)
            .await?;
        Ok(checks
            .iter()
            .zip(&rows)
            .map(|(check, row)| {
                let attempts: Option<i64> = row.try_get("attempts")?;
                let held: Option<i64> = row.try_get("held")?;
                Ok(match (attempts, held) {
                    (Some(attempts), _) => Checked::Verified(counter(attempts, "attempts")?),
                    (None, Some(held)) if held >= check.max => Checked::OverBudget,
                    (None, _) => Checked::Changed,
                })
            })
            .collect())
    }
}

/// [`Check`] for a batch: the verifications still as read, each locked unless another
/// transaction holds it (one held elsewhere is left to the two statements: the check
/// answers `NULL`s and is made again as [`Budget`] then [`Consume`]), its address's failure
/// budget read (a bucket of another window, or none, has spent nothing), and each with a
/// unit left counted and consumed as [`CONSUME_ALL`] does, with its event. A right code
/// spends nothing, so nothing is written to its bucket: a batch of right codes writes no
/// row for each address it checks (the upkeep would only delete it again). The statement
/// never waits for a lock (it reads the buckets and skips a verification locked
/// elsewhere), so it cannot close a cycle of waits with [`Budget`] and [`Consume`], which
/// lock each bucket before its verification. A bucket read while a parallel check spent
/// from it is the bucket before or after that spending: either order is one the checks
/// could have taken one after the other, and a right code's answer is the same in both
/// unless that spending took the last unit. One row per check in the arrays' order: the
/// bucket's hits (`NULL` when the verification was not as read) and the attempts after
/// this one (`NULL` when it was not consumed).
const CHECK_ALL: &str = "WITH i AS (SELECT * FROM unnest($1::bigint[], $2::bigint[], \
       $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bytea[], $8::bool[], \
       $9::text[], $10::text[]) WITH ORDINALITY AS i(now, verification_id, bucket_key, \
         window_start, most, attempts, code_hmac, retire, detail, tags, n)), \
     o AS (SELECT i.*, COALESCE((SELECT r.hits FROM rate_bucket r \
         WHERE r.bucket_key = i.bucket_key AND r.window_start = i.window_start), 0) AS held \
       FROM i JOIN verification v ON v.verification_id = i.verification_id \
       AND v.status = 'pending' AND v.verified_at IS NULL AND v.expires_at > i.now \
       AND v.retired_at IS NULL AND v.attempts = i.attempts AND v.attempts < v.max_attempts \
       AND v.code_hmac = i.code_hmac FOR UPDATE OF v SKIP LOCKED), \
     u AS (UPDATE verification v SET attempts = v.attempts + 1, status = 'verified', \
         verified_at = o.now, updated_at = o.now, \
         retired_at = CASE WHEN o.retire THEN o.now ELSE NULL END \
       FROM o \
       WHERE v.verification_id = o.verification_id AND v.status = 'pending' \
         AND v.verified_at IS NULL AND v.expires_at > o.now AND v.retired_at IS NULL \
         AND v.attempts = o.attempts AND v.attempts < v.max_attempts \
         AND v.code_hmac = o.code_hmac AND o.held < o.most \
       RETURNING v.verification_id, v.attempts, v.app_id, v.channel, v.provider, v.country), \
     e AS (INSERT INTO event (verification_id, kind, detail, created_at, app_id, channel, \
         provider, country, tags) \
       SELECT u.verification_id, 'verified', o.detail, o.now, u.app_id, u.channel, \
         u.provider, u.country, o.tags \
       FROM u JOIN o ON o.verification_id = u.verification_id ORDER BY o.n) \
     SELECT o.held, u.attempts FROM i \
     LEFT JOIN o ON o.verification_id = i.verification_id \
     LEFT JOIN u ON u.verification_id = i.verification_id ORDER BY i.n";

#[cfg(test)]
mod tests {
    use super::*;

    /// A write that panics when asked to, else answers at once without a statement.
    struct Panics(bool);

    impl Batched for Panics {
        type In = Panics;
        type Out = ();

        fn key(input: &Panics) -> (i64, String) {
            (i64::from(input.0), String::new())
        }

        async fn write_all(
            _conn: &mut PgConnection,
            inputs: &[&Panics],
        ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
            assert!(!inputs.iter().any(|i| i.0), "a write that panics");
            Ok(inputs.iter().map(|_| Ok(())).collect())
        }
    }

    /// A batch whose task panics gives its slot back: the writes after it are still
    /// written, instead of waiting for a slot forever. Needs PostgreSQL on loopback (a
    /// connection to its `postgres` database; nothing is written).
    #[tokio::test]
    async fn a_batch_that_panics_gives_its_slot_back() {
        let url = std::env::var("OTPGATE_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let batches = Batches::<Panics>::start(PgPool::connect_lazy(&url).unwrap());
        assert!(
            batches.write(Panics(true)).await.is_err(),
            "its caller hears of it"
        );
        for _ in 0..3 {
            let next = tokio::time::timeout(Duration::from_secs(10), batches.write(Panics(false)));
            assert!(
                matches!(next.await, Ok(Ok(()))),
                "a write after the panic is written"
            );
        }
    }
}
