//! SQLite's hot writes, run on the writer's synchronous connection (`group_commit.rs`): a
//! rate bucket's hit, a create, a check, and what the outbox writes for each message it
//! sends. They are the statements the shared SQL
//! (`sql/`) runs on PostgreSQL and ran here through sqlx, where every statement went to
//! sqlx's worker thread and back while the one writer waited; here each whole write takes
//! the writer for the microseconds SQLite needs. Same texts, same guarantees: each write is
//! kept or undone whole within the batch, and answered after the batch commits. A write
//! that finds nothing to do before it has written anything ends in `Ending::Keep`, so the
//! batch need not be written anew without it (`GroupCommit::run_write`).

use super::{
    deliveries::ClaimedRow,
    group_commit::{bound, Ending, GroupCommit},
    sql::{
        counter, APP_FOR_SENDING, CAPTURE_MESSAGE, CONSUME, COUNT_ATTEMPT, EVENT, FINISH, HIT,
        INSERT_DELIVERY, INSERT_LEASED_DELIVERY, INSERT_VERIFICATION, MARK_COUNTED, PEEK,
        RECONFIRM, TRIM_INBOX,
    },
    stats::{counted_under, country_prefix, verified_detail},
    Attempt, AttemptOutcome, ClaimedDelivery, DeliveryOutcome, DevMessage, Inserted, NewDelivery,
    NewVerification, StoreError, VerificationRecord, DEV_INBOX_SIZE,
};
use crate::gateway::code::CodeDigests;
use crate::model::Status;
use rusqlite::{Connection, ToSql};
use serde_json::json;

impl GroupCommit {
    /// Raises a rate bucket (`HIT`); answers its hits in the window.
    pub(super) async fn hit(
        &self,
        key: &str,
        window_start: i64,
        hits: i64,
    ) -> Result<i64, StoreError> {
        let key = key.to_owned();
        self.run_one(move |db| raise(db, &key, window_start, hits))
            .await
    }

    /// One hit on each of `keys` (`HIT`, in turn) and the deliveries `counted` marked as
    /// counted against the send cap (`MARK_COUNTED`), in one write; answers each total.
    pub(super) async fn count_sends(
        &self,
        keys: &[String],
        window_start: i64,
        counted: &[i64],
    ) -> Result<Vec<i64>, StoreError> {
        let (keys, counted) = (keys.to_vec(), counted.to_vec());
        self.run(move |db| {
            let totals = keys
                .iter()
                .map(|key| raise(db, key, window_start, 1))
                .collect::<Result<_, StoreError>>()?;
            for delivery_id in &counted {
                bound(db, MARK_COUNTED, &[delivery_id])?.raw_execute()?;
            }
            Ok(Ending::Keep(totals))
        })
        .await
    }

    /// A new verification, its `created` event and its outbox row.
    pub(super) async fn insert_verification(
        &self,
        new: &NewVerification,
        delivery: Option<&NewDelivery>,
    ) -> Result<Inserted, StoreError> {
        let route = delivery.map(|d| serde_json::to_string(&d.route).expect("strings serialise"));
        let (new, delivery) = (new.clone(), delivery.cloned());
        let (sends, code_length, max_attempts, max_sends) = (
            i64::from(new.sends),
            i64::from(new.code_length),
            i64::from(new.max_attempts),
            i64::from(new.max_sends),
        );
        let country = country_prefix(&new.address);
        self.run(move |db| {
            let values: [&dyn ToSql; 24] = [
                &new.app_id,
                &new.public_id,
                &new.provider,
                &new.channel,
                &new.address,
                &new.channel_description,
                &new.address_description,
                &new.code_hmac,
                &code_length,
                &new.code_alphabet,
                &max_attempts,
                &sends,
                &max_sends,
                &new.extra,
                &new.now,
                &new.expires_at,
                &new.code_sealed,
                &new.redirect_url,
                &new.state,
                &new.locale,
                &new.inbound_key,
                &country,
                &new.address_key,
                &new.intent,
            ];
            match bound(db, &INSERT_VERIFICATION, &values)?.raw_execute() {
                // The row it collides with may be another write of the same batch:
                // answered after that commits, the caller can read it. SQLite undid the
                // insert, and nothing else was written.
                Err(e) if is_unique_violation(&e) => {
                    return Ok(Ending::Keep(Err(StoreError::Conflict)))
                }
                done => done?,
            };
            let id = db.last_insert_rowid();
            let of = Of {
                app_id: new.app_id,
                channel: &new.channel,
                provider: &new.provider,
                country: &country,
            };
            plain_event(db, id, "created", "{}", new.now, &of)?;
            let record = VerificationRecord::inserted(&new, id);
            let leased = match (&delivery, &route) {
                (Some(delivery), Some(route)) => queue(db, &new, &record, route, delivery)?,
                _ => None,
            };
            Ok(Ending::Keep(Ok(Inserted { record, leased })))
        })
        .await?
    }

    /// Records one event of a verification (see `EVENT`); `detail` is JSON.
    pub(super) async fn record_event(
        &self,
        verification_id: i64,
        kind: &str,
        detail: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let (kind, detail) = (kind.to_owned(), detail.to_owned());
        self.run_one(move |db| Ok(event(db, verification_id, &kind, &detail, now)?))
            .await
    }

    /// Leases due outbox rows to `owner` (`sql`, the claim's text, with its values).
    pub(super) async fn claim(
        &self,
        sql: &str,
        owner: &str,
        lease_until: i64,
        now: i64,
        limit: u32,
    ) -> Result<Vec<ClaimedRow>, StoreError> {
        let (sql, owner) = (sql.to_owned(), owner.to_owned());
        self.run(move |db| {
            let mut claim = bound(db, &sql, &[&owner, &lease_until, &now, &i64::from(limit)])?;
            let rows = claim.raw_query().mapped(|row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                    row.get(5)?,
                    row.get(6)?,
                ))
            });
            // A row that cannot be read fails the write: nothing of the claim is kept.
            Ok(Ending::Keep(rows.collect::<rusqlite::Result<_>>()?))
        })
        .await
    }

    /// Keeps a message in its app's dev inbox and drops what falls out of it; answers its
    /// id.
    pub(super) async fn capture_message(&self, m: &DevMessage) -> Result<i64, StoreError> {
        let m = m.clone();
        self.run(move |db| Ok(Ending::Keep(keep(db, &m)?))).await
    }

    /// Records how a leased delivery went (see `DeliveryOutcome::settle_sql`), keeps
    /// `kept` in its app's dev inbox, and records `events` of its verification; `false`
    /// (nothing written) when the lease was lost.
    pub(super) async fn settle_delivery(
        &self,
        delivery_id: i64,
        owner: &str,
        outcome: &DeliveryOutcome,
        kept: Option<&DevMessage>,
        events: &[(&str, &str)],
        now: i64,
    ) -> Result<bool, StoreError> {
        // What follows the settle makes it a write of several statements: a part that fails
        // must not leave the settle behind.
        let owner = owner.to_owned();
        let outcome = outcome.clone();
        let kept = kept.cloned();
        let events: Vec<(String, String)> = events
            .iter()
            .map(|(kind, detail)| ((*kind).to_owned(), (*detail).to_owned()))
            .collect();
        self.run_in(!events.is_empty() || kept.is_some(), move |db| {
            let settle = |rest: &[&dyn ToSql]| {
                let values: Vec<&dyn ToSql> = [&delivery_id as &dyn ToSql, &owner]
                    .into_iter()
                    .chain(rest.iter().copied())
                    .chain([&now as &dyn ToSql])
                    .collect();
                first(db, outcome.settle_sql(), &values, |row| {
                    row.get::<_, i64>(0)
                })
            };
            let settled = match &outcome {
                DeliveryOutcome::Sent {
                    provider,
                    message_id,
                } => settle(&[provider, message_id])?,
                DeliveryOutcome::Retry {
                    route_index,
                    next_attempt_at,
                    error,
                } => settle(&[&i64::from(*route_index), next_attempt_at, error])?,
                DeliveryOutcome::Closed { status, error } => settle(&[status, error])?,
            };
            if let Some(verification_id) = settled {
                if let Some(kept) = &kept {
                    keep(db, kept)?;
                }
                for (kind, detail) in &events {
                    event(db, verification_id, kind, detail, now)?;
                }
            }
            Ok(Ending::Keep(settled.is_some()))
        })
        .await
    }

    /// One check (see `VerificationStore::attempt`): the address's failure budget read, the
    /// attempt counted, the code compared, and the verification consumed or the failure
    /// recorded (one of the budget spent; locked on the last attempt).
    pub(super) async fn attempt(
        &self,
        a: &Attempt,
        code: &CodeDigests,
    ) -> Result<AttemptOutcome, StoreError> {
        let (a, code) = (a.clone(), code.clone());
        self.run(move |db| {
            // The writer runs one write at a time, so the budget read here is the budget
            // this check spends from: a wrong code spends one below, a right code nothing.
            let spent: Option<i64> = first(db, PEEK, &[&a.budget_key, &a.budget_window], |row| {
                row.get(0)
            })?;
            if spent.unwrap_or(0) + 1 > a.budget_max {
                // Nothing written yet.
                return Ok(Ending::Keep(AttemptOutcome::OverBudget));
            }
            // A right code for the verification as the check read it: counted and
            // consumed in one statement. Anything else (a wrong code, a row changed since
            // it was read, a kept record confirmed again) takes the statements below.
            if !a.reconfirm && code.matches(&a.seen.code_hmac) {
                let values: [&dyn ToSql; 5] = [
                    &a.now,
                    &a.retire,
                    &a.verification_id,
                    &i64::from(a.seen.attempts),
                    &a.seen.code_hmac,
                ];
                let verified = first(db, VERIFY_AS_READ, &values, |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, i64>(1)?,
                        row.get::<_, i64>(2)?,
                        row.get::<_, String>(3)?,
                        row.get::<_, String>(4)?,
                        row.get::<_, String>(5)?,
                    ))
                })?;
                if let Some((attempts, created_at, app_id, channel, provider, country)) = verified {
                    let attempts = counter(attempts, "attempts")?;
                    let detail =
                        verified_detail(a.now - created_at, attempts.saturating_sub(1)).to_string();
                    let of = Of {
                        app_id,
                        channel: &channel,
                        provider: &provider,
                        country: &country,
                    };
                    plain_event(db, a.verification_id, "verified", &detail, a.now, &of)?;
                    return Ok(Ending::Keep(AttemptOutcome::Verified { attempts }));
                }
            }
            let on = if a.reconfirm {
                Status::Verified
            } else {
                Status::Pending
            };
            let counted = first(
                db,
                COUNT_ATTEMPT,
                &[&a.now, &a.verification_id, &on.as_str()],
                |row| {
                    Ok((
                        row.get(0)?,
                        row.get(1)?,
                        row.get::<_, Vec<u8>>(2)?,
                        row.get(3)?,
                    ))
                },
            )?;
            let Some((attempts, max_attempts, code_hmac, created_at)) = counted else {
                // The count changed no row: nothing written.
                return Ok(Ending::Keep(AttemptOutcome::NotOpen));
            };
            let attempts = counter(attempts, "attempts")?;
            let max_attempts = counter(max_attempts, "max_attempts")?;
            let created_at: i64 = created_at;
            let (id, now) = (a.verification_id, a.now);
            let left = max_attempts.saturating_sub(attempts);
            if code.matches(&code_hmac) {
                let (kind, detail, consume) = if a.reconfirm {
                    let detail = json!({ "verified": true, "attempts_left": left });
                    ("recheck", detail, RECONFIRM)
                } else {
                    let detail = verified_detail(now - created_at, attempts.saturating_sub(1));
                    ("verified", detail, CONSUME)
                };
                if bound(db, consume, &[&now, &a.retire, &id])?.raw_execute()? != 1 {
                    return Ok(Ending::Undo(AttemptOutcome::NotOpen));
                }
                event(db, id, kind, &detail.to_string(), now)?;
                return Ok(Ending::Keep(AttemptOutcome::Verified { attempts }));
            }
            // A wrong code spends one of the address's failure budget.
            raise(db, &a.budget_key, a.budget_window, 1)?;
            if a.reconfirm {
                // A kept verified record stays verified; its spent budget only stops
                // further re-checks.
                let detail = json!({ "verified": false, "attempts_left": left });
                event(db, id, "recheck", &detail.to_string(), now)?;
                let outcome = AttemptOutcome::Incorrect {
                    attempts,
                    max_attempts,
                    locked: false,
                };
                return Ok(Ending::Keep(outcome));
            }
            event(
                db,
                id,
                "attempt",
                &json!({ "attempts_left": left }).to_string(),
                now,
            )?;
            let locked = left == 0
                && bound(db, FINISH, &[&Status::Locked.as_str(), &now, &id])?.raw_execute()? == 1;
            if locked {
                event(db, id, "locked", "{}", now)?;
            }
            Ok(Ending::Keep(AttemptOutcome::Incorrect {
                attempts,
                max_attempts,
                locked,
            }))
        })
        .await
    }
}

/// Runs `sql` with `values` and reads its first row, if any.
fn first<T>(
    db: &Connection,
    sql: &str,
    values: &[&dyn ToSql],
    read: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Option<T>> {
    let mut statement = bound(db, sql, values)?;
    let mut rows = statement.raw_query();
    rows.next()?.map(read).transpose()
}

/// Adds `hits` to rate bucket `key` in the window starting at `window_start` (`HIT`);
/// answers its hits in the window.
fn raise(db: &Connection, key: &str, window_start: i64, hits: i64) -> Result<i64, StoreError> {
    let spent = first(db, HIT, &[&key, &window_start, &hits], |row| row.get(0))?;
    Ok(spent.ok_or(rusqlite::Error::QueryReturnedNoRows)?)
}

/// Writes verification `id`'s outbox row; when `delivery` is leased at once, the row
/// as its worker gets it (see `ClaimedDelivery::leased_at_insert`), counted against the
/// send cap with it when the lease asks for that.
fn queue(
    db: &Connection,
    new: &NewVerification,
    record: &VerificationRecord,
    route: &str,
    delivery: &NewDelivery,
) -> Result<Option<ClaimedDelivery>, StoreError> {
    let (id, now) = (record.verification_id, new.now);
    let Some(lease) = &delivery.lease else {
        bound(db, INSERT_DELIVERY, &[&id, &route, &delivery.address, &now])?.raw_execute()?;
        return Ok(None);
    };
    let sends = match &lease.count {
        Some(count) => match raise(db, &count.key, count.window_start, 1) {
            Ok(sends) => Some(sends),
            // A failed statement undoes itself and the create goes on: the worker counts
            // the message before it is sent, as it counts a claimed row. Should SQLite have
            // rolled the whole transaction back, the create fails with it.
            Err(e) if !db.is_autocommit() => {
                tracing::warn!(error = %e, "send cap not counted with its create; the worker counts it");
                None
            }
            Err(e) => return Err(e),
        },
        None => None,
    };
    let values: [&dyn ToSql; 7] = [
        &id,
        &route,
        &delivery.address,
        &now,
        &lease.owner,
        &lease.until,
        &sends.is_some(),
    ];
    bound(db, INSERT_LEASED_DELIVERY, &values)?.raw_execute()?;
    let delivery_id = db.last_insert_rowid();
    let app = first(db, APP_FOR_SENDING, &[&new.app_id], |row| {
        Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
    })?
    .ok_or(StoreError::Corrupt("app"))?;
    Ok(Some(ClaimedDelivery::leased_at_insert(
        delivery_id,
        delivery,
        record,
        app,
        sends,
    )))
}

/// Keeps `m` in its app's dev inbox and drops what falls out of it; its id.
fn keep(db: &Connection, m: &DevMessage) -> Result<i64, StoreError> {
    let values: [&dyn ToSql; 8] = [
        &m.app_id,
        &m.public_id,
        &m.provider,
        &m.channel,
        &m.address,
        &m.subject,
        &m.body,
        &m.created_at,
    ];
    let id: i64 = first(db, CAPTURE_MESSAGE, &values, |row| row.get(0))?
        .ok_or(rusqlite::Error::QueryReturnedNoRows)?;
    bound(db, TRIM_INBOX, &[&m.app_id, &id, &DEV_INBOX_SIZE])?.raw_execute()?;
    Ok(id)
}

/// `EVENT` with the verification's values given (see [`plain_event`]).
const PLAIN_EVENT: &str = "INSERT INTO event \
     (verification_id, kind, detail, created_at, app_id, channel, provider, country, tags) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

/// What an event records of its verification: its app, channel, provider and country.
struct Of<'a> {
    app_id: i64,
    channel: &'a str,
    provider: &'a str,
    country: &'a str,
}

/// Records one event as `event` does, with what it records of its verification given
/// (`of`), where the same write just wrote or read it: a plain insert, without reading
/// the row back.
fn plain_event(
    db: &Connection,
    verification_id: i64,
    kind: &str,
    detail: &str,
    now: i64,
    of: &Of<'_>,
) -> rusqlite::Result<()> {
    let (named, tags) = counted_under(kind, detail);
    let values: [&dyn ToSql; 9] = [
        &verification_id,
        &kind,
        &detail,
        &now,
        &of.app_id,
        &of.channel,
        &named.as_deref().unwrap_or(of.provider),
        &of.country,
        &tags,
    ];
    bound(db, PLAIN_EVENT, &values)?.raw_execute().map(drop)
}

/// A right code's check of verification `$3` as it was read (`$4` attempts, code digest
/// `$5`): the attempt counted and the verification consumed as `COUNT_ATTEMPT` and then
/// `CONSUME` do, at `$1`, retired when `$2`. Answers the attempts and what its event
/// records; no row when it was not as read (or not open).
const VERIFY_AS_READ: &str = "UPDATE verification SET attempts = attempts + 1, \
     status = 'verified', verified_at = $1, updated_at = $1, \
     retired_at = CASE WHEN $2 THEN $1 ELSE NULL END \
     WHERE verification_id = $3 AND status = 'pending' AND verified_at IS NULL \
       AND expires_at > $1 AND retired_at IS NULL AND attempts < max_attempts \
       AND attempts = $4 AND code_hmac = $5 \
     RETURNING attempts, created_at, app_id, channel, provider, country";

/// Records one event (see `EVENT`).
fn event(
    db: &Connection,
    verification_id: i64,
    kind: &str,
    detail: &str,
    now: i64,
) -> rusqlite::Result<()> {
    let (provider, tags) = counted_under(kind, detail);
    let values: [&dyn ToSql; 6] = [&verification_id, &kind, &detail, &now, &provider, &tags];
    bound(db, EVENT, &values)?.raw_execute().map(drop)
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}
