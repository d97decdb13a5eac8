//! Event webhooks' endpoints and messages. The SQL of
//! [`WebhookStore`](crate::gateway::store::WebhookStore), expanded by `sql_store!` inside
//! its block, where the row readers and imports are.

/// `,a,b,` for a list, as the trigger on `event` matches it.
pub(in crate::gateway::store) fn commas(list: &[String]) -> String {
    format!(",{},", list.join(","))
}

/// The columns of `webhook_message m` (with its endpoint `w`) the delivery log reads.
pub(in crate::gateway::store) const MESSAGE_COLUMNS: &str =
    "m.message_id, m.webhook_id, w.url, m.status, m.attempts, m.event_type, m.last_status, \
     m.last_error, m.next_attempt_at, m.created_at, m.updated_at";

/// The list `commas` wrote.
pub(in crate::gateway::store) fn uncommas(text: &str) -> Vec<String> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Implements [`WebhookStore`](crate::gateway::store::WebhookStore) for `$store`;
/// `$skip_locked` as for deliveries.
macro_rules! sql_webhooks {
    ($store:ty, $skip_locked:expr) => {
        fn webhook_message_from_row(row: &DbRow) -> Result<WebhookMessage, StoreError> {
            Ok(WebhookMessage {
                message_id: row.try_get("message_id")?,
                webhook_id: row.try_get("webhook_id")?,
                url: row.try_get("url")?,
                status: row.try_get("status")?,
                attempts: counter(row.try_get("attempts")?, "attempts")?,
                event_type: row.try_get("event_type")?,
                last_status: row.try_get("last_status")?,
                last_error: row.try_get("last_error")?,
                next_attempt_at: row.try_get("next_attempt_at")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
            })
        }

        #[async_trait]
        impl WebhookStore for $store {
            async fn app_webhooks(&self, app_id: i64) -> Result<Vec<WebhookRecord>, StoreError> {
                let rows = sqlx::query(
                    "SELECT webhook_id, app_id, url, events, sealed, created_at FROM app_webhook \
                     WHERE app_id = $1 ORDER BY webhook_id",
                )
                .bind(app_id)
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|row| {
                        Ok(WebhookRecord {
                            webhook_id: row.try_get("webhook_id")?,
                            app_id: row.try_get("app_id")?,
                            url: row.try_get("url")?,
                            events: uncommas(&row.try_get::<String, _>("events")?),
                            sealed: row.try_get("sealed")?,
                            created_at: row.try_get("created_at")?,
                        })
                    })
                    .collect()
            }

            async fn add_webhook(&self, w: &NewWebhook, now: i64) -> Result<i64, StoreError> {
                let mut tx = self.write_one().await?;
                let row = sqlx::query(
                    "INSERT INTO app_webhook (app_id, url, events, kinds, sealed, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING webhook_id",
                )
                .bind(w.app_id)
                .bind(&w.url)
                .bind(commas(&w.events))
                .bind(commas(&w.kinds))
                .bind(&w.sealed)
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(dangling)?;
                tx.commit().await?;
                Ok(row.try_get("webhook_id")?)
            }

            async fn delete_webhook(
                &self,
                app_id: i64,
                webhook_id: i64,
            ) -> Result<bool, StoreError> {
                let mut tx = self.write_tx().await?;
                let owned = sqlx::query(
                    "SELECT webhook_id FROM app_webhook WHERE webhook_id = $1 AND app_id = $2",
                )
                .bind(webhook_id)
                .bind(app_id)
                .fetch_optional(&mut *tx)
                .await?;
                if owned.is_none() {
                    return Ok(false);
                }
                sqlx::query("DELETE FROM webhook_message WHERE webhook_id = $1")
                    .bind(webhook_id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM app_webhook WHERE webhook_id = $1")
                    .bind(webhook_id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn webhook_messages(
                &self,
                app_id: i64,
                limit: i64,
            ) -> Result<Vec<WebhookMessage>, StoreError> {
                let rows = sqlx::query(&format!(
                    "SELECT {MESSAGE_COLUMNS} \
                     FROM webhook_message m JOIN app_webhook w ON w.webhook_id = m.webhook_id \
                     WHERE w.app_id = $1 AND m.status <> 'skipped' \
                     ORDER BY m.message_id DESC LIMIT $2"
                ))
                .bind(app_id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(webhook_message_from_row).collect()
            }

            async fn webhook_messages_of(
                &self,
                verification_id: i64,
            ) -> Result<Vec<WebhookMessage>, StoreError> {
                let rows = sqlx::query(&format!(
                    "SELECT {MESSAGE_COLUMNS} \
                     FROM webhook_message m JOIN app_webhook w ON w.webhook_id = m.webhook_id \
                     WHERE m.status <> 'skipped' AND m.event_id IN \
                       (SELECT event_id FROM event WHERE verification_id = $1) \
                     ORDER BY m.message_id"
                ))
                .bind(verification_id)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(webhook_message_from_row).collect()
            }

            async fn claim_webhook_messages(
                &self,
                owner: &str,
                now: i64,
                lease_until: i64,
                limit: u32,
            ) -> Result<Vec<ClaimedWebhook>, StoreError> {
                let sql = format!(
                    "UPDATE webhook_message SET lease_owner = $1, lease_until = $2, \
                     attempts = attempts + 1, updated_at = $3 \
                     WHERE message_id IN (SELECT message_id FROM webhook_message \
                       WHERE status = 'pending' AND next_attempt_at <= $3 \
                         AND (lease_until IS NULL OR lease_until <= $3) \
                       ORDER BY next_attempt_at LIMIT $4 {})",
                    $skip_locked
                );
                let mut tx = self.write_one().await?;
                let taken = sqlx::query(&sql)
                    .bind(owner)
                    .bind(lease_until)
                    .bind(now)
                    .bind(i64::from(limit))
                    .execute(&mut *tx)
                    .await?;
                if taken.rows_affected() == 0 {
                    tx.commit().await?;
                    return Ok(Vec::new());
                }
                let rows = sqlx::query(
                    "SELECT m.message_id, m.webhook_id, m.attempts, m.payload, m.event_type, \
                       w.app_id, w.url, w.events, w.sealed, e.event_id, e.kind, e.detail, \
                       e.created_at AS event_at, v.public_id, v.channel, v.address, a.namespace \
                     FROM webhook_message m \
                     JOIN app_webhook w ON w.webhook_id = m.webhook_id \
                     JOIN app a ON a.app_id = w.app_id \
                     LEFT JOIN event e ON e.event_id = m.event_id \
                     LEFT JOIN verification v ON v.verification_id = e.verification_id \
                     WHERE m.lease_owner = $1 AND m.lease_until = $2 AND m.status = 'pending'",
                )
                .bind(owner)
                .bind(lease_until)
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                rows.iter()
                    .map(|row| {
                        let event_id: Option<i64> = row.try_get("event_id")?;
                        let public_id: Option<String> = row.try_get("public_id")?;
                        let event = match (event_id, public_id) {
                            (Some(event_id), Some(public_id)) => Some(WebhookEvent {
                                event_id,
                                kind: row.try_get("kind")?,
                                detail: row.try_get("detail")?,
                                created_at: row.try_get("event_at")?,
                                namespace: row.try_get("namespace")?,
                                public_id,
                                channel: row.try_get("channel")?,
                                address: row.try_get("address")?,
                            }),
                            _ => None,
                        };
                        Ok(ClaimedWebhook {
                            message_id: row.try_get("message_id")?,
                            webhook_id: row.try_get("webhook_id")?,
                            app_id: row.try_get("app_id")?,
                            url: row.try_get("url")?,
                            events: uncommas(&row.try_get::<String, _>("events")?),
                            sealed: row.try_get("sealed")?,
                            attempts: counter(row.try_get("attempts")?, "attempts")?,
                            payload: row.try_get("payload")?,
                            event_type: row.try_get("event_type")?,
                            event,
                        })
                    })
                    .collect()
            }

            async fn settle_webhook_message(
                &self,
                message_id: i64,
                owner: &str,
                event_type: Option<&str>,
                payload: Option<&str>,
                outcome: &WebhookOutcome,
                now: i64,
            ) -> Result<bool, StoreError> {
                let mut tx = self.write_one().await?;
                let (status, code, error, next) = match outcome {
                    WebhookOutcome::Delivered { status } => {
                        ("delivered", Some(i64::from(*status)), None, now)
                    }
                    WebhookOutcome::Retry {
                        status,
                        error,
                        next_attempt_at,
                    } => (
                        "pending",
                        status.map(i64::from),
                        Some(error.as_str()),
                        *next_attempt_at,
                    ),
                    WebhookOutcome::Dead { status, error } => {
                        ("dead", status.map(i64::from), Some(error.as_str()), now)
                    }
                    WebhookOutcome::Skipped => ("skipped", None, None, now),
                };
                let done = sqlx::query(
                    "UPDATE webhook_message SET status = $1, last_status = $2, last_error = $3, \
                     next_attempt_at = $4, event_type = COALESCE($5, event_type), \
                     payload = COALESCE($6, payload), lease_owner = NULL, lease_until = NULL, \
                     updated_at = $7 \
                     WHERE message_id = $8 AND lease_owner = $9 AND status = 'pending'",
                )
                .bind(status)
                .bind(code)
                .bind(error)
                .bind(next)
                .bind(event_type)
                .bind(payload)
                .bind(now)
                .bind(message_id)
                .bind(owner)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(done.rows_affected() == 1)
            }

            async fn replay_webhook_message(
                &self,
                app_id: i64,
                message_id: i64,
                now: i64,
            ) -> Result<bool, StoreError> {
                let mut tx = self.write_one().await?;
                let done = sqlx::query(
                    "UPDATE webhook_message SET status = 'pending', attempts = 0, \
                     next_attempt_at = $1, lease_owner = NULL, lease_until = NULL, updated_at = $1 \
                     WHERE message_id = $2 AND status IN ('delivered', 'dead') \
                       AND webhook_id IN (SELECT webhook_id FROM app_webhook WHERE app_id = $3)",
                )
                .bind(now)
                .bind(message_id)
                .bind(app_id)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(done.rows_affected() == 1)
            }
        }
    };
}

pub(in crate::gateway::store) use sql_webhooks;
