//! Verifications and their one-statement guarantees. The SQL of [`VerificationStore`](crate::gateway::store::VerificationStore), expanded by
//! `sql_store!` inside its block, where the row readers and imports are.

/// Implements [`VerificationStore`](crate::gateway::store::VerificationStore) for `$store`.
macro_rules! sql_verifications {
    ($store:ty) => {
        #[async_trait]
        impl VerificationStore for $store {
            async fn history(&self, q: &HistoryQuery) -> Result<Vec<HistoryRow>, StoreError> {
                if q.app_ids.is_empty() {
                    return Ok(Vec::new());
                }
                let mut b = sqlx::QueryBuilder::<Db>::new(
                    "SELECT v.verification_id, a.namespace, v.public_id, v.channel, v.provider, \
                     v.address, v.status, v.attempts, v.sends, v.created_at, v.updated_at \
                     FROM verification v JOIN app a ON a.app_id = v.app_id WHERE v.app_id IN (",
                );
                let mut apps = b.separated(", ");
                for app in &q.app_ids {
                    apps.push_bind(*app);
                }
                b.push(")");
                let text = [
                    (" AND v.status = ", &q.status),
                    (" AND v.channel = ", &q.channel),
                    (" AND v.provider = ", &q.provider),
                ];
                for (clause, value) in text {
                    if let Some(value) = value {
                        b.push(clause).push_bind(value.clone());
                    }
                }
                if let Some(id) = &q.public_id {
                    // The current verification of that id (the one its timeline shows),
                    // found through the unique index of current ids.
                    b.push(" AND v.superseded_at IS NULL AND v.public_id = ")
                        .push_bind(id.clone());
                }
                if let Some(from) = q.from {
                    b.push(" AND v.created_at >= ").push_bind(from);
                }
                if let Some(to) = q.to {
                    b.push(" AND v.created_at < ").push_bind(to);
                }
                if !q.address_keys.is_empty() {
                    b.push(" AND v.address_key IN (");
                    let mut keys = b.separated(", ");
                    for key in &q.address_keys {
                        keys.push_bind(key.clone());
                    }
                    b.push(")");
                }
                if let Some(m) = &q.masked {
                    // One `_` per hidden character. PostgreSQL's LIKE is exact, and its
                    // planner estimates how many rows the pattern keeps, so it walks the
                    // newest first and stops at a page; SQLite's LIKE ignores ASCII case,
                    // so there the start and end are compared as well (its planner walks
                    // the history index either way).
                    b.push(" AND v.address LIKE ").push_bind(m.like_pattern()).push(" ESCAPE '!'");
                    if !Self::LIKE_IS_EXACT {
                        // Lengths are numbers this code computed, written as literals.
                        let (head, tail) = (m.head.chars().count(), m.tail.chars().count());
                        b.push(format!(" AND substr(v.address, 1, {head}) = "))
                            .push_bind(m.head.clone())
                            .push(format!(" AND substr(v.address, {}) = ", m.chars - tail + 1))
                            .push_bind(m.tail.clone());
                    }
                }
                if let Some((at, id)) = q.before {
                    // A row comparison and a plain bound both planners can start an index
                    // scan at; `a < x OR (a = x AND b < y)` made PostgreSQL walk from the
                    // newest row to the cursor on every page (a second a page at 10M).
                    b.push(" AND v.created_at <= ")
                        .push_bind(at)
                        .push(" AND (v.created_at, v.verification_id) < (")
                        .push_bind(at)
                        .push(", ")
                        .push_bind(id)
                        .push(")");
                }
                b.push(" ORDER BY v.created_at DESC, v.verification_id DESC LIMIT ")
                    .push_bind(i64::from(q.limit));
                let rows = b.build().fetch_all(&self.pool).await?;
                rows.iter()
                    .map(|row| {
                        let status: String = row.try_get("status")?;
                        Ok(HistoryRow {
                            verification_id: row.try_get("verification_id")?,
                            namespace: row.try_get("namespace")?,
                            public_id: row.try_get("public_id")?,
                            channel: row.try_get("channel")?,
                            provider: row.try_get("provider")?,
                            address: row.try_get("address")?,
                            status: Status::parse(&status)
                                .ok_or(StoreError::Corrupt("verification.status"))?,
                            attempts: counter(row.try_get("attempts")?, "attempts")?,
                            sends: counter(row.try_get("sends")?, "sends")?,
                            created_at: row.try_get("created_at")?,
                            updated_at: row.try_get("updated_at")?,
                        })
                    })
                    .collect()
            }

            async fn insert_verification(
                &self,
                new: &NewVerification,
                delivery: Option<&NewDelivery>,
            ) -> Result<Inserted, StoreError> {
                let epoch = self.views.epoch();
                // In the backend's group commit: SQLite's writer, PostgreSQL's batches.
                let inserted = self.insert_in_batch(new, delivery).await?;
                self.views.created(epoch, &inserted.record);
                self.events_added();
                Ok(inserted)
            }

            async fn reissue_verification(
                &self,
                verification_id: i64,
                r: &Reissue,
                delivery: Option<&NewDelivery>,
            ) -> Result<Option<VerificationRecord>, StoreError> {
                let mut tx = self.write_tx().await?;
                let sql = format!(
                    "UPDATE verification SET provider = $1, channel = $2, address = $3, \
                     channel_description = $4, address_description = $5, code_hmac = $6, \
                     code_length = $7, code_alphabet = $8, extra = $9, sends = sends + $10, \
                     updated_at = $11, expires_at = $12, retired_at = NULL, code_sealed = $14, \
                     last_sent_at = CASE WHEN $10 > 0 THEN $11 ELSE last_sent_at END, country = $15, \
                     address_key = $16, intent = $17 \
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
                    .bind(country_prefix(&r.address))
                    .bind(&r.address_key)
                    .bind(&r.intent)
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
                self.find_hot(app_id, public_id).await
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

            fn forget_verification(&self, verification_id: i64) {
                self.views.forget(verification_id);
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

            async fn attempt(
                &self,
                a: &Attempt,
                code: &CodeDigests,
            ) -> Result<AttemptOutcome, StoreError> {
                // In the backend's group commit: SQLite's writer, PostgreSQL's batches.
                let outcome = self.attempt_in_batch(a, code).await?;
                if !matches!(outcome, AttemptOutcome::OverBudget) {
                    // On PostgreSQL a check that found it closed may have counted an
                    // attempt before it did.
                    self.views.forget(a.verification_id);
                }
                if !matches!(outcome, AttemptOutcome::OverBudget | AttemptOutcome::NotOpen) {
                    self.events_added();
                }
                Ok(outcome)
            }

            async fn consume(
                &self,
                verification_id: i64,
                retire: bool,
                now: i64,
            ) -> Result<bool, StoreError> {
                let mut tx = self.write_one().await?;
                let done = sqlx::query(CONSUME)
                    .bind(now)
                    .bind(retire)
                    .bind(verification_id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                self.views.forget(verification_id);
                Ok(done.rows_affected() == 1)
            }

            async fn finish(
                &self,
                verification_id: i64,
                to: Status,
                now: i64,
            ) -> Result<bool, StoreError> {
                let mut tx = self.write_one().await?;
                let done = sqlx::query(FINISH)
                    .bind(to.as_str())
                    .bind(now)
                    .bind(verification_id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                self.views.forget(verification_id);
                Ok(done.rows_affected() == 1)
            }

            async fn supersede(&self, verification_id: i64, now: i64) -> Result<bool, StoreError> {
                let mut tx = self.write_one().await?;
                let done = sqlx::query(
                    "UPDATE verification SET superseded_at = $1, \
                     retired_at = COALESCE(retired_at, $1), updated_at = $1 \
                     WHERE verification_id = $2 AND superseded_at IS NULL",
                )
                .bind(now)
                .bind(verification_id)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                self.views.forget(verification_id);
                Ok(done.rows_affected() == 1)
            }

            async fn retire(&self, verification_id: i64, now: i64) -> Result<(), StoreError> {
                let mut tx = self.write_one().await?;
                sqlx::query(
                    "UPDATE verification SET retired_at = $1, updated_at = $1 \
                     WHERE verification_id = $2 AND retired_at IS NULL",
                )
                .bind(now)
                .bind(verification_id)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                self.views.forget(verification_id);
                Ok(())
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
                let mut tx = self.write_one().await?;
                let done = sqlx::query(
                    "INSERT INTO inbound_message (provider, message_id, received_at) \
                     VALUES ($1, $2, $3) ON CONFLICT (provider, message_id) DO NOTHING",
                )
                .bind(provider)
                .bind(message_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(done.rows_affected() == 1)
            }

            async fn set_inbound_sender(
                &self,
                verification_id: i64,
                address: &str,
                now: i64,
            ) -> Result<bool, StoreError> {
                let mut tx = self.write_one().await?;
                let done = sqlx::query(
                    "UPDATE verification SET address = $1, updated_at = $2 \
                     WHERE verification_id = $3 AND status = 'pending' \
                       AND (address = '' OR address = $1)",
                )
                .bind(address)
                .bind(now)
                .bind(verification_id)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                self.views.forget(verification_id);
                Ok(done.rows_affected() == 1)
            }
        }
    };
}

pub(in crate::gateway::store) use sql_verifications;
