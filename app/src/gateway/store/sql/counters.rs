//! Rate buckets, token single use and idempotency. The SQL of [`CounterStore`](crate::gateway::store::CounterStore), expanded by
//! `sql_store!` inside its block, where the row readers and imports are.

/// Implements [`CounterStore`](crate::gateway::store::CounterStore) for `$store`.
macro_rules! sql_counters {
    ($store:ty) => {
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
