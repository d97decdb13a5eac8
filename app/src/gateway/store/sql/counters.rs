//! Rate buckets, token single use and idempotency. The SQL of [`CounterStore`](crate::gateway::store::CounterStore), expanded by
//! `sql_store!` inside its block, where the row readers and imports are.

/// Implements [`CounterStore`](crate::gateway::store::CounterStore) for `$store`.
macro_rules! sql_counters {
    ($store:ty) => {
        /// One hit on each of `keys` (see `CounterStore::hit_each`) and the deliveries
        /// `counted` marked as counted against the send cap (`MARK_COUNTED`), in one write.
        async fn hits_marking(
            store: &$store,
            keys: &[String],
            window_start: i64,
            counted: &[i64],
        ) -> Result<Vec<i64>, StoreError> {
            if keys.is_empty() && counted.is_empty() {
                return Ok(Vec::new());
            }
            if let Some(writer) = store.direct() {
                return writer.hit_each(keys, window_start, counted).await;
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
                "WITH m AS (UPDATE delivery SET send_counted = true \
                   WHERE delivery_id IN (SELECT CAST(t.value AS BIGINT) FROM {})) {HIT_EACH}",
                <$store>::EACH_ID
            );
            let mut tx = store.write_one().await?;
            let rows: Vec<(String, i64)> = sqlx::query_as(&sql)
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

        #[async_trait]
        impl CounterStore for $store {
            async fn hit(&self, key: &str, window_start: i64, hits: i64) -> Result<i64, StoreError> {
                if let Some(writer) = self.direct() {
                    return writer.hit(key, window_start, hits).await;
                }
                let mut tx = self.write_one().await?;
                let out = sqlx::query_scalar(HIT)
                    .bind(key)
                    .bind(window_start)
                    .bind(hits)
                    .fetch_one(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(out)
            }

            async fn hit_each(
                &self,
                keys: &[String],
                window_start: i64,
            ) -> Result<Vec<i64>, StoreError> {
                hits_marking(self, keys, window_start, &[]).await
            }

            async fn peek(&self, key: &str, window_start: i64) -> Result<i64, StoreError> {
                Ok(sqlx::query_scalar(PEEK)
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
                let mut tx = self.write_one().await?;
                let done = sqlx::query(
                    "INSERT INTO token_use (jti, app_id, used_at, expires_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (jti) DO NOTHING",
                )
                .bind(jti)
                .bind(app_id)
                .bind(now)
                .bind(expires_at)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
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
                let mut tx = self.write_one().await?;
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
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(done.rows_affected() == 1)
            }
        }
    };
}

pub(in crate::gateway::store) use sql_counters;
