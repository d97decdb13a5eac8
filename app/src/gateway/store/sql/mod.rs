//! The SQL shared by both backends. Statements use `$N` placeholders, which SQLite and
//! PostgreSQL both accept, and only portable SQL (`RETURNING`, partial indexes, `CASE`), so
//! one text serves both; the macros instantiate it for each driver's types: `sql_store!`
//! here (shared row readers and `ping`), and one macro per table group beside it.

/// Columns of `verification`, in the order `verification_from_row` reads them.
pub(super) const VERIFICATION_COLUMNS: &str = "verification_id, app_id, public_id, provider, \
    channel, address, channel_description, address_description, code_hmac, code_length, \
    code_alphabet, attempts, max_attempts, sends, max_sends, status, extra, created_at, \
    expires_at, verified_at, retired_at, code_sealed, last_sent_at, redirect_url, state, locale, \
    intent";

/// The current verification with public id `$2` in app `$1`.
pub(super) static FIND_VERIFICATION: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT {VERIFICATION_COLUMNS} FROM verification \
         WHERE app_id = $1 AND public_id = $2 AND superseded_at IS NULL"
    )
});

/// The columns a new verification's row is written with, in the order
/// `INSERT_VERIFICATION` binds them and PostgreSQL's batch (`pg_batch.rs`) selects them.
pub(super) const INSERT_VERIFICATION_COLUMNS: &str = "app_id, public_id, provider, channel, \
     address, channel_description, address_description, code_hmac, code_length, code_alphabet, \
     max_attempts, sends, max_sends, extra, created_at, updated_at, expires_at, code_sealed, \
     last_sent_at, redirect_url, state, locale, inbound_key, country, address_key, intent";

/// A new verification's row (SQLite's direct writer binds its values).
pub(super) static INSERT_VERIFICATION: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| {
        format!(
            "INSERT INTO verification ({INSERT_VERIFICATION_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15, $16, \
             $17, CASE WHEN $12 > 0 THEN $15 ELSE NULL END, $18, $19, $20, $21, $22, $23, $24)"
        )
    });

/// Columns of `app`, in the order `app_from_row` reads them.
pub(super) const APP_COLUMNS: &str =
    "app_id, namespace, name, echo_code, redirect_urls, tenant_id, settings, declared, \
     providers_rev";

/// Reads a counter stored as a 64-bit integer.
pub(super) fn counter(value: i64, column: &'static str) -> Result<u32, super::StoreError> {
    u32::try_from(value).map_err(|_| super::StoreError::Corrupt(column))
}

/// A `VerificationRecord` from a row of `VERIFICATION_COLUMNS`, read by name with `$get`
/// (sqlx's `try_get`, rusqlite's `get`): one mapping for both drivers.
macro_rules! verification_record {
    ($row:expr, $get:ident) => {{
        let row = $row;
        let status: String = row.$get("status")?;
        Ok::<_, StoreError>(VerificationRecord {
            verification_id: row.$get("verification_id")?,
            app_id: row.$get("app_id")?,
            public_id: row.$get("public_id")?,
            provider: row.$get("provider")?,
            channel: row.$get("channel")?,
            address: row.$get("address")?,
            channel_description: row.$get("channel_description")?,
            address_description: row.$get("address_description")?,
            code_hmac: row.$get("code_hmac")?,
            code_length: counter(row.$get("code_length")?, "code_length")?,
            code_alphabet: row.$get("code_alphabet")?,
            attempts: counter(row.$get("attempts")?, "attempts")?,
            max_attempts: counter(row.$get("max_attempts")?, "max_attempts")?,
            sends: counter(row.$get("sends")?, "sends")?,
            max_sends: counter(row.$get("max_sends")?, "max_sends")?,
            status: Status::parse(&status).ok_or(StoreError::Corrupt("verification.status"))?,
            extra: row.$get("extra")?,
            created_at: row.$get("created_at")?,
            expires_at: row.$get("expires_at")?,
            verified_at: row.$get("verified_at")?,
            retired_at: row.$get("retired_at")?,
            code_sealed: row.$get("code_sealed")?,
            last_sent_at: row.$get("last_sent_at")?,
            redirect_url: row.$get("redirect_url")?,
            state: row.$get("state")?,
            locale: row.$get("locale")?,
            intent: row.$get("intent")?,
        })
    }};
}
pub(super) use verification_record;

pub(super) fn unique_violation(err: sqlx::Error) -> super::StoreError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => super::StoreError::Conflict,
        _ => super::StoreError::Database(err),
    }
}

/// A foreign key naming a row that does not exist is [`Dangling`](super::StoreError::Dangling).
pub(super) fn dangling(err: sqlx::Error) -> super::StoreError {
    match &err {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => super::StoreError::Dangling,
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

/// A rate bucket's hits in the window starting at `$2` (no row: none).
pub(super) const PEEK: &str =
    "SELECT hits FROM rate_bucket WHERE bucket_key = $1 AND window_start = $2";

/// PostgreSQL: `HIT` on each key of the JSON array `$1` (`{"key", "n"}` objects, each
/// key once, `n` hits), in the window starting at `$2`, in key order (so concurrent
/// writers lock buckets in the same order); answers `bucket_key, hits` for each.
pub(super) const HIT_EACH: &str = "INSERT INTO rate_bucket (bucket_key, window_start, hits) \
     SELECT x.key, $2, x.n FROM jsonb_to_recordset($1::jsonb) AS x(key text, n bigint) \
     ORDER BY x.key \
     ON CONFLICT (bucket_key) DO UPDATE SET \
       hits = CASE WHEN rate_bucket.window_start = excluded.window_start \
              THEN rate_bucket.hits + excluded.hits ELSE excluded.hits END, \
       window_start = excluded.window_start \
     RETURNING bucket_key, hits";

/// Counts one attempt at a verification in status `$3` (pending, or verified and kept) that
/// is unexpired, not retired and has attempts left.
pub(super) const COUNT_ATTEMPT: &str =
    "UPDATE verification SET attempts = attempts + 1, updated_at = $1 \
     WHERE verification_id = $2 AND status = $3 AND expires_at > $1 \
       AND retired_at IS NULL AND attempts < max_attempts \
     RETURNING attempts, max_attempts, code_hmac, created_at";

/// Consumes a pending verification: exactly one row changes, once.
pub(super) const CONSUME: &str = "UPDATE verification SET status = 'verified', verified_at = $1, \
     updated_at = $1, retired_at = CASE WHEN $2 THEN $1 ELSE NULL END \
     WHERE verification_id = $3 AND status = 'pending' AND verified_at IS NULL";

/// Confirms a kept verified record again; retires it when `$2`.
pub(super) const RECONFIRM: &str = "UPDATE verification SET updated_at = $1, \
     retired_at = CASE WHEN $2 THEN $1 ELSE NULL END \
     WHERE verification_id = $3 AND status = 'verified' AND retired_at IS NULL";

/// Moves a pending verification to a terminal status.
pub(super) const FINISH: &str = "UPDATE verification SET status = $1, updated_at = $2 \
     WHERE verification_id = $3 AND status = 'pending'";

/// `events` (kind, detail) as PostgreSQL's batched settle takes them (`pg_batch.rs`), each
/// with the provider and tags [`EVENT`] records.
pub(super) fn events_json(events: &[(&str, &str)]) -> String {
    let rows: Vec<serde_json::Value> = events
        .iter()
        .map(|(kind, detail)| {
            let (provider, tags) = super::stats::counted_under(kind, detail);
            serde_json::json!({ "kind": kind, "detail": detail, "provider": provider, "tags": tags })
        })
        .collect();
    serde_json::Value::Array(rows).to_string()
}

/// Records an event with what it is counted under (see `store/stats.rs`): its
/// verification's app, channel and country now, the provider it names or else the
/// verification's, and its tags.
pub(super) const EVENT: &str = "INSERT INTO event \
     (verification_id, kind, detail, created_at, app_id, channel, provider, country, tags) \
     SELECT $1, $2, $3, $4, v.app_id, v.channel, COALESCE($5, v.provider), v.country, $6 \
     FROM verification v WHERE v.verification_id = $1";

/// Queues one outbox row for verification `$1` (route `$2` as JSON, address `$3`), due at
/// `$4`.
pub(super) const INSERT_DELIVERY: &str = "INSERT INTO delivery (verification_id, route, address, \
     next_attempt_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $4, $4)";

/// An outbox row as [`INSERT_DELIVERY`] writes it, leased at once to `$5` until `$6`
/// (see `NewDelivery::lease`): its first attempt is under way; `$7`: whether it was
/// counted against the send cap with it.
pub(super) const INSERT_LEASED_DELIVERY: &str = "INSERT INTO delivery (verification_id, route, \
     address, next_attempt_at, created_at, updated_at, status, lease_owner, lease_until, \
     attempts, send_counted) VALUES ($1, $2, $3, $4, $4, $4, 'sending', $5, $6, 1, $7)";

/// What the worker needs of app `$1` to send its message (`AppForSending`).
pub(super) const APP_FOR_SENDING: &str =
    "SELECT namespace, name, providers_rev, templates_rev FROM app WHERE app_id = $1";

/// Keeps a message in app `$1`'s dev inbox; answers its id.
pub(super) const CAPTURE_MESSAGE: &str = "INSERT INTO dev_message \
     (app_id, public_id, provider, channel, address, subject, body, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING dev_message_id";

/// Drops what falls out of app `$1`'s dev inbox (`$3` messages up to message `$2`).
pub(super) const TRIM_INBOX: &str =
    "DELETE FROM dev_message WHERE app_id = $1 AND dev_message_id <= $2 - $3";

/// Columns of `delivery` read when a worker claims rows (a `ClaimedRow`).
pub(super) const CLAIM_COLUMNS: &str =
    "delivery_id, verification_id, route, route_index, attempts, address, send_counted";

/// Marks delivery `$1` as counted against its address's send cap.
pub(super) const MARK_COUNTED: &str =
    "UPDATE delivery SET send_counted = true WHERE delivery_id = $1";

pub(super) mod apps;
pub(super) mod counters;
pub(super) mod deliveries;
pub(super) mod events;
pub(super) mod factors;
pub(super) mod guard;
pub(super) mod stats;
pub(super) mod tenants;
pub(super) mod verifications;
pub(super) mod webhooks;

/// Implements [`Store`](super::Store) for `$store`, whose field `pool` is a `Pool<$db>`.
/// `$skip_locked` ends the claim's row selection: `FOR UPDATE SKIP LOCKED` where the
/// database has it, nothing on SQLite (one writer at a time already). `$each_tag` is the table function that turns an
/// event's `tags` into rows `t(value)`.
macro_rules! sql_store {
    ($store:ty, $db:ty, $skip_locked:expr, $each_tag:expr) => {
        /// Records one event inside the caller's transaction (see `sql::EVENT`): outside
        /// the block below, so the backend's own module writes events with it too.
        async fn insert_event(
            conn: &mut <$db as sqlx::Database>::Connection,
            verification_id: i64,
            kind: &str,
            detail: &str,
            now: i64,
        ) -> Result<(), super::StoreError> {
            let (provider, tags) = super::stats::counted_under(kind, detail);
            sqlx::query(super::sql::EVENT)
                .bind(verification_id)
                .bind(kind)
                .bind(detail)
                .bind(now)
                .bind(provider)
                .bind(tags)
                .execute(&mut *conn)
                .await?;
            Ok(())
        }

        const _: () = {
            use super::sql::factors::FACTOR_COLUMNS;
            use super::sql::guard::{CHARGE_COUNTRY, CHARGE_TOTAL, HOLD_COLUMNS};
            use super::sql::stats::{roll_days_sql, MARK};
            use super::sql::tenants::{another_owner, MEMBER_COLUMNS};
            use super::sql::webhooks::{commas, uncommas, MESSAGE_COLUMNS};
            use super::sql::{
                counter, dangling, unique_violation, APP_COLUMNS, CAPTURE_MESSAGE, CLAIM_COLUMNS,
                CONSUME, FINISH, HIT, HIT_EACH, INSERT_DELIVERY, PEEK, TRIM_INBOX,
                VERIFICATION_COLUMNS,
            };
            use super::stats::{
                country_prefix, StatKey, StatsQuery, StatsStore, StatsSummary, DAY_MS, HOUR_MS,
            };
            use super::{
                ActiveSecret, AppProvider, AppRecord, AppStore, AppTemplate, Attempt,
                AttemptOutcome, AuditFilter, AuditRecord, ClaimedDelivery, CounterStore,
                DeliveryOutcome, DeliveryStore, DevMessage, EventRow, EventStore, HistoryQuery,
                HistoryRow, IdempotentAnswer, Inserted, InviteRecord, MemberRecord, NewAudit,
                NewDelivery, NewVerification, Reissue, Role, SecretRecord, SessionRecord, Store,
                StoreError, Switch, TenantRecord, TenantStore, TimelineEvent, VerificationRecord,
                VerificationStore, DEV_INBOX_SIZE,
            };
            use super::{Charge, Charged, GuardStore, HoldRecord, NewHold, RefusalKey, SpendRow};
            use super::{
                ClaimedWebhook, NewWebhook, WebhookEvent, WebhookMessage, WebhookOutcome,
                WebhookRecord, WebhookStore,
            };
            use super::{FactorRecord, FactorStore, MemberFactor, MemberFactorStore, NewFactor};
            use crate::gateway::code::CodeDigests;
            use crate::gateway::fraud::tally::{Counts, Scope, TallyKey};
            use crate::model::Status;
            use async_trait::async_trait;
            use sqlx::Row;

            type Db = $db;
            type DbRow = <$db as sqlx::Database>::Row;

            fn verification_from_row(row: &DbRow) -> Result<VerificationRecord, StoreError> {
                super::sql::verification_record!(row, try_get)
            }

            /// Moves app `app_id`'s `templates_rev` on, inside the caller's transaction that
            /// wrote one of its templates.
            async fn templates_moved(
                conn: &mut <$db as sqlx::Database>::Connection,
                app_id: i64,
            ) -> Result<(), StoreError> {
                sqlx::query("UPDATE app SET templates_rev = templates_rev + 1 WHERE app_id = $1")
                    .bind(app_id)
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            }

            /// Queues one outbox row, due at once, inside the caller's transaction.
            async fn insert_delivery(
                conn: &mut <$db as sqlx::Database>::Connection,
                verification_id: i64,
                delivery: &NewDelivery,
                now: i64,
            ) -> Result<(), StoreError> {
                let route = serde_json::to_string(&delivery.route).expect("strings serialise");
                sqlx::query(INSERT_DELIVERY)
                    .bind(verification_id)
                    .bind(route)
                    .bind(&delivery.address)
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            }

            /// The verification a conditional `UPDATE … RETURNING` gave back, if it changed
            /// one; then the message it sends goes into the outbox in the same transaction.
            async fn changed_and_queued(
                conn: &mut <$db as sqlx::Database>::Connection,
                row: Option<DbRow>,
                delivery: &NewDelivery,
                now: i64,
            ) -> Result<Option<VerificationRecord>, StoreError> {
                let Some(row) = row else { return Ok(None) };
                let record = verification_from_row(&row)?;
                insert_delivery(conn, record.verification_id, delivery, now).await?;
                Ok(Some(record))
            }

            fn app_from_row(row: &DbRow) -> Result<AppRecord, StoreError> {
                Ok(AppRecord {
                    app_id: row.try_get("app_id")?,
                    namespace: row.try_get("namespace")?,
                    name: row.try_get("name")?,
                    echo_code: row.try_get("echo_code")?,
                    redirect_urls: serde_json::from_str(
                        &row.try_get::<String, _>("redirect_urls")?,
                    )
                    .map_err(|_| StoreError::Corrupt("app.redirect_urls"))?,
                    tenant_id: row.try_get("tenant_id")?,
                    settings: serde_json::from_str(&row.try_get::<String, _>("settings")?)
                        .map_err(|_| StoreError::Corrupt("app.settings"))?,
                    declared: row.try_get("declared")?,
                    providers_rev: row.try_get("providers_rev")?,
                })
            }

            #[async_trait]
            impl Store for $store {
                async fn ping(&self) -> Result<(), StoreError> {
                    sqlx::query("SELECT 1").execute(&self.pool).await?;
                    Ok(())
                }

                fn pool_usage(&self) -> (u32, u32) {
                    let idle = u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX);
                    (self.pool.size().saturating_sub(idle), idle)
                }
            }

            super::sql::apps::sql_apps!($store);
            super::sql::verifications::sql_verifications!($store);
            super::sql::deliveries::sql_deliveries!($store, $skip_locked);
            super::sql::events::sql_events!($store);
            super::sql::factors::sql_factors!($store);
            super::sql::guard::sql_guard!($store);
            super::sql::counters::sql_counters!($store);
            super::sql::tenants::sql_tenants!($store, $db);
            super::sql::webhooks::sql_webhooks!($store, $skip_locked);
            super::sql::stats::sql_stats!($store, $each_tag);
        };
    };
}

pub(in crate::gateway::store) use sql_store;
