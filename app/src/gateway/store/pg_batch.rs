//! PostgreSQL's group commit for creates. Every create of an instance queues here; a
//! batcher takes all that are queued, up to [`MOST`], and writes them, their `created`
//! events and their outbox rows in one statement (arrays bound once, `unnest`), committed
//! by itself: one round trip, one plan, one WAL flush for the lot, where each create was
//! a statement and a commit of its own. At most [`IN_FLIGHT`] batches run at once, each
//! on its own pooled connection; creates that come meanwhile wait in the queue and make
//! the next batch bigger, so the batches grow with the load and a lone create is written
//! at once. Each caller is answered after the commit that holds its row.
//!
//! A batch cannot fail for one create's sake: an id (or inbound key) already taken is
//! skipped (`ON CONFLICT DO NOTHING`) and answered [`StoreError::Conflict`], exactly as
//! the unique index answers one statement; two creates of one id never share a batch
//! (the later waits for the next). Whatever else fails a batch (a deadlock, an app
//! deleted meanwhile, a lost connection) writes none of it, and each of its creates is
//! then written again alone, so each gets its own answer.

use super::{
    sql::{counter, verification_record, INSERT_VERIFICATION_COLUMNS, VERIFICATION_COLUMNS},
    stats::{country_prefix, tags},
    DeliveryOutcome, NewDelivery, NewVerification, StoreError, VerificationRecord,
};
use crate::model::Status;
use sqlx::{postgres::PgRow, PgPool, Row};
use std::{
    collections::{HashMap, HashSet, VecDeque},
    future::Future,
    sync::{Arc, LazyLock},
    time::Instant,
};
use tokio::sync::{mpsc, oneshot, Semaphore};

/// The most creates in one batch.
const MOST: usize = 256;

/// Batches written at once, each on a connection of the pool.
const IN_FLIGHT: usize = 4;

/// A kind of write PostgreSQL takes in batches: what one write is, what it answers, and
/// how a batch of them is written.
pub(super) trait Batched: Send + Sync + 'static {
    type In: Send + Sync + 'static;
    type Out: Send + 'static;
    /// Orders a batch (parallel batches take rows in one order, so they never wait on each
    /// other in a circle); two writes with one key never share a batch.
    fn key(input: &Self::In) -> (i64, String);
    /// Writes `inputs` in one statement that commits by itself; answers each, in order.
    fn write_all(
        pool: &PgPool,
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
/// most [`IN_FLIGHT`] at a time.
async fn batcher<B: Batched>(pool: PgPool, mut jobs: mpsc::UnboundedReceiver<Job<B>>) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
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
        let Ok(slot) = slots.clone().acquire_owned().await else {
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
        let pool = pool.clone();
        tokio::spawn(async move {
            write_batch::<B>(&pool, batch).await;
            drop(slot);
        });
    }
}

/// Writes `batch` in one statement and answers each write; if the statement fails, each
/// write is written again alone.
async fn write_batch<B: Batched>(pool: &PgPool, mut batch: Vec<Job<B>>) {
    batch.sort_by_cached_key(|job| B::key(&job.input));
    let started = Instant::now();
    let inputs: Vec<&B::In> = batch.iter().map(|job| &job.input).collect();
    let written = B::write_all(pool, &inputs).await;
    crate::gateway::metrics::batch_committed(batch.len(), started.elapsed(), started.elapsed());
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
        Err(e) => {
            tracing::debug!(error = ?e, writes = batch.len(), "write batch failed; writing each alone");
            for job in batch {
                let answer = match B::write_all(pool, &[&job.input]).await {
                    Ok(mut answers) if answers.len() == 1 => answers.pop().expect("one answer"),
                    Ok(_) => Err(StoreError::Corrupt("batch answers")),
                    Err(e) => Err(e),
                };
                let _ = job.answer.send(answer);
            }
        }
    }
}

/// A create: the verification and its outbox row, if it sends.
pub(super) struct Create {
    pub(super) new: NewVerification,
    pub(super) delivery: Option<NewDelivery>,
}

impl Batched for Create {
    type In = Create;
    type Out = VerificationRecord;

    fn key(create: &Create) -> (i64, String) {
        (create.new.app_id, create.new.public_id.clone())
    }

    /// A create missing from the rows written had its id (or inbound key) taken.
    async fn write_all(
        pool: &PgPool,
        creates: &[&Create],
    ) -> Result<Vec<Result<VerificationRecord, StoreError>>, StoreError> {
        let mut written = insert_all(pool, creates).await?;
        Ok(creates
            .iter()
            .map(|c| written.remove(&Self::key(c)).ok_or(StoreError::Conflict))
            .collect())
    }
}

/// The statement: the creates as parallel arrays (one row each), the verifications
/// inserted in the arrays' order skipping any whose id or inbound key is taken, then the
/// `created` event and the outbox row of each one inserted.
static INSERT_ALL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH i AS (SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], \
           $5::text[], $6::text[], $7::text[], $8::bytea[], $9::bigint[], $10::text[], \
           $11::bigint[], $12::bigint[], $13::bigint[], $14::text[], $15::bigint[], \
           $16::bigint[], $17::bytea[], $18::text[], $19::text[], $20::text[], $21::bytea[], \
           $22::text[], $23::bytea[], $24::text[], $25::text[], $26::bool[]) WITH ORDINALITY \
           AS i(app_id, public_id, provider, channel, address, channel_description, \
             address_description, code_hmac, code_length, code_alphabet, max_attempts, sends, \
             max_sends, extra, now, expires_at, code_sealed, redirect_url, state, locale, \
             inbound_key, country, address_key, route, to_address, queued, n)), \
         v AS (INSERT INTO verification ({INSERT_VERIFICATION_COLUMNS}) \
           SELECT app_id, public_id, provider, channel, address, channel_description, \
             address_description, code_hmac, code_length, code_alphabet, max_attempts, sends, \
             max_sends, extra, now, now, expires_at, code_sealed, \
             CASE WHEN sends > 0 THEN now ELSE NULL END, redirect_url, state, locale, \
             inbound_key, country, address_key \
           FROM i ORDER BY n \
           ON CONFLICT DO NOTHING \
           RETURNING {VERIFICATION_COLUMNS}, country), \
         e AS (INSERT INTO event (verification_id, kind, detail, created_at, app_id, channel, \
             provider, country, tags) \
           SELECT verification_id, 'created', '{{}}', created_at, app_id, channel, provider, \
             country, $27 FROM v), \
         d AS (INSERT INTO delivery (verification_id, route, address, next_attempt_at, \
             created_at, updated_at) \
           SELECT v.verification_id, i.route, i.to_address, v.created_at, v.created_at, \
             v.created_at \
           FROM v JOIN i ON i.app_id = v.app_id AND i.public_id = v.public_id \
           WHERE i.queued) \
         SELECT {VERIFICATION_COLUMNS} FROM v"
    )
});

/// Writes `jobs` with [`INSERT_ALL`], committed by itself; answers the verifications
/// written, by app and public id.
async fn insert_all(
    pool: &PgPool,
    jobs: &[&Create],
) -> Result<HashMap<(i64, String), VerificationRecord>, StoreError> {
    let column = |f: &dyn Fn(&Create) -> String| jobs.iter().map(|j| f(j)).collect::<Vec<String>>();
    let number =
        |f: &dyn Fn(&NewVerification) -> i64| jobs.iter().map(|j| f(&j.new)).collect::<Vec<i64>>();
    let bytes = |f: &dyn Fn(&NewVerification) -> Option<Vec<u8>>| {
        jobs.iter()
            .map(|j| f(&j.new))
            .collect::<Vec<Option<Vec<u8>>>>()
    };
    let route = |d: &NewDelivery| serde_json::to_string(&d.route).expect("strings serialise");
    let rows = sqlx::query(&INSERT_ALL)
        .bind(number(&|n| n.app_id))
        .bind(column(&|j| j.new.public_id.clone()))
        .bind(column(&|j| j.new.provider.clone()))
        .bind(column(&|j| j.new.channel.clone()))
        .bind(column(&|j| j.new.address.clone()))
        .bind(column(&|j| j.new.channel_description.clone()))
        .bind(column(&|j| j.new.address_description.clone()))
        .bind(bytes(&|n| Some(n.code_hmac.clone())))
        .bind(number(&|n| i64::from(n.code_length)))
        .bind(column(&|j| j.new.code_alphabet.clone()))
        .bind(number(&|n| i64::from(n.max_attempts)))
        .bind(number(&|n| i64::from(n.sends)))
        .bind(number(&|n| i64::from(n.max_sends)))
        .bind(column(&|j| j.new.extra.clone()))
        .bind(number(&|n| n.now))
        .bind(number(&|n| n.expires_at))
        .bind(bytes(&|n| Some(n.code_sealed.clone())))
        .bind(column(&|j| j.new.redirect_url.clone()))
        .bind(column(&|j| j.new.state.clone()))
        .bind(column(&|j| j.new.locale.clone()))
        .bind(bytes(&|n| n.inbound_key.clone()))
        .bind(column(&|j| country_prefix(&j.new.address)))
        .bind(bytes(&|n| n.address_key.clone()))
        .bind(column(&|j| {
            j.delivery.as_ref().map(route).unwrap_or_default()
        }))
        .bind(column(&|j| {
            j.delivery
                .as_ref()
                .map(|d| d.address.clone())
                .unwrap_or_default()
        }))
        .bind(
            jobs.iter()
                .map(|j| j.delivery.is_some())
                .collect::<Vec<bool>>(),
        )
        .bind(tags("created", &serde_json::json!({})))
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|row: &PgRow| {
            let record = verification_record!(row, try_get)?;
            Ok(((record.app_id, record.public_id.clone()), record))
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
        pool: &PgPool,
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
            .fetch_all(pool)
            .await?
            .into_iter()
            .collect();
        Ok(settles
            .iter()
            .map(|s| Ok(settled.contains(&s.delivery_id)))
            .collect())
    }
}

/// The settles of a batch as the arrays `SETTLE_ALL` takes: each outcome as the row's
/// new status and the values that status sets (the others unused).
#[derive(Default)]
struct SettleColumns {
    delivery_id: Vec<i64>,
    owner: Vec<String>,
    status: Vec<String>,
    provider: Vec<String>,
    message_id: Vec<Option<String>>,
    route_index: Vec<i64>,
    next_attempt_at: Vec<i64>,
    error: Vec<String>,
    now: Vec<i64>,
    events: Vec<String>,
}

impl SettleColumns {
    fn push(&mut self, s: &Settle) {
        let (status, provider, message_id, route_index, next_attempt_at, error) = match &s.outcome {
            DeliveryOutcome::Sent {
                provider,
                message_id,
            } => ("sent", provider.as_str(), message_id.clone(), 0, 0, ""),
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
        self.owner.push(s.owner.clone());
        self.status.push(status.to_owned());
        self.provider.push(provider.to_owned());
        self.message_id.push(message_id);
        self.route_index.push(route_index);
        self.next_attempt_at.push(next_attempt_at);
        self.error.push(error.to_owned());
        self.now.push(s.now);
        self.events.push(s.events.clone());
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
