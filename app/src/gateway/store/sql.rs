//! The SQL shared by both backends. Statements use `$N` placeholders, which SQLite and
//! PostgreSQL both accept, and only portable SQL (`RETURNING`, partial indexes, `CASE`), so
//! one text serves both; the macro instantiates it for each driver's types.

/// Columns of `verification`, in the order `verification_from_row` reads them.
pub(super) const VERIFICATION_COLUMNS: &str = "verification_id, app_id, public_id, provider, \
    channel, address, channel_description, address_description, code_hmac, code_length, \
    code_alphabet, attempts, max_attempts, sends, max_sends, status, extra, created_at, \
    expires_at, verified_at, retired_at, code_sealed, last_sent_at, redirect_url, state, locale";

/// Columns of `app`, in the order `app_from_row` reads them.
pub(super) const APP_COLUMNS: &str = "app_id, namespace, name, echo_code, redirect_urls";

/// Reads a counter stored as a 64-bit integer.
pub(super) fn counter(value: i64, column: &'static str) -> Result<u32, super::StoreError> {
    u32::try_from(value).map_err(|_| super::StoreError::Corrupt(column))
}

pub(super) fn unique_violation(err: sqlx::Error) -> super::StoreError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => super::StoreError::Conflict,
        _ => super::StoreError::Database(err),
    }
}

/// Raises a rate bucket by `$3` hits in the window starting at `$2`, or starts it anew.
pub(super) const HIT: &str =
    "INSERT INTO rate_bucket (bucket_key, window_start, hits) VALUES ($1, $2, $3) \
     ON CONFLICT (bucket_key) DO UPDATE SET \
       hits = CASE WHEN rate_bucket.window_start = excluded.window_start \
              THEN rate_bucket.hits + excluded.hits ELSE excluded.hits END, \
       window_start = excluded.window_start \
     RETURNING hits";

/// Counts one attempt at an open verification that has attempts left.
pub(super) const COUNT_ATTEMPT: &str =
    "UPDATE verification SET attempts = attempts + 1, updated_at = $1 \
     WHERE verification_id = $2 AND status = 'pending' AND expires_at > $1 \
       AND attempts < max_attempts \
     RETURNING attempts, max_attempts, code_hmac";

/// Consumes a pending verification: exactly one row changes, once.
pub(super) const CONSUME: &str = "UPDATE verification SET status = 'verified', verified_at = $1, \
     updated_at = $1, retired_at = CASE WHEN $2 THEN $1 ELSE NULL END \
     WHERE verification_id = $3 AND status = 'pending' AND verified_at IS NULL";

/// Moves a pending verification to a terminal status.
pub(super) const FINISH: &str = "UPDATE verification SET status = $1, updated_at = $2 \
     WHERE verification_id = $3 AND status = 'pending'";

pub(super) const EVENT: &str =
    "INSERT INTO event (verification_id, kind, detail, created_at) VALUES ($1, $2, $3, $4)";

/// Columns of `delivery` read when a worker claims rows.
pub(super) const CLAIM_COLUMNS: &str =
    "delivery_id, verification_id, route, route_index, attempts, address";

/// Implements [`Store`](super::Store) for `$store`, whose field `pool` is a `Pool<$db>`.
/// `$skip_locked` ends the claim's row selection: `FOR UPDATE SKIP LOCKED` where the
/// database has it, nothing on SQLite (one writer at a time already).
macro_rules! sql_store {
    ($store:ty, $db:ty, $skip_locked:expr) => {
        const _: () = {
            use super::sql::{
                counter, unique_violation, APP_COLUMNS, CLAIM_COLUMNS, CONSUME, COUNT_ATTEMPT,
                EVENT, FINISH, HIT, VERIFICATION_COLUMNS,
            };
            use super::{
                AppRecord, Attempt, AttemptOutcome, ClaimedDelivery, DeliveryOutcome, EventRow, IdempotentAnswer,
                NewDelivery, NewVerification, Reissue, Store, StoreError, Switch, VerificationRecord,
            };
            use crate::model::Status;
            use async_trait::async_trait;
            use sqlx::Row;

            type DbRow = <$db as sqlx::Database>::Row;

            fn verification_from_row(row: &DbRow) -> Result<VerificationRecord, StoreError> {
                let status: String = row.try_get("status")?;
                Ok(VerificationRecord {
                    verification_id: row.try_get("verification_id")?,
                    app_id: row.try_get("app_id")?,
                    public_id: row.try_get("public_id")?,
                    provider: row.try_get("provider")?,
                    channel: row.try_get("channel")?,
                    address: row.try_get("address")?,
                    channel_description: row.try_get("channel_description")?,
                    address_description: row.try_get("address_description")?,
                    code_hmac: row.try_get("code_hmac")?,
                    code_length: counter(row.try_get("code_length")?, "code_length")?,
                    code_alphabet: row.try_get("code_alphabet")?,
                    attempts: counter(row.try_get("attempts")?, "attempts")?,
                    max_attempts: counter(row.try_get("max_attempts")?, "max_attempts")?,
                    sends: counter(row.try_get("sends")?, "sends")?,
                    max_sends: counter(row.try_get("max_sends")?, "max_sends")?,
                    status: Status::parse(&status)
                        .ok_or(StoreError::Corrupt("verification.status"))?,
                    extra: row.try_get("extra")?,
                    created_at: row.try_get("created_at")?,
                    expires_at: row.try_get("expires_at")?,
                    verified_at: row.try_get("verified_at")?,
                    retired_at: row.try_get("retired_at")?,
                    code_sealed: row.try_get("code_sealed")?,
                    last_sent_at: row.try_get("last_sent_at")?,
                    redirect_url: row.try_get("redirect_url")?,
                    state: row.try_get("state")?,
                    locale: row.try_get("locale")?,
                })
            }

            /// Queues one outbox row, due at once, inside the caller's transaction.
            async fn insert_delivery(
                conn: &mut <$db as sqlx::Database>::Connection,
                verification_id: i64,
                delivery: &NewDelivery,
                now: i64,
            ) -> Result<(), StoreError> {
                let route = serde_json::to_string(&delivery.route).expect("strings serialise");
                sqlx::query(
                    "INSERT INTO delivery (verification_id, route, address, next_attempt_at, \
                     created_at, updated_at) VALUES ($1, $2, $3, $4, $4, $4)",
                )
                .bind(verification_id)
                .bind(route)
                .bind(&delivery.address)
                .bind(now)
                .execute(&mut *conn)
                .await?;
                Ok(())
            }

            fn app_from_row(row: &DbRow) -> Result<AppRecord, StoreError> {
                Ok(AppRecord {
                    app_id: row.try_get("app_id")?,
                    namespace: row.try_get("namespace")?,
                    name: row.try_get("name")?,
                    echo_code: row.try_get("echo_code")?,
                    redirect_urls: serde_json::from_str(&row.try_get::<String, _>("redirect_urls")?)
                        .map_err(|_| StoreError::Corrupt("app.redirect_urls"))?,
                })
            }

            #[async_trait]
            impl Store for $store {
                async fn ping(&self) -> Result<(), StoreError> {
                    sqlx::query("SELECT 1").execute(&self.pool).await?;
                    Ok(())
                }

                async fn find_app(&self, namespace: &str) -> Result<Option<AppRecord>, StoreError> {
                    sqlx::query(
                        &format!("SELECT {APP_COLUMNS} FROM app WHERE namespace = $1"),
                    )
                    .bind(namespace)
                    .fetch_optional(&self.pool)
                    .await?
                    .as_ref()
                    .map(app_from_row)
                    .transpose()
                }

                async fn app_secret_hashes(&self, app_id: i64) -> Result<Vec<String>, StoreError> {
                    Ok(sqlx::query_scalar(
                        "SELECT secret_hash FROM app_secret WHERE app_id = $1 \
                         ORDER BY app_secret_id DESC",
                    )
                    .bind(app_id)
                    .fetch_all(&self.pool)
                    .await?)
                }

                async fn create_app(
                    &self,
                    namespace: &str,
                    name: &str,
                    secret_hash: &str,
                    now: i64,
                ) -> Result<AppRecord, StoreError> {
                    let mut tx = self.pool.begin().await?;
                    let row = sqlx::query(
                        "INSERT INTO app (namespace, name, created_at, updated_at) \
                         VALUES ($1, $2, $3, $3) RETURNING app_id, namespace, name, echo_code, redirect_urls",
                    )
                    .bind(namespace)
                    .bind(name)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(unique_violation)?;
                    let app = app_from_row(&row)?;
                    sqlx::query(
                        "INSERT INTO app_secret (app_id, secret_hash, created_at) VALUES ($1, $2, $3)",
                    )
                    .bind(app.app_id)
                    .bind(secret_hash)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    self.views.forget_apps();
                    Ok(app)
                }

                async fn update_app(
                    &self,
                    app_id: i64,
                    name: &str,
                    echo_code: bool,
                    redirect_urls: &[String],
                    now: i64,
                ) -> Result<(), StoreError> {
                    let urls = serde_json::to_string(redirect_urls).expect("strings serialise");
                    sqlx::query(
                        "UPDATE app SET name = $1, echo_code = $2, redirect_urls = $3, updated_at = $4 \
                         WHERE app_id = $5",
                    )
                    .bind(name)
                    .bind(echo_code)
                    .bind(urls)
                    .bind(now)
                    .bind(app_id)
                    .execute(&self.pool)
                    .await?;
                    self.views.forget_apps();
                    Ok(())
                }

                async fn replace_app_secret(
                    &self,
                    app_id: i64,
                    secret_hash: &str,
                    now: i64,
                ) -> Result<(), StoreError> {
                    let mut tx = self.pool.begin().await?;
                    sqlx::query("DELETE FROM app_secret WHERE app_id = $1")
                        .bind(app_id)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(
                        "INSERT INTO app_secret (app_id, secret_hash, created_at) VALUES ($1, $2, $3)",
                    )
                    .bind(app_id)
                    .bind(secret_hash)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    self.views.forget_apps();
                    Ok(())
                }

                async fn insert_verification(
                    &self,
                    new: &NewVerification,
                    delivery: Option<&NewDelivery>,
                ) -> Result<VerificationRecord, StoreError> {
                    let mut tx = self.pool.begin().await?;
                    let sql = format!(
                        "INSERT INTO verification (app_id, public_id, provider, channel, address, \
                         channel_description, address_description, code_hmac, code_length, \
                         code_alphabet, max_attempts, sends, max_sends, extra, created_at, \
                         updated_at, expires_at, code_sealed, last_sent_at, redirect_url, state, locale, \
                         inbound_key) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15, $16, \
                         $17, CASE WHEN $12 > 0 THEN $15 ELSE NULL END, $18, $19, $20, $21) \
                         RETURNING {VERIFICATION_COLUMNS}"
                    );
                    let row = sqlx::query(&sql)
                        .bind(new.app_id)
                        .bind(&new.public_id)
                        .bind(&new.provider)
                        .bind(&new.channel)
                        .bind(&new.address)
                        .bind(&new.channel_description)
                        .bind(&new.address_description)
                        .bind(&new.code_hmac)
                        .bind(i64::from(new.code_length))
                        .bind(&new.code_alphabet)
                        .bind(i64::from(new.max_attempts))
                        .bind(i64::from(new.sends))
                        .bind(i64::from(new.max_sends))
                        .bind(&new.extra)
                        .bind(new.now)
                        .bind(new.expires_at)
                        .bind(&new.code_sealed)
                        .bind(&new.redirect_url)
                        .bind(&new.state)
                        .bind(&new.locale)
                        .bind(&new.inbound_key)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(unique_violation)?;
                    let record = verification_from_row(&row)?;
                    sqlx::query(
                        "INSERT INTO event (verification_id, kind, detail, created_at) \
                         VALUES ($1, 'created', '{}', $2)",
                    )
                    .bind(record.verification_id)
                    .bind(new.now)
                    .execute(&mut *tx)
                    .await?;
                    if let Some(delivery) = delivery {
                        insert_delivery(&mut tx, record.verification_id, delivery, new.now).await?;
                    }
                    let epoch = self.views.epoch();
                    tx.commit().await?;
                    self.views.created(epoch, &record);
                    self.events_added();
                    Ok(record)
                }

                async fn reissue_verification(
                    &self,
                    verification_id: i64,
                    r: &Reissue,
                    delivery: Option<&NewDelivery>,
                ) -> Result<Option<VerificationRecord>, StoreError> {
                    let mut tx = self.pool.begin().await?;
                    let sql = format!(
                        "UPDATE verification SET provider = $1, channel = $2, address = $3, \
                         channel_description = $4, address_description = $5, code_hmac = $6, \
                         code_length = $7, code_alphabet = $8, extra = $9, sends = sends + $10, \
                         updated_at = $11, expires_at = $12, retired_at = NULL, code_sealed = $14, \
                         last_sent_at = CASE WHEN $10 > 0 THEN $11 ELSE last_sent_at END \
                         WHERE verification_id = $13 AND status = 'pending' AND expires_at > $11 \
                           AND attempts < max_attempts AND sends + $10 <= max_sends \
                         RETURNING {VERIFICATION_COLUMNS}"
                    );
                    let record = sqlx::query(&sql)
                        .bind(&r.provider)
                        .bind(&r.channel)
                        .bind(&r.address)
                        .bind(&r.channel_description)
                        .bind(&r.address_description)
                        .bind(&r.code_hmac)
                        .bind(i64::from(r.code_length))
                        .bind(&r.code_alphabet)
                        .bind(&r.extra)
                        .bind(i64::from(r.sends))
                        .bind(r.now)
                        .bind(r.expires_at)
                        .bind(verification_id)
                        .bind(&r.code_sealed)
                        .fetch_optional(&mut *tx)
                        .await?
                        .as_ref()
                        .map(verification_from_row)
                        .transpose()?;
                    if let (Some(record), Some(delivery)) = (&record, delivery) {
                        insert_delivery(&mut tx, record.verification_id, delivery, r.now).await?;
                    }
                    tx.commit().await?;
                    self.views.forget(verification_id);
                    Ok(record)
                }

                async fn find_verification(
                    &self,
                    app_id: i64,
                    public_id: &str,
                ) -> Result<Option<VerificationRecord>, StoreError> {
                    let sql = format!(
                        "SELECT {VERIFICATION_COLUMNS} FROM verification \
                         WHERE app_id = $1 AND public_id = $2 AND superseded_at IS NULL"
                    );
                    sqlx::query(&sql)
                        .bind(app_id)
                        .bind(public_id)
                        .fetch_optional(&self.pool)
                        .await?
                        .as_ref()
                        .map(verification_from_row)
                        .transpose()
                }

                async fn find_verification_viewed(
                    &self,
                    app_id: i64,
                    public_id: &str,
                ) -> Result<Option<VerificationRecord>, StoreError> {
                    if let Some(record) = self.views.verification(app_id, public_id) {
                        return Ok(Some(VerificationRecord::clone(&record)));
                    }
                    let epoch = self.views.epoch();
                    let record = self.find_verification(app_id, public_id).await?;
                    if let Some(record) = &record {
                        self.views.fill_verification(epoch, record.clone());
                    }
                    Ok(record)
                }

                async fn find_app_viewed(&self, namespace: &str) -> Result<Option<AppRecord>, StoreError> {
                    if let Some(app) = self.views.app(namespace) {
                        return Ok(Some(AppRecord::clone(&app)));
                    }
                    let epoch = self.views.epoch();
                    let app = self.find_app(namespace).await?;
                    if let Some(app) = &app {
                        self.views.fill_app(epoch, app.clone());
                    }
                    Ok(app)
                }

                fn forget_verification(&self, verification_id: i64) {
                    self.views.forget(verification_id);
                }

                async fn attempt(
                    &self,
                    a: &Attempt<'_>,
                    matches: &(dyn for<'h> Fn(&'h [u8]) -> bool + Send + Sync),
                ) -> Result<AttemptOutcome, StoreError> {
                    let mut tx = self.pool.begin().await?;
                    let spent: i64 = sqlx::query_scalar(HIT)
                        .bind(a.budget_key)
                        .bind(a.budget_window)
                        .bind(1_i64)
                        .fetch_one(&mut *tx)
                        .await?;
                    if spent > a.budget_max {
                        tx.rollback().await?;
                        return Ok(AttemptOutcome::OverBudget);
                    }
                    let counted = sqlx::query(COUNT_ATTEMPT)
                        .bind(a.now)
                        .bind(a.verification_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    let Some(row) = counted else {
                        tx.rollback().await?;
                        return Ok(AttemptOutcome::NotOpen);
                    };
                    let attempts = counter(row.try_get("attempts")?, "attempts")?;
                    let max_attempts = counter(row.try_get("max_attempts")?, "max_attempts")?;
                    let code_hmac: Vec<u8> = row.try_get("code_hmac")?;
                    let event = |kind: &'static str, detail: String| {
                        sqlx::query(EVENT)
                            .bind(a.verification_id)
                            .bind(kind)
                            .bind(detail)
                            .bind(a.now)
                    };
                    let outcome = if matches(&code_hmac) {
                        let consumed = sqlx::query(CONSUME)
                            .bind(a.now)
                            .bind(a.retire)
                            .bind(a.verification_id)
                            .execute(&mut *tx)
                            .await?;
                        if consumed.rows_affected() != 1 {
                            tx.rollback().await?;
                            return Ok(AttemptOutcome::NotOpen);
                        }
                        event("verified", "{}".into()).execute(&mut *tx).await?;
                        // A right code spends nothing of the address's failure budget.
                        sqlx::query(HIT)
                            .bind(a.budget_key)
                            .bind(a.budget_window)
                            .bind(-1_i64)
                            .execute(&mut *tx)
                            .await?;
                        AttemptOutcome::Verified { attempts }
                    } else {
                        let left = max_attempts.saturating_sub(attempts);
                        let detail = serde_json::json!({ "attempts_left": left }).to_string();
                        event("attempt", detail).execute(&mut *tx).await?;
                        let locked = left == 0
                            && sqlx::query(FINISH)
                                .bind(Status::Locked.as_str())
                                .bind(a.now)
                                .bind(a.verification_id)
                                .execute(&mut *tx)
                                .await?
                                .rows_affected()
                                == 1;
                        if locked {
                            event("locked", "{}".into()).execute(&mut *tx).await?;
                        }
                        AttemptOutcome::Incorrect { attempts, max_attempts, locked }
                    };
                    tx.commit().await?;
                    self.views.forget(a.verification_id);
                    self.events_added();
                    Ok(outcome)
                }

                async fn consume(
                    &self,
                    verification_id: i64,
                    retire: bool,
                    now: i64,
                ) -> Result<bool, StoreError> {
                    let done = sqlx::query(CONSUME)
                        .bind(now)
                        .bind(retire)
                        .bind(verification_id)
                        .execute(&self.pool)
                        .await?;
                    self.views.forget(verification_id);
                    Ok(done.rows_affected() == 1)
                }

                async fn finish(
                    &self,
                    verification_id: i64,
                    to: Status,
                    now: i64,
                ) -> Result<bool, StoreError> {
                    let done = sqlx::query(FINISH)
                        .bind(to.as_str())
                        .bind(now)
                        .bind(verification_id)
                        .execute(&self.pool)
                        .await?;
                    self.views.forget(verification_id);
                    Ok(done.rows_affected() == 1)
                }

                async fn supersede(&self, verification_id: i64, now: i64) -> Result<bool, StoreError> {
                    let done = sqlx::query(
                        "UPDATE verification SET superseded_at = $1, \
                         retired_at = COALESCE(retired_at, $1), updated_at = $1 \
                         WHERE verification_id = $2 AND superseded_at IS NULL",
                    )
                    .bind(now)
                    .bind(verification_id)
                    .execute(&self.pool)
                    .await?;
                    self.views.forget(verification_id);
                    Ok(done.rows_affected() == 1)
                }

                async fn retire(&self, verification_id: i64, now: i64) -> Result<(), StoreError> {
                    sqlx::query(
                        "UPDATE verification SET retired_at = $1, updated_at = $1 \
                         WHERE verification_id = $2 AND retired_at IS NULL",
                    )
                    .bind(now)
                    .bind(verification_id)
                    .execute(&self.pool)
                    .await?;
                    self.views.forget(verification_id);
                    Ok(())
                }

                async fn record_event(
                    &self,
                    verification_id: i64,
                    kind: &str,
                    detail: &str,
                    now: i64,
                ) -> Result<(), StoreError> {
                    sqlx::query(EVENT)
                        .bind(verification_id)
                        .bind(kind)
                        .bind(detail)
                        .bind(now)
                        .execute(&self.pool)
                        .await?;
                    self.events_added();
                    Ok(())
                }

                async fn claim_resend(
                    &self,
                    verification_id: i64,
                    cooldown_ms: i64,
                    now: i64,
                    delivery: &NewDelivery,
                ) -> Result<Option<VerificationRecord>, StoreError> {
                    let mut tx = self.pool.begin().await?;
                    let sql = format!(
                        "UPDATE verification SET sends = sends + 1, last_sent_at = $1, updated_at = $1 \
                         WHERE verification_id = $2 AND status = 'pending' AND expires_at > $1 \
                           AND sends < max_sends AND address <> '' \
                           AND (last_sent_at IS NULL OR last_sent_at <= $1 - $3) \
                         RETURNING {VERIFICATION_COLUMNS}"
                    );
                    let record = sqlx::query(&sql)
                        .bind(now)
                        .bind(verification_id)
                        .bind(cooldown_ms)
                        .fetch_optional(&mut *tx)
                        .await?
                        .as_ref()
                        .map(verification_from_row)
                        .transpose()?;
                    if record.is_some() {
                        insert_delivery(&mut tx, verification_id, delivery, now).await?;
                    }
                    tx.commit().await?;
                    self.views.forget(verification_id);
                    Ok(record)
                }

                async fn claim_address(
                    &self,
                    verification_id: i64,
                    address: &str,
                    now: i64,
                    delivery: &NewDelivery,
                ) -> Result<Option<VerificationRecord>, StoreError> {
                    let mut tx = self.pool.begin().await?;
                    let sql = format!(
                        "UPDATE verification SET address = $1, sends = sends + 1, last_sent_at = $2, \
                         updated_at = $2 \
                         WHERE verification_id = $3 AND status = 'pending' AND expires_at > $2 \
                           AND address = '' AND sends < max_sends \
                         RETURNING {VERIFICATION_COLUMNS}"
                    );
                    let record = sqlx::query(&sql)
                        .bind(address)
                        .bind(now)
                        .bind(verification_id)
                        .fetch_optional(&mut *tx)
                        .await?
                        .as_ref()
                        .map(verification_from_row)
                        .transpose()?;
                    if record.is_some() {
                        insert_delivery(&mut tx, verification_id, delivery, now).await?;
                        sqlx::query(
                            "INSERT INTO event (verification_id, kind, detail, created_at) \
                             VALUES ($1, 'address_set', '{}', $2)",
                        )
                        .bind(verification_id)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    }
                    tx.commit().await?;
                    self.views.forget(verification_id);
                    if record.is_some() {
                        self.events_added();
                    }
                    Ok(record)
                }

                async fn switch_channel(
                    &self,
                    verification_id: i64,
                    s: &Switch,
                    delivery: Option<&NewDelivery>,
                ) -> Result<Option<VerificationRecord>, StoreError> {
                    let mut tx = self.pool.begin().await?;
                    let sends = i64::from(delivery.is_some());
                    let sql = format!(
                        "UPDATE verification SET provider = $1, channel = $2, address = $3, \
                         code_hmac = $4, code_sealed = $5, code_length = $6, code_alphabet = $7, \
                         inbound_key = $8, sends = sends + $9, updated_at = $10, \
                         last_sent_at = CASE WHEN $9 > 0 THEN $10 ELSE last_sent_at END \
                         WHERE verification_id = $11 AND provider = $12 AND status = 'pending' \
                           AND expires_at > $10 AND attempts < max_attempts \
                           AND sends + $9 <= max_sends \
                         RETURNING {VERIFICATION_COLUMNS}"
                    );
                    let record = sqlx::query(&sql)
                        .bind(&s.provider)
                        .bind(&s.channel)
                        .bind(&s.address)
                        .bind(&s.code_hmac)
                        .bind(&s.code_sealed)
                        .bind(i64::from(s.code_length))
                        .bind(&s.code_alphabet)
                        .bind(&s.inbound_key)
                        .bind(sends)
                        .bind(s.now)
                        .bind(verification_id)
                        .bind(&s.from_provider)
                        .fetch_optional(&mut *tx)
                        .await?
                        .as_ref()
                        .map(verification_from_row)
                        .transpose()?;
                    if record.is_none() {
                        return Ok(None);
                    }
                    sqlx::query(
                        "UPDATE delivery SET status = 'dropped', last_error = 'channel switched', \
                         lease_owner = NULL, lease_until = NULL, updated_at = $2 \
                         WHERE verification_id = $1 AND status IN ('queued', 'sending')",
                    )
                    .bind(verification_id)
                    .bind(s.now)
                    .execute(&mut *tx)
                    .await?;
                    if let Some(delivery) = delivery {
                        insert_delivery(&mut tx, verification_id, delivery, s.now).await?;
                    }
                    let detail = serde_json::json!({ "from": s.from_provider, "to": s.provider });
                    sqlx::query(EVENT)
                        .bind(verification_id)
                        .bind("channel_switched")
                        .bind(detail.to_string())
                        .bind(s.now)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    self.views.forget(verification_id);
                    self.events_added();
                    Ok(record)
                }

                async fn claim_deliveries(
                    &self,
                    owner: &str,
                    now: i64,
                    lease_until: i64,
                    limit: u32,
                ) -> Result<Vec<ClaimedDelivery>, StoreError> {
                    let sql = format!(
                        "UPDATE delivery SET status = 'sending', lease_owner = $1, lease_until = $2, \
                         attempts = attempts + 1, updated_at = $3 \
                         WHERE delivery_id IN (SELECT delivery_id FROM delivery \
                           WHERE status IN ('queued', 'sending') AND next_attempt_at <= $3 \
                             AND (lease_until IS NULL OR lease_until <= $3) \
                           ORDER BY next_attempt_at LIMIT $4 {}) \
                         RETURNING {CLAIM_COLUMNS}",
                        $skip_locked
                    );
                    let rows = sqlx::query(&sql)
                        .bind(owner)
                        .bind(lease_until)
                        .bind(now)
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await?;
                    if rows.is_empty() {
                        return Ok(Vec::new());
                    }
                    // The verifications behind every row this claim took, in one query.
                    let lookup = format!(
                        "SELECT {VERIFICATION_COLUMNS}, \
                         (SELECT app.namespace FROM app WHERE app.app_id = verification.app_id) AS namespace, \
                         (SELECT app.name FROM app WHERE app.app_id = verification.app_id) AS app_name \
                         FROM verification WHERE verification_id IN (SELECT verification_id FROM delivery \
                           WHERE lease_owner = $1 AND lease_until = $2 AND status = 'sending')"
                    );
                    let mut verifications = std::collections::HashMap::new();
                    for v in sqlx::query(&lookup)
                        .bind(owner)
                        .bind(lease_until)
                        .fetch_all(&self.pool)
                        .await?
                    {
                        let id: i64 = v.try_get("verification_id")?;
                        verifications.insert(id, v);
                    }
                    let mut claimed = Vec::with_capacity(rows.len());
                    for row in rows {
                        let verification_id: i64 = row.try_get("verification_id")?;
                        // A channel switch may drop a row between the claim and this
                        // lookup; it is no longer this worker's to send.
                        let Some(v) = verifications.get(&verification_id) else {
                            continue;
                        };
                        let route: Vec<String> =
                            serde_json::from_str(&row.try_get::<String, _>("route")?)
                                .map_err(|_| StoreError::Corrupt("delivery.route"))?;
                        claimed.push(ClaimedDelivery {
                            delivery_id: row.try_get("delivery_id")?,
                            route,
                            route_index: counter(row.try_get("route_index")?, "route_index")?,
                            attempts: counter(row.try_get("attempts")?, "delivery.attempts")?,
                            address: row.try_get("address")?,
                            verification: verification_from_row(v)?,
                            namespace: v.try_get("namespace")?,
                            app_name: v.try_get("app_name")?,
                        });
                    }
                    Ok(claimed)
                }

                async fn settle_delivery(
                    &self,
                    delivery_id: i64,
                    owner: &str,
                    outcome: &DeliveryOutcome,
                    now: i64,
                ) -> Result<bool, StoreError> {
                    const HELD: &str = "WHERE delivery_id = $1 AND lease_owner = $2 AND status = 'sending'";
                    let done = match outcome {
                        DeliveryOutcome::Sent { provider, message_id } => {
                            sqlx::query(&format!(
                                "UPDATE delivery SET status = 'sent', provider = $3, \
                                 provider_message_id = $4, last_error = '', lease_owner = NULL, \
                                 lease_until = NULL, updated_at = $5 {HELD}"
                            ))
                            .bind(delivery_id)
                            .bind(owner)
                            .bind(provider)
                            .bind(message_id)
                            .bind(now)
                            .execute(&self.pool)
                            .await?
                        }
                        DeliveryOutcome::Retry { route_index, next_attempt_at, error } => {
                            sqlx::query(&format!(
                                "UPDATE delivery SET status = 'queued', route_index = $3, \
                                 next_attempt_at = $4, last_error = $5, lease_owner = NULL, \
                                 lease_until = NULL, updated_at = $6 {HELD}"
                            ))
                            .bind(delivery_id)
                            .bind(owner)
                            .bind(i64::from(*route_index))
                            .bind(next_attempt_at)
                            .bind(error)
                            .bind(now)
                            .execute(&self.pool)
                            .await?
                        }
                        DeliveryOutcome::Closed { status, error } => {
                            sqlx::query(&format!(
                                "UPDATE delivery SET status = $3, last_error = $4, \
                                 lease_owner = NULL, lease_until = NULL, updated_at = $5 {HELD}"
                            ))
                            .bind(delivery_id)
                            .bind(owner)
                            .bind(*status)
                            .bind(error)
                            .bind(now)
                            .execute(&self.pool)
                            .await?
                        }
                    };
                    Ok(done.rows_affected() == 1)
                }

                async fn release_deliveries(&self, owner: &str, now: i64) -> Result<u64, StoreError> {
                    let done = sqlx::query(
                        "UPDATE delivery SET status = 'queued', lease_owner = NULL, lease_until = NULL, \
                         next_attempt_at = $2, updated_at = $2 \
                         WHERE lease_owner = $1 AND status = 'sending'",
                    )
                    .bind(owner)
                    .bind(now)
                    .execute(&self.pool)
                    .await?;
                    Ok(done.rows_affected())
                }

                async fn record_receipt(
                    &self,
                    provider: &str,
                    message_id: &str,
                    status: &str,
                    now: i64,
                ) -> Result<Option<i64>, StoreError> {
                    Ok(sqlx::query_scalar(
                        "UPDATE delivery SET receipt_status = $3, updated_at = $4 \
                         WHERE provider = $1 AND provider_message_id = $2 \
                           AND (receipt_status IS NULL OR receipt_status <> $3) \
                         RETURNING verification_id",
                    )
                    .bind(provider)
                    .bind(message_id)
                    .bind(status)
                    .bind(now)
                    .fetch_optional(&self.pool)
                    .await?)
                }

                async fn deliveries_of(
                    &self,
                    verification_id: i64,
                ) -> Result<Vec<(String, String, u32)>, StoreError> {
                    let rows = sqlx::query(
                        "SELECT status, provider, attempts FROM delivery \
                         WHERE verification_id = $1 ORDER BY delivery_id",
                    )
                    .bind(verification_id)
                    .fetch_all(&self.pool)
                    .await?;
                    rows.iter()
                        .map(|row| {
                            Ok((
                                row.try_get("status")?,
                                row.try_get("provider")?,
                                counter(row.try_get("attempts")?, "delivery.attempts")?,
                            ))
                        })
                        .collect()
                }

                async fn hit(&self, key: &str, window_start: i64, hits: i64) -> Result<i64, StoreError> {
                    Ok(sqlx::query_scalar(HIT)
                        .bind(key)
                        .bind(window_start)
                        .bind(hits)
                        .fetch_one(&self.pool)
                        .await?)
                }

                async fn peek(&self, key: &str, window_start: i64) -> Result<i64, StoreError> {
                    Ok(sqlx::query_scalar(
                        "SELECT hits FROM rate_bucket WHERE bucket_key = $1 AND window_start = $2",
                    )
                    .bind(key)
                    .bind(window_start)
                    .fetch_optional(&self.pool)
                    .await?
                    .unwrap_or(0))
                }

                async fn use_token(
                    &self,
                    jti: &str,
                    app_id: i64,
                    expires_at: i64,
                    now: i64,
                ) -> Result<bool, StoreError> {
                    let done = sqlx::query(
                        "INSERT INTO token_use (jti, app_id, used_at, expires_at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (jti) DO NOTHING",
                    )
                    .bind(jti)
                    .bind(app_id)
                    .bind(now)
                    .bind(expires_at)
                    .execute(&self.pool)
                    .await?;
                    Ok(done.rows_affected() == 1)
                }

                async fn idempotency_get(
                    &self,
                    app_id: i64,
                    key: &str,
                ) -> Result<Option<IdempotentAnswer>, StoreError> {
                    let row = sqlx::query(
                        "SELECT request_hash, status, response FROM idempotency_key \
                         WHERE app_id = $1 AND key = $2",
                    )
                    .bind(app_id)
                    .bind(key)
                    .fetch_optional(&self.pool)
                    .await?;
                    row.map(|row| {
                        let status: i64 = row.try_get("status")?;
                        Ok(IdempotentAnswer {
                            request_hash: row.try_get("request_hash")?,
                            status: u16::try_from(status).map_err(|_| StoreError::Corrupt("status"))?,
                            response: row.try_get("response")?,
                        })
                    })
                    .transpose()
                }

                async fn idempotency_put(
                    &self,
                    app_id: i64,
                    key: &str,
                    answer: &IdempotentAnswer,
                    now: i64,
                ) -> Result<bool, StoreError> {
                    let done = sqlx::query(
                        "INSERT INTO idempotency_key (app_id, key, request_hash, status, response, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (app_id, key) DO NOTHING",
                    )
                    .bind(app_id)
                    .bind(key)
                    .bind(&answer.request_hash)
                    .bind(i64::from(answer.status))
                    .bind(&answer.response)
                    .bind(now)
                    .execute(&self.pool)
                    .await?;
                    Ok(done.rows_affected() == 1)
                }

                async fn find_inbound(
                    &self,
                    inbound_key: &[u8],
                    now: i64,
                ) -> Result<Option<(String, VerificationRecord)>, StoreError> {
                    let sql = format!(
                        "SELECT {VERIFICATION_COLUMNS}, \
                         (SELECT app.namespace FROM app WHERE app.app_id = verification.app_id) AS namespace \
                         FROM verification WHERE inbound_key = $1 AND status = 'pending' \
                           AND expires_at > $2 AND superseded_at IS NULL"
                    );
                    let row = sqlx::query(&sql)
                        .bind(inbound_key)
                        .bind(now)
                        .fetch_optional(&self.pool)
                        .await?;
                    row.map(|row| Ok((row.try_get("namespace")?, verification_from_row(&row)?)))
                        .transpose()
                }

                async fn claim_inbound_message(
                    &self,
                    provider: &str,
                    message_id: &str,
                    now: i64,
                ) -> Result<bool, StoreError> {
                    let done = sqlx::query(
                        "INSERT INTO inbound_message (provider, message_id, received_at) \
                         VALUES ($1, $2, $3) ON CONFLICT (provider, message_id) DO NOTHING",
                    )
                    .bind(provider)
                    .bind(message_id)
                    .bind(now)
                    .execute(&self.pool)
                    .await?;
                    Ok(done.rows_affected() == 1)
                }

                async fn set_inbound_sender(
                    &self,
                    verification_id: i64,
                    address: &str,
                    now: i64,
                ) -> Result<bool, StoreError> {
                    let done = sqlx::query(
                        "UPDATE verification SET address = $1, updated_at = $2 \
                         WHERE verification_id = $3 AND status = 'pending' \
                           AND (address = '' OR address = $1)",
                    )
                    .bind(address)
                    .bind(now)
                    .bind(verification_id)
                    .execute(&self.pool)
                    .await?;
                    self.views.forget(verification_id);
                    Ok(done.rows_affected() == 1)
                }

                async fn events_after(&self, after: i64, limit: u32) -> Result<Vec<EventRow>, StoreError> {
                    let rows = sqlx::query(
                        "SELECT event_id, verification_id, kind, detail FROM event \
                         WHERE event_id > $1 ORDER BY event_id LIMIT $2",
                    )
                    .bind(after)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                    rows.iter()
                        .map(|row| {
                            Ok(EventRow {
                                event_id: row.try_get("event_id")?,
                                verification_id: row.try_get("verification_id")?,
                                kind: row.try_get("kind")?,
                                detail: row.try_get("detail")?,
                            })
                        })
                        .collect()
                }

                async fn event_signal(
                    &self,
                ) -> Result<Option<std::sync::Arc<tokio::sync::Notify>>, StoreError> {
                    self.listen_for_events().await
                }

                async fn last_event_id(&self) -> Result<i64, StoreError> {
                    Ok(sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(event_id) FROM event")
                        .fetch_one(&self.pool)
                        .await?
                        .unwrap_or(0))
                }

                async fn verification_by_id(
                    &self,
                    verification_id: i64,
                ) -> Result<Option<(String, VerificationRecord)>, StoreError> {
                    let sql = format!(
                        "SELECT {VERIFICATION_COLUMNS}, \
                         (SELECT app.namespace FROM app WHERE app.app_id = verification.app_id) AS namespace \
                         FROM verification WHERE verification_id = $1"
                    );
                    let row = sqlx::query(&sql)
                        .bind(verification_id)
                        .fetch_optional(&self.pool)
                        .await?;
                    row.map(|row| Ok((row.try_get("namespace")?, verification_from_row(&row)?)))
                        .transpose()
                }

                async fn event_kinds(&self, verification_id: i64) -> Result<Vec<String>, StoreError> {
                    Ok(sqlx::query_scalar(
                        "SELECT kind FROM event WHERE verification_id = $1 ORDER BY event_id",
                    )
                    .bind(verification_id)
                    .fetch_all(&self.pool)
                    .await?)
                }
            }
        };
    };
}

pub(super) use sql_store;
