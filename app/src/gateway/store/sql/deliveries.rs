//! The outbox and what queues into it. The SQL of [`DeliveryStore`](crate::gateway::store::DeliveryStore), expanded by
//! `sql_store!` inside its block, where the row readers and imports are.

/// Implements [`DeliveryStore`](crate::gateway::store::DeliveryStore) for `$store`.
macro_rules! sql_deliveries {
    ($store:ty, $skip_locked:expr) => {
        #[async_trait]
        impl DeliveryStore for $store {
            async fn count_sends(
                &self,
                keys: &[String],
                window_start: i64,
                counted: &[i64],
            ) -> Result<Vec<i64>, StoreError> {
                if keys.is_empty() && counted.is_empty() {
                    return Ok(Vec::new());
                }
                if let Some(writer) = self.direct() {
                    return writer.count_sends(keys, window_start, counted).await;
                }
                // Each key once, with its number of hits: one statement may not raise a row
                // twice.
                let mut named = std::collections::BTreeMap::<&str, i64>::new();
                for key in keys {
                    *named.entry(key.as_str()).or_default() += 1;
                }
                let each: Vec<_> = named
                    .iter()
                    .map(|(key, n)| serde_json::json!({ "key": key, "n": n }))
                    .collect();
                // The marks ride on the same statement (data-modifying `WITH`).
                let sql = format!(
                    "WITH m AS (UPDATE delivery SET send_counted = true WHERE delivery_id {}) \
                     {HIT_EACH}",
                    Self::one_of(Self::IDS)
                );
                let mut tx = self.write_one().await?;
                let rows: Vec<(String, i64)> = sqlx::query_as(&sql)
                    .persistent(Self::KEEP_PLANS)
                    .bind(serde_json::Value::Array(each).to_string())
                    .bind(window_start)
                    .bind(serde_json::to_string(counted).expect("numbers serialise"))
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                let totals: std::collections::HashMap<String, i64> = rows.into_iter().collect();
                // The k-th naming of a key is answered as its k-th hit would have been.
                let mut hit = std::collections::HashMap::<&str, i64>::new();
                keys.iter()
                    .map(|key| {
                        let total = *totals.get(key).ok_or(StoreError::Corrupt("rate_bucket"))?;
                        let k = hit.entry(key.as_str()).or_default();
                        *k += 1;
                        Ok(total - named[key.as_str()] + *k)
                    })
                    .collect()
            }

            async fn outbox_depth(&self) -> Result<(i64, Option<i64>), StoreError> {
                Ok(sqlx::query_as(
                    "SELECT COUNT(*), MIN(next_attempt_at) FROM delivery \
                     WHERE status IN ('queued', 'sending')",
                )
                .fetch_one(&self.pool)
                .await?)
            }

            async fn claim_resend(
                &self,
                verification_id: i64,
                cooldown_ms: i64,
                now: i64,
                delivery: &NewDelivery,
            ) -> Result<Option<VerificationRecord>, StoreError> {
                let mut tx = self.write_tx().await?;
                let sql = format!(
                    "UPDATE verification SET sends = sends + 1, last_sent_at = $1, updated_at = $1 \
                     WHERE verification_id = $2 AND status = 'pending' AND expires_at > $1 \
                       AND sends < max_sends AND address <> '' \
                       AND (last_sent_at IS NULL OR last_sent_at <= $1 - $3) \
                     RETURNING {VERIFICATION_COLUMNS}"
                );
                let row = sqlx::query(&sql)
                    .bind(now)
                    .bind(verification_id)
                    .bind(cooldown_ms)
                    .fetch_optional(&mut *tx)
                    .await?;
                let record = changed_and_queued(&mut tx, row, delivery, now).await?;
                tx.commit().await?;
                self.views.forget(verification_id);
                Ok(record)
            }

            async fn claim_address(
                &self,
                verification_id: i64,
                address: &str,
                address_key: &[u8],
                now: i64,
                delivery: &NewDelivery,
            ) -> Result<Option<VerificationRecord>, StoreError> {
                let mut tx = self.write_tx().await?;
                let sql = format!(
                    "UPDATE verification SET address = $1, sends = sends + 1, last_sent_at = $2, \
                     updated_at = $2, country = $4, address_key = $5 \
                     WHERE verification_id = $3 AND status = 'pending' AND expires_at > $2 \
                       AND address = '' AND sends < max_sends \
                     RETURNING {VERIFICATION_COLUMNS}"
                );
                let row = sqlx::query(&sql)
                    .bind(address)
                    .bind(now)
                    .bind(verification_id)
                    .bind(country_prefix(address))
                    .bind(address_key)
                    .fetch_optional(&mut *tx)
                    .await?;
                let record = changed_and_queued(&mut tx, row, delivery, now).await?;
                if record.is_some() {
                    insert_event(&mut tx, verification_id, "address_set", "{}", now).await?;
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
                let mut tx = self.write_tx().await?;
                let sends = i64::from(delivery.is_some());
                let sql = format!(
                    "UPDATE verification SET provider = $1, channel = $2, address = $3, \
                     code_hmac = $4, code_sealed = $5, code_length = $6, code_alphabet = $7, \
                     inbound_key = $8, sends = sends + $9, updated_at = $10, \
                     last_sent_at = CASE WHEN $9 > 0 THEN $10 ELSE last_sent_at END, country = $13, \
                     address_key = $14 \
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
                    .bind(country_prefix(&s.address))
                    .bind(&s.address_key)
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
                insert_event(&mut tx, verification_id, "channel_switched", &detail.to_string(), s.now)
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
                let rows = match self.direct() {
                    Some(writer) => writer.claim(&sql, owner, lease_until, now, limit).await?,
                    None => {
                        // PostgreSQL: the due rows in index order, stopping at the limit,
                        // whatever the statistics say. On a table that grew since it was
                        // last analysed, the planner picks a bitmap scan and a sort of every
                        // due row instead, milliseconds a claim with a backlog, which grows
                        // the backlog.
                        let mut tx = self.write_tx().await?;
                        sqlx::query(
                            "SELECT set_config('enable_bitmapscan', 'off', true), \
                             set_config('enable_seqscan', 'off', true)",
                        )
                        .execute(&mut *tx)
                        .await?;
                        let rows = sqlx::query_as(&sql)
                            .bind(owner)
                            .bind(lease_until)
                            .bind(now)
                            .bind(i64::from(limit))
                            .fetch_all(&mut *tx)
                            .await?;
                        tx.commit().await?;
                        rows
                    }
                };
                if rows.is_empty() {
                    return Ok(Vec::new());
                }
                // The verifications behind the rows this claim took that are still its own
                // (a channel switch may have dropped one since), in one read that finds
                // each row by its id.
                let lookup = format!(
                    "SELECT {VERIFICATION_COLUMNS}, \
                     (SELECT app.namespace FROM app WHERE app.app_id = verification.app_id) AS namespace, \
                     (SELECT app.name FROM app WHERE app.app_id = verification.app_id) AS app_name, \
                     (SELECT app.providers_rev FROM app WHERE app.app_id = verification.app_id) \
                       AS providers_rev, \
                     (SELECT app.templates_rev FROM app WHERE app.app_id = verification.app_id) \
                       AS templates_rev \
                     FROM verification WHERE verification_id {}",
                    Self::one_of(&format!(
                        "SELECT d.verification_id FROM delivery d WHERE d.delivery_id {} \
                         AND d.lease_owner = $1 AND d.lease_until = $2 AND d.status = 'sending'",
                        Self::one_of(Self::IDS)
                    ))
                );
                let ids: Vec<i64> = rows.iter().map(|row| row.0).collect();
                let ids = serde_json::to_string(&ids).expect("numbers serialise");
                // Each verification with its app's namespace, name and revisions.
                type Behind = (VerificationRecord, String, String, i64, i64);
                let behind: Vec<Behind> = match self.readers() {
                        Some(readers) => readers.rows(&lookup, &[&owner, &lease_until, &ids], |v| {
                            Ok((
                                super::sql::verification_record!(
                                    super::readers::Leading::new(v),
                                    get
                                )?,
                                v.get("namespace")?,
                                v.get("app_name")?,
                                v.get("providers_rev")?,
                                v.get("templates_rev")?,
                            ))
                        })?,
                        None => sqlx::query(&lookup)
                            .bind(owner)
                            .bind(lease_until)
                            .bind(ids)
                            .fetch_all(&self.pool)
                            .await?
                            .iter()
                            .map(|v| {
                                Ok((
                                    verification_from_row(v)?,
                                    v.try_get("namespace")?,
                                    v.try_get("app_name")?,
                                    v.try_get("providers_rev")?,
                                    v.try_get("templates_rev")?,
                                ))
                            })
                            .collect::<Result<_, StoreError>>()?,
                    };
                let mut behind: std::collections::HashMap<_, _> = behind
                    .into_iter()
                    .map(|v| (v.0.verification_id, v))
                    .collect();
                let mut claimed = Vec::with_capacity(rows.len());
                for (delivery_id, verification_id, route, route_index, attempts, address, send_counted) in rows {
                    // No longer this worker's to send.
                    let Some((verification, namespace, app_name, providers_rev, templates_rev)) =
                        behind.remove(&verification_id)
                    else {
                        continue;
                    };
                    let route: Vec<String> = serde_json::from_str(&route)
                        .map_err(|_| StoreError::Corrupt("delivery.route"))?;
                    claimed.push(ClaimedDelivery {
                        delivery_id,
                        route,
                        route_index: counter(route_index, "route_index")?,
                        attempts: counter(attempts, "delivery.attempts")?,
                        send_counted,
                        sends: None,
                        address,
                        verification,
                        namespace,
                        app_name,
                        providers_rev,
                        templates_rev,
                    });
                }
                Ok(claimed)
            }

            async fn settle_keeping(
                &self,
                delivery_id: i64,
                owner: &str,
                outcome: &DeliveryOutcome,
                kept: Option<&DevMessage>,
                events: &[(&str, &str)],
                now: i64,
            ) -> Result<bool, StoreError> {
                // In the backend's group commit: SQLite's writer, PostgreSQL's batches.
                let settled = self
                    .settle_in_batch(delivery_id, owner, outcome, kept, events, now)
                    .await?;
                if settled && !events.is_empty() {
                    self.events_added();
                }
                Ok(settled)
            }

            async fn release_deliveries(&self, owner: &str, now: i64) -> Result<u64, StoreError> {
                let mut tx = self.write_one().await?;
                let done = sqlx::query(
                    "UPDATE delivery SET status = 'queued', lease_owner = NULL, lease_until = NULL, \
                     next_attempt_at = $2, updated_at = $2 \
                     WHERE lease_owner = $1 AND status = 'sending'",
                )
                .bind(owner)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(done.rows_affected())
            }

            async fn record_receipt(
                &self,
                provider: &str,
                message_id: &str,
                status: &str,
                now: i64,
                app_id: Option<i64>,
            ) -> Result<Option<(i64, Option<i64>)>, StoreError> {
                let mut tx = self.write_one().await?;
                // Whose provider sent it: an app's own (that app's), or the server's (no
                // app with an own provider of that id), so one tenant's signed receipts
                // never reach another's messages.
                let own = "EXISTS (SELECT 1 FROM verification v JOIN app_provider p \
                     ON p.app_id = v.app_id AND p.provider_id = delivery.provider \
                     WHERE v.verification_id = delivery.verification_id \
                       AND v.app_id = $5)";
                let server = "NOT EXISTS (SELECT 1 FROM verification v JOIN app_provider p \
                     ON p.app_id = v.app_id AND p.provider_id = delivery.provider \
                     WHERE v.verification_id = delivery.verification_id)";
                let sql = format!(
                    "UPDATE delivery SET receipt_status = $3, updated_at = $4 \
                     WHERE provider = $1 AND provider_message_id = $2 \
                       AND (receipt_status IS NULL OR receipt_status <> $3) AND {} \
                     RETURNING verification_id, sent_at",
                    if app_id.is_some() { own } else { server }
                );
                let query = sqlx::query_as::<_, (i64, Option<i64>)>(&sql)
                    .bind(provider)
                    .bind(message_id)
                    .bind(status)
                    .bind(now);
                let query = match app_id {
                    Some(app) => query.bind(app),
                    None => query,
                };
                let settled = query.fetch_optional(&mut *tx).await?;
                tx.commit().await?;
                Ok(settled)
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

            async fn capture_message(&self, m: &DevMessage) -> Result<i64, StoreError> {
                if let Some(writer) = self.direct() {
                    return writer.capture_message(m).await;
                }
                let mut tx = self.write_tx().await?;
                let id: i64 = sqlx::query_scalar(CAPTURE_MESSAGE)
                    .bind(m.app_id)
                    .bind(&m.public_id)
                    .bind(&m.provider)
                    .bind(&m.channel)
                    .bind(&m.address)
                    .bind(&m.subject)
                    .bind(&m.body)
                    .bind(m.created_at)
                    .fetch_one(&mut *tx)
                    .await?;
                sqlx::query(TRIM_INBOX)
                    .bind(m.app_id)
                    .bind(id)
                    .bind(DEV_INBOX_SIZE)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(id)
            }

            async fn dev_messages(&self, app_id: i64) -> Result<Vec<DevMessage>, StoreError> {
                let rows = sqlx::query(
                    "SELECT dev_message_id, app_id, public_id, provider, channel, address, \
                            subject, body, created_at \
                     FROM dev_message WHERE app_id = $1 \
                     ORDER BY dev_message_id DESC LIMIT $2",
                )
                .bind(app_id)
                .bind(DEV_INBOX_SIZE)
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|row| {
                        Ok(DevMessage {
                            dev_message_id: row.try_get("dev_message_id")?,
                            app_id: row.try_get("app_id")?,
                            public_id: row.try_get("public_id")?,
                            provider: row.try_get("provider")?,
                            channel: row.try_get("channel")?,
                            address: row.try_get("address")?,
                            subject: row.try_get("subject")?,
                            body: row.try_get("body")?,
                            created_at: row.try_get("created_at")?,
                        })
                    })
                    .collect()
            }
        }
    };
}

pub(in crate::gateway::store) use sql_deliveries;
