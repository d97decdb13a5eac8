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

            async fn purge_buckets(
                &self,
                after: &str,
                ended_by: i64,
                batch: u32,
            ) -> Result<(u64, Option<String>), StoreError> {
                // The page is read apart from the write: the delete checks each row's
                // window itself, whatever happened to the page meanwhile.
                let (seen, last): (i64, Option<String>) = sqlx::query_as(
                    "SELECT COUNT(*), MAX(bucket_key) FROM (SELECT bucket_key FROM rate_bucket \
                     WHERE bucket_key > $1 ORDER BY bucket_key LIMIT $2) AS page",
                )
                .bind(after)
                .bind(i64::from(batch))
                .fetch_one(&self.pool)
                .await?;
                let Some(last) = last else {
                    return Ok((0, None));
                };
                let mut tx = self.write_one().await?;
                let gone = sqlx::query(
                    "DELETE FROM rate_bucket WHERE bucket_key > $1 AND bucket_key <= $2 \
                     AND window_start <= $3",
                )
                .bind(after)
                .bind(&last)
                .bind(ended_by)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                tx.commit().await?;
                Ok((gone, (seen >= i64::from(batch)).then_some(last)))
            }

            async fn purge_used_tokens(&self, before: i64, batch: u32) -> Result<u64, StoreError> {
                self.delete_before(
                    "DELETE FROM token_use WHERE jti IN (SELECT jti FROM token_use \
                     WHERE expires_at < $1 ORDER BY expires_at LIMIT $2)",
                    before,
                    batch,
                )
                .await
            }

            async fn purge_idempotency(&self, before: i64, batch: u32) -> Result<u64, StoreError> {
                self.delete_before(
                    "DELETE FROM idempotency_key WHERE (app_id, key) IN (SELECT app_id, key \
                     FROM idempotency_key WHERE created_at < $1 ORDER BY created_at LIMIT $2)",
                    before,
                    batch,
                )
                .await
            }
        }

        impl $store {
            /// Runs `delete`, a statement of one write with `$1` = `before` and `$2` =
            /// `batch`; how many rows went.
            async fn delete_before(
                &self,
                delete: &str,
                before: i64,
                batch: u32,
            ) -> Result<u64, StoreError> {
                let mut tx = self.write_one().await?;
                let gone = sqlx::query(delete)
                    .bind(before)
                    .bind(i64::from(batch))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                Ok(gone)
            }
        }
    };
}

pub(in crate::gateway::store) use sql_counters;
