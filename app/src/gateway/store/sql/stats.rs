//! Stats rollups: read, folded and rebuilt. The SQL of
//! [`StatsStore`](crate::gateway::store::StatsStore), expanded by `sql_store!` inside its
//! block, where the row readers and imports are. What differs by database is the store's
//! own: `STAT_HOURS` (what is read as hourly rollups), `COUNTED` (which events the
//! rollups hold) and `fold_events` (SQLite counts each event by a trigger, migration
//! 0013; PostgreSQL folds the events of ended transactions, migration 0017).

/// Where upkeep got to: `verifications` (purged before) or `days_rolled` (days summed
/// before), Unix ms.
pub(in crate::gateway::store) const MARK: &str = "SELECT at FROM purge_mark WHERE name = $1";

/// Sums the hourly rollups of `[$1, $2)`, read from `hours` (the store's `STAT_HOURS`),
/// into daily ones.
pub(in crate::gateway::store) fn roll_days_sql(hours: &str) -> String {
    format!(
        "INSERT INTO stat_day (app_id, day, channel, provider, country, metric, n) \
         SELECT app_id, hour - hour % 86400000, channel, provider, country, metric, \
           CAST(SUM(n) AS BIGINT) \
         FROM {hours} WHERE hour >= $1 AND hour < $2 \
         GROUP BY app_id, hour - hour % 86400000, channel, provider, country, metric"
    )
}

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
                     FROM {} WHERE hour >= $1 AND hour < $2 AND app_id IN ({}) \
                     GROUP BY app_id, hour, channel, provider, country, metric",
                    Self::STAT_HOURS,
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

            async fn stats_summary(
                &self,
                q: &StatsQuery,
                bar_ms: i64,
            ) -> Result<StatsSummary, StoreError> {
                if q.app_ids.is_empty() {
                    return Ok(StatsSummary::default());
                }
                // Whole days already summed are read from stat_day, the rest by hour.
                let rolled: Option<i64> =
                    sqlx::query_scalar(MARK).bind("days_rolled")
                        .fetch_optional(&self.pool)
                        .await?;
                let split = match rolled {
                    Some(at) if bar_ms == DAY_MS && q.from.rem_euclid(DAY_MS) == 0 => {
                        at.clamp(q.from, q.to)
                    }
                    _ => q.from,
                };
                let apps: Vec<String> = (0..q.app_ids.len()).map(|i| format!("${}", i + 5)).collect();
                let apps = apps.join(", ");
                let days = format!("FROM stat_day WHERE app_id IN ({apps}) AND day >= $1 AND day < $4");
                let hours = format!(
                    "FROM {} WHERE app_id IN ({apps}) AND hour >= $4 AND hour < $2",
                    Self::STAT_HOURS
                );
                let volume = format!(
                    "SELECT t - (t - $1) % $3 AS bar, channel, CAST(SUM(n) AS BIGINT) AS n \
                     FROM (SELECT day AS t, channel, n {days} AND metric = 'created' \
                           UNION ALL \
                           SELECT hour, channel, n {hours} AND metric = 'created') s \
                     GROUP BY 1, 2"
                );
                // Every statement binds $1 to $4 so the app list starts at $5 in each.
                let totals = format!(
                    "SELECT provider, country, metric, CAST(SUM(n) AS BIGINT) AS n \
                     FROM (SELECT provider, country, metric, n {days} \
                           UNION ALL \
                           SELECT provider, country, metric, n {hours}) s \
                     WHERE $3 > 0 GROUP BY provider, country, metric"
                );
                let mut read = Vec::with_capacity(2);
                for sql in [&volume, &totals] {
                    let mut query = sqlx::query(sql)
                        .bind(q.from)
                        .bind(q.to)
                        .bind(bar_ms)
                        .bind(split);
                    for app in &q.app_ids {
                        query = query.bind(*app);
                    }
                    read.push(query.fetch_all(&self.pool).await?);
                }
                let (volume, totals) = (&read[0], &read[1]);
                Ok(StatsSummary {
                    volume: volume
                        .iter()
                        .map(|r| Ok((r.try_get("bar")?, r.try_get("channel")?, r.try_get("n")?)))
                        .collect::<Result<_, StoreError>>()?,
                    totals: totals
                        .iter()
                        .map(|r| {
                            Ok((
                                r.try_get("provider")?,
                                r.try_get("country")?,
                                r.try_get("metric")?,
                                r.try_get("n")?,
                            ))
                        })
                        .collect::<Result<_, StoreError>>()?,
                })
            }

            async fn fold_stats(&self) -> Result<u64, StoreError> {
                let mut tx = self.write_tx().await?;
                let written = Self::fold_events(&mut tx).await?;
                tx.commit().await?;
                Ok(written)
            }

            async fn roll_days(&self, before: i64) -> Result<u64, StoreError> {
                let mut tx = self.write_tx().await?;
                let rolled: Option<i64> =
                    sqlx::query_scalar(MARK).bind("days_rolled")
                        .fetch_optional(&mut *tx)
                        .await?;
                let first: Option<i64> = match rolled {
                    Some(at) => Some(at),
                    None => sqlx::query_scalar(&format!("SELECT MIN(hour) FROM {}", Self::STAT_HOURS))
                        .fetch_one(&mut *tx)
                        .await?,
                };
                let from = first.map_or(before, |at| at - at.rem_euclid(DAY_MS));
                let written = if from < before {
                    sqlx::query(&format!("{} ON CONFLICT (app_id, day, channel, provider, country, metric) DO UPDATE SET n = excluded.n", roll_days_sql(Self::STAT_HOURS)))
                        .bind(from)
                        .bind(before)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected()
                } else {
                    0
                };
                if rolled.is_none_or(|at| at < before) {
                    sqlx::query(
                        "INSERT INTO purge_mark (name, at) VALUES ('days_rolled', $1) \
                         ON CONFLICT (name) DO UPDATE SET at = $1",
                    )
                    .bind(before)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(written)
            }

            async fn compact_stats(&self, before: i64) -> Result<u64, StoreError> {
                let mut tx = self.write_tx().await?;
                sqlx::query(
                    "INSERT INTO stat_hour (app_id, hour, channel, provider, country, metric, \
                     shard, n) \
                     SELECT app_id, hour, channel, provider, country, metric, 0, SUM(n) \
                     FROM stat_hour WHERE hour < $1 AND shard > 0 \
                     GROUP BY app_id, hour, channel, provider, country, metric \
                     ON CONFLICT (app_id, hour, channel, provider, country, metric, shard) \
                     DO UPDATE SET n = stat_hour.n + excluded.n",
                )
                .bind(before)
                .execute(&mut *tx)
                .await?;
                let folded = sqlx::query("DELETE FROM stat_hour WHERE hour < $1 AND shard > 0")
                    .bind(before)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                Ok(folded)
            }

            async fn rebuild_stats(&self, since: i64) -> Result<u64, StoreError> {
                let mut tx = self.write_tx().await?;
                let purged: Option<i64> =
                    sqlx::query_scalar(MARK).bind("verifications")
                        .fetch_optional(&mut *tx)
                        .await?;
                // The first whole hour retention left every event of.
                let kept_from = purged.map_or(0, |at| at + (HOUR_MS - at.rem_euclid(HOUR_MS)) % HOUR_MS);
                let since = since.max(kept_from);
                let since = since - since.rem_euclid(HOUR_MS);
                // The recount takes exactly the events the rollups held (COUNTED): the
                // rest are a fold's, which waits for this transaction.
                Self::hold_folds(&mut tx).await?;
                sqlx::query("DELETE FROM stat_hour WHERE hour >= $1")
                    .bind(since)
                    .execute(&mut *tx)
                    .await?;
                let sql = format!(
                    "INSERT INTO stat_hour (app_id, hour, channel, provider, country, metric, \
                     shard, n) \
                     SELECT app_id, hour, channel, provider, country, metric, shard, COUNT(*) \
                     FROM (SELECT e.app_id, e.created_at - e.created_at % {HOUR_MS} AS hour, \
                             e.channel, e.provider, e.country, e.kind AS metric, 0 AS shard \
                           FROM event e WHERE e.app_id IS NOT NULL AND e.created_at >= $1 \
                             AND {counted} \
                           UNION ALL \
                           SELECT e.app_id, e.created_at - e.created_at % {HOUR_MS}, \
                             e.channel, e.provider, e.country, t.value, 0 \
                           FROM event e CROSS JOIN {} \
                           WHERE e.app_id IS NOT NULL AND e.tags IS NOT NULL \
                             AND e.created_at >= $1 AND {counted}) counted \
                     GROUP BY app_id, hour, channel, provider, country, metric, shard",
                    $each_tag,
                    counted = Self::COUNTED
                );
                let written = sqlx::query(&sql).bind(since).execute(&mut *tx).await?;
                // The daily sums of the days rebuilt, from the hourly rows now right.
                let rolled: Option<i64> =
                    sqlx::query_scalar(MARK).bind("days_rolled")
                        .fetch_optional(&mut *tx)
                        .await?;
                let first_day = since - since.rem_euclid(DAY_MS);
                if let Some(until) = rolled.filter(|until| *until > first_day) {
                    sqlx::query("DELETE FROM stat_day WHERE day >= $1")
                        .bind(first_day)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(&roll_days_sql(Self::STAT_HOURS))
                        .bind(first_day)
                        .bind(until)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(written.rows_affected())
            }

            async fn purge_verifications(&self, before: i64, batch: u32) -> Result<u64, StoreError> {
                let chosen = "SELECT verification_id FROM verification WHERE created_at < $1 \
                     ORDER BY created_at LIMIT $2";
                let mut tx = self.write_tx().await?;
                // The events about to go are counted first.
                Self::count_before_purge(&mut tx, chosen, before, i64::from(batch)).await?;
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
