//! Events: recorded with each change, read in order. The SQL of [`EventStore`](crate::gateway::store::EventStore), expanded by
//! `sql_store!` inside its block, where the row readers and imports are.

/// Implements [`EventStore`](crate::gateway::store::EventStore) for `$store`.
macro_rules! sql_events {
    ($store:ty) => {
        #[async_trait]
        impl EventStore for $store {
            async fn record_event(
                &self,
                verification_id: i64,
                kind: &str,
                detail: &str,
                now: i64,
            ) -> Result<(), StoreError> {
                if let Some(writer) = self.direct() {
                    writer
                        .record_event(verification_id, kind, detail, now)
                        .await?;
                } else {
                    let mut tx = self.write_one().await?;
                    insert_event(&mut tx, verification_id, kind, detail, now).await?;
                    tx.commit().await?;
                }
                self.events_added();
                Ok(())
            }

            async fn events_after(
                &self,
                after: i64,
                limit: u32,
            ) -> Result<Vec<EventRow>, StoreError> {
                // Bounded above by the newest id as well, which changes no row read (the
                // same statement sees the same events): given a bound on one side only,
                // PostgreSQL takes a third of the table as its guess while the table has no
                // statistics, and reads all of it instead of the index's last entries. With
                // both bounds every plan reads the index, so the statement is prepared once
                // (planning it took more of PostgreSQL's time than running it).
                let rows = sqlx::query(
                    "SELECT event_id, verification_id, kind, detail FROM event \
                     WHERE event_id > $1 AND event_id <= (SELECT max(event_id) FROM event) \
                     ORDER BY event_id LIMIT $2",
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

            async fn last_event_id(&self) -> Result<i64, StoreError> {
                Ok(
                    sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(event_id) FROM event")
                        .fetch_one(&self.pool)
                        .await?
                        .unwrap_or(0),
                )
            }

            async fn event_signal(
                &self,
            ) -> Result<Option<std::sync::Arc<tokio::sync::Notify>>, StoreError> {
                self.listen_for_events().await
            }

            async fn event_kinds(&self, verification_id: i64) -> Result<Vec<String>, StoreError> {
                Ok(sqlx::query_scalar(
                    "SELECT kind FROM event WHERE verification_id = $1 ORDER BY event_id",
                )
                .bind(verification_id)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn timeline(
                &self,
                verification_id: i64,
            ) -> Result<Vec<TimelineEvent>, StoreError> {
                let rows = sqlx::query(
                    "SELECT event_id, kind, detail, created_at FROM event \
                     WHERE verification_id = $1 ORDER BY event_id",
                )
                .bind(verification_id)
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|row| {
                        Ok(TimelineEvent {
                            event_id: row.try_get("event_id")?,
                            kind: row.try_get("kind")?,
                            detail: row.try_get("detail")?,
                            created_at: row.try_get("created_at")?,
                        })
                    })
                    .collect()
            }
        }
    };
}

pub(in crate::gateway::store) use sql_events;
