//! Stats rollups: read and rebuilt. The SQL of
//! [`StatsStore`](crate::gateway::store::StatsStore), expanded by `sql_store!` inside its
//! block, where the row readers and imports are. The trigger that keeps them is in the
//! migrations (`*_stats.sql`).

/// Implements [`StatsStore`](crate::gateway::store::StatsStore) for `$store`. `$each_tag`
/// is the table function that turns `e.tags` (a JSON array) into rows `t(value)`.
macro_rules! sql_stats {
    ($store:ty, $each_tag:expr) => {
        #[async_trait]
        impl StatsStore for $store {
            async fn stats(&self, q: &StatsQuery) -> Result<Vec<(StatKey, i64)>, StoreError> {
                if q.app_ids.is_empty() {
                    return Ok(Vec::new());
                }
                let apps: Vec<String> = (0..q.app_ids.len()).map(|i| format!("${}", i + 3)).collect();
                let sql = format!(
                    "SELECT app_id, hour, channel, provider, country, metric, CAST(SUM(n) AS BIGINT) AS n \
                     FROM stat_hour WHERE hour >= $1 AND hour < $2 AND app_id IN ({}) \
                     GROUP BY app_id, hour, channel, provider, country, metric",
                    apps.join(", ")
                );
                let mut query = sqlx::query(&sql).bind(q.from).bind(q.to);
                for app in &q.app_ids {
                    query = query.bind(*app);
                }
                let rows = query.fetch_all(&self.pool).await?;
                rows.iter()
                    .map(|row| {
                        let key = StatKey {
                            app_id: row.try_get("app_id")?,
                            hour: row.try_get("hour")?,
                            channel: row.try_get("channel")?,
                            provider: row.try_get("provider")?,
                            country: row.try_get("country")?,
                            metric: row.try_get("metric")?,
                        };
                        Ok((key, row.try_get::<i64, _>("n")?))
                    })
                    .collect()
            }

            async fn rebuild_stats(&self, since: i64) -> Result<u64, StoreError> {
                let mut tx = self.pool.begin().await?;
                let purged: Option<i64> =
                    sqlx::query_scalar("SELECT at FROM purge_mark WHERE name = 'verifications'")
                        .fetch_optional(&mut *tx)
                        .await?;
                // The first whole hour retention left every event of.
                let kept_from = purged.map_or(0, |at| at + (HOUR_MS - at.rem_euclid(HOUR_MS)) % HOUR_MS);
                let since = since.max(kept_from);
                let since = since - since.rem_euclid(HOUR_MS);
                sqlx::query("DELETE FROM stat_hour WHERE hour >= $1")
                    .bind(since)
                    .execute(&mut *tx)
                    .await?;
                let sql = format!(
                    "INSERT INTO stat_hour (app_id, hour, channel, provider, country, metric, \
                     shard, n) \
                     SELECT app_id, hour, channel, provider, country, metric, shard, COUNT(*) \
                     FROM (SELECT e.app_id, e.created_at - e.created_at % {HOUR_MS} AS hour, \
                             e.channel, e.provider, e.country, e.kind AS metric, \
                             e.event_id % {SHARDS} AS shard \
                           FROM event e WHERE e.app_id IS NOT NULL AND e.created_at >= $1 \
                           UNION ALL \
                           SELECT e.app_id, e.created_at - e.created_at % {HOUR_MS}, \
                             e.channel, e.provider, e.country, t.value, e.event_id % {SHARDS} \
                           FROM event e CROSS JOIN {} \
                           WHERE e.app_id IS NOT NULL AND e.tags IS NOT NULL \
                             AND e.created_at >= $1) counted \
                     GROUP BY app_id, hour, channel, provider, country, metric, shard",
                    $each_tag
                );
                let written = sqlx::query(&sql).bind(since).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(written.rows_affected())
            }

            async fn purge_verifications(&self, before: i64, batch: u32) -> Result<u64, StoreError> {
                let chosen = "SELECT verification_id FROM verification WHERE created_at < $1 \
                     ORDER BY created_at LIMIT $2";
                let mut tx = self.pool.begin().await?;
                sqlx::query(&format!(
                    "DELETE FROM webhook_message WHERE event_id IN \
                     (SELECT event_id FROM event WHERE verification_id IN ({chosen}))"
                ))
                .bind(before)
                .bind(i64::from(batch))
                .execute(&mut *tx)
                .await?;
                let gone = sqlx::query(&format!(
                    "DELETE FROM verification WHERE verification_id IN ({chosen})"
                ))
                .bind(before)
                .bind(i64::from(batch))
                .execute(&mut *tx)
                .await?
                .rows_affected();
                sqlx::query(
                    "INSERT INTO purge_mark (name, at) VALUES ('verifications', $1) \
                     ON CONFLICT (name) DO UPDATE SET at = CASE WHEN purge_mark.at > $1 \
                     THEN purge_mark.at ELSE $1 END",
                )
                .bind(before)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(gone)
            }
        }
    };
}

pub(in crate::gateway::store) use sql_stats;
