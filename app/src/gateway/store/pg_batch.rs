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
    sql::counter,
    sql::{verification_record, INSERT_VERIFICATION_COLUMNS, VERIFICATION_COLUMNS},
    stats::{country_prefix, tags},
    NewDelivery, NewVerification, StoreError, VerificationRecord,
};
use crate::model::Status;
use sqlx::{postgres::PgRow, PgPool, Row};
use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::{Arc, LazyLock},
    time::Instant,
};
use tokio::sync::{mpsc, oneshot, Semaphore};

/// The most creates in one batch.
const MOST: usize = 256;

/// Batches written at once, each on a connection of the pool.
const IN_FLIGHT: usize = 4;

/// One create waiting for its batch.
struct Job {
    new: NewVerification,
    delivery: Option<NewDelivery>,
    answer: oneshot::Sender<Result<VerificationRecord, StoreError>>,
}

/// The queue of an instance's creates; the batcher stops when the last handle is gone.
#[derive(Debug, Clone)]
pub(super) struct CreateBatches {
    queue: mpsc::UnboundedSender<Job>,
}

impl CreateBatches {
    /// Starts the batcher on `pool`.
    pub(super) fn start(pool: PgPool) -> Self {
        let (queue, jobs) = mpsc::unbounded_channel();
        tokio::spawn(batcher(pool, jobs));
        Self { queue }
    }

    /// Writes `new` (and its outbox row) in the next batch; answers after its commit.
    pub(super) async fn insert(
        &self,
        new: &NewVerification,
        delivery: Option<&NewDelivery>,
    ) -> Result<VerificationRecord, StoreError> {
        let (answer, answered) = oneshot::channel();
        let job = Job {
            new: new.clone(),
            delivery: delivery.cloned(),
            answer,
        };
        self.queue
            .send(job)
            .map_err(|_| StoreError::Database(sqlx::Error::PoolClosed))?;
        answered
            .await
            .map_err(|_| StoreError::Database(sqlx::Error::PoolClosed))?
    }
}

/// Takes the queued creates in batches and writes each batch on a task of its own, at
/// most [`IN_FLIGHT`] at a time.
async fn batcher(pool: PgPool, mut jobs: mpsc::UnboundedReceiver<Job>) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    // Creates held back from a batch that had their id already: first in the next.
    let mut held: VecDeque<Job> = VecDeque::new();
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
        let mut ids = HashSet::new();
        ids.insert((first.new.app_id, first.new.public_id.clone()));
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
            if ids.insert((next.new.app_id, next.new.public_id.clone())) {
                batch.push(next);
            } else {
                later.push_back(next);
            }
        }
        later.extend(held.drain(..));
        held = later;
        let pool = pool.clone();
        tokio::spawn(async move {
            write_batch(&pool, batch).await;
            drop(slot);
        });
    }
}

/// Writes `batch` in one statement and answers each create; if the statement fails, each
/// create is written again alone.
async fn write_batch(pool: &PgPool, mut batch: Vec<Job>) {
    // Parallel batches take the unique index's entries in one order, so they never wait
    // on each other in a circle.
    batch.sort_by(|a, b| (a.new.app_id, &a.new.public_id).cmp(&(b.new.app_id, &b.new.public_id)));
    let started = Instant::now();
    let written = insert_all(pool, &batch).await;
    crate::gateway::metrics::batch_committed(batch.len(), started.elapsed(), started.elapsed());
    match written {
        Ok(mut records) => {
            for job in batch {
                let key = (job.new.app_id, job.new.public_id);
                let answer = records.remove(&key).ok_or(StoreError::Conflict);
                let _ = job.answer.send(answer);
            }
        }
        Err(e) if batch.len() == 1 => {
            let job = batch.pop().expect("one job");
            let _ = job.answer.send(Err(e));
        }
        Err(e) => {
            tracing::debug!(error = ?e, creates = batch.len(), "create batch failed; writing each alone");
            for job in batch {
                let key = (job.new.app_id, job.new.public_id.clone());
                let one = std::slice::from_ref(&job);
                let answer = insert_all(pool, one)
                    .await
                    .and_then(|mut records| records.remove(&key).ok_or(StoreError::Conflict));
                let _ = job.answer.send(answer);
            }
        }
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
/// written, by app and public id (a create missing from it had its id taken).
async fn insert_all(
    pool: &PgPool,
    jobs: &[Job],
) -> Result<HashMap<(i64, String), VerificationRecord>, StoreError> {
    let column = |f: &dyn Fn(&Job) -> String| jobs.iter().map(f).collect::<Vec<String>>();
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
