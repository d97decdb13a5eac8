//! The SQL of [`GuardStore`](crate::gateway::store::GuardStore), expanded by `sql_store!`
//! inside its block, where the row readers and imports are.

/// Columns of `guard_hold`, in the order `hold_from_row` reads them.
pub(in crate::gateway::store) const HOLD_COLUMNS: &str =
    "hold_id, app_id, scope, subject, reason, detail, started_at, lifted_at, lifted_by";

/// Adds one message to a period's total while the total stays within `$4`.
pub(in crate::gateway::store) const CHARGE_TOTAL: &str =
    "INSERT INTO guard_spend (app_id, period, country, spent, sends) VALUES ($1, $2, '', $3, 1) \
     ON CONFLICT (app_id, period, country) DO UPDATE SET \
       spent = guard_spend.spent + excluded.spent, sends = guard_spend.sends + 1 \
     WHERE guard_spend.spent + excluded.spent <= $4 \
     RETURNING spent";

/// Adds one message to a period's row for a country.
pub(in crate::gateway::store) const CHARGE_COUNTRY: &str =
    "INSERT INTO guard_spend (app_id, period, country, spent, sends) VALUES ($1, $2, $3, $4, 1) \
     ON CONFLICT (app_id, period, country) DO UPDATE SET \
       spent = guard_spend.spent + excluded.spent, sends = guard_spend.sends + 1";

/// Implements [`GuardStore`](crate::gateway::store::GuardStore) for `$store`.
macro_rules! sql_guard {
    ($store:ty) => {
        fn hold_from_row(row: &DbRow) -> Result<HoldRecord, StoreError> {
            Ok(HoldRecord {
                hold_id: row.try_get("hold_id")?,
                app_id: row.try_get("app_id")?,
                scope: Scope::parse(&row.try_get::<String, _>("scope")?)
                    .ok_or(StoreError::Corrupt("guard_hold.scope"))?,
                subject: row.try_get("subject")?,
                reason: row.try_get("reason")?,
                detail: row.try_get("detail")?,
                started_at: row.try_get("started_at")?,
                lifted_at: row.try_get("lifted_at")?,
                lifted_by: row.try_get("lifted_by")?,
            })
        }

        #[async_trait]
        impl GuardStore for $store {
            async fn charge(&self, c: &Charge<'_>) -> Result<Charged, StoreError> {
                // Unlimited: a bound no sum of real prices reaches.
                const UNLIMITED: i64 = i64::MAX / 4;
                let mut tx = self.write_tx().await?;
                for ((period, budget), over) in [
                    (c.day, Charged::OverDaily),
                    (c.month, Charged::OverMonthly),
                ] {
                    let budget = budget.unwrap_or(UNLIMITED);
                    let within = c.cost <= budget
                        && sqlx::query(CHARGE_TOTAL)
                            .bind(c.app_id)
                            .bind(period)
                            .bind(c.cost)
                            .bind(budget)
                            .fetch_optional(&mut *tx)
                            .await?
                            .is_some();
                    if !within {
                        tx.rollback().await?;
                        return Ok(over);
                    }
                    if c.country.is_empty() {
                        continue;
                    }
                    sqlx::query(CHARGE_COUNTRY)
                        .bind(c.app_id)
                        .bind(period)
                        .bind(c.country)
                        .bind(c.cost)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(Charged::Done)
            }

            async fn refund(&self, c: &Charge<'_>) -> Result<(), StoreError> {
                let mut tx = self.write_one().await?;
                sqlx::query(
                    "UPDATE guard_spend SET spent = spent - $3, sends = sends - 1 \
                     WHERE app_id = $1 AND period IN ($2, $4) AND country IN ('', $5)",
                )
                .bind(c.app_id)
                .bind(c.day.0)
                .bind(c.cost)
                .bind(c.month.0)
                .bind(c.country)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn spend(
                &self,
                app_id: i64,
                periods: &[String],
            ) -> Result<Vec<SpendRow>, StoreError> {
                let mut out = Vec::new();
                for period in periods {
                    let rows = sqlx::query(
                        "SELECT period, country, spent, sends FROM guard_spend \
                         WHERE app_id = $1 AND period = $2 ORDER BY spent DESC, country",
                    )
                    .bind(app_id)
                    .bind(period)
                    .fetch_all(&self.pool)
                    .await?;
                    for row in rows {
                        out.push(SpendRow {
                            period: row.try_get("period")?,
                            country: row.try_get("country")?,
                            spent: row.try_get("spent")?,
                            sends: row.try_get("sends")?,
                        });
                    }
                }
                Ok(out)
            }

            async fn add_tallies(
                &self,
                tallies: &[(TallyKey, Counts)],
                refusals: &[(RefusalKey, i64)],
            ) -> Result<(), StoreError> {
                if tallies.is_empty() && refusals.is_empty() {
                    return Ok(());
                }
                let mut tx = self.write_tx().await?;
                for (k, c) in tallies {
                    let sql = if k.scope == Scope::Block && c.sent == 0 {
                        "UPDATE guard_tally SET verified = verified + $6 \
                         WHERE app_id = $1 AND scope = $2 AND subject = $3 AND minute = $4 \
                           AND $5 = 0"
                    } else {
                        "INSERT INTO guard_tally (app_id, scope, subject, minute, sent, verified) \
                         VALUES ($1, $2, $3, $4, $5, $6) \
                         ON CONFLICT (app_id, scope, subject, minute) DO UPDATE SET \
                           sent = guard_tally.sent + excluded.sent, \
                           verified = guard_tally.verified + excluded.verified"
                    };
                    sqlx::query(sql)
                        .bind(k.app_id)
                        .bind(k.scope.as_str())
                        .bind(&k.subject)
                        .bind(k.minute)
                        .bind(c.sent)
                        .bind(c.verified)
                        .execute(&mut *tx)
                        .await?;
                }
                for (k, n) in refusals {
                    sqlx::query(
                        "INSERT INTO guard_refusal (app_id, minute, reason, country, n) \
                         VALUES ($1, $2, $3, $4, $5) \
                         ON CONFLICT (app_id, minute, reason, country) DO UPDATE SET \
                           n = guard_refusal.n + excluded.n",
                    )
                    .bind(k.app_id)
                    .bind(k.minute)
                    .bind(k.reason)
                    .bind(&k.country)
                    .bind(*n)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn tallies_since(
                &self,
                since: i64,
            ) -> Result<Vec<(TallyKey, Counts)>, StoreError> {
                let rows = sqlx::query(
                    "SELECT app_id, scope, subject, minute, sent, verified FROM guard_tally \
                     WHERE minute >= $1",
                )
                .bind(since)
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|row| {
                        Ok((
                            TallyKey {
                                app_id: row.try_get("app_id")?,
                                scope: Scope::parse(&row.try_get::<String, _>("scope")?)
                                    .ok_or(StoreError::Corrupt("guard_tally.scope"))?,
                                subject: row.try_get("subject")?,
                                minute: row.try_get("minute")?,
                            },
                            Counts {
                                sent: row.try_get("sent")?,
                                verified: row.try_get("verified")?,
                            },
                        ))
                    })
                    .collect()
            }

            async fn country_sends(
                &self,
                from: i64,
                to: i64,
            ) -> Result<Vec<(i64, String, i64)>, StoreError> {
                let rows = sqlx::query(
                    "SELECT app_id, subject, CAST(SUM(sent) AS BIGINT) AS sent FROM guard_tally \
                     WHERE scope = 'country' AND minute >= $1 AND minute < $2 \
                     GROUP BY app_id, subject",
                )
                .bind(from)
                .bind(to)
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|row| Ok((row.try_get("app_id")?, row.try_get("subject")?, row.try_get("sent")?)))
                    .collect()
            }

            async fn open_hold(
                &self,
                h: &NewHold,
                alert: &(dyn for<'x> Fn(&'x str, &'x HoldRecord) -> String + Send + Sync),
            ) -> Result<Option<HoldRecord>, StoreError> {
                let mut tx = self.write_tx().await?;
                let row = sqlx::query(&format!(
                    "INSERT INTO guard_hold (app_id, scope, subject, reason, detail, started_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (app_id, scope, subject) WHERE lifted_at IS NULL DO NOTHING \
                     RETURNING {HOLD_COLUMNS}"
                ))
                .bind(h.app_id)
                .bind(h.scope.as_str())
                .bind(&h.subject)
                .bind(&h.reason)
                .bind(&h.detail)
                .bind(h.now)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(hold) = row.as_ref().map(hold_from_row).transpose()? else {
                    tx.rollback().await?;
                    return Ok(None);
                };
                let namespace: String = sqlx::query("SELECT namespace FROM app WHERE app_id = $1")
                    .bind(h.app_id)
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get("namespace")?;
                sqlx::query(
                    "INSERT INTO webhook_message \
                       (webhook_id, event_id, next_attempt_at, created_at, updated_at, \
                        event_type, payload) \
                     SELECT webhook_id, 0, $2, $2, $2, 'fraud.hold', $3 FROM app_webhook \
                     WHERE app_id = $1 AND events LIKE '%,fraud_hold,%' ORDER BY webhook_id",
                )
                .bind(h.app_id)
                .bind(h.now)
                .bind(alert(&namespace, &hold))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(Some(hold))
            }

            async fn active_holds(&self) -> Result<Vec<HoldRecord>, StoreError> {
                let rows = sqlx::query(&format!(
                    "SELECT {HOLD_COLUMNS} FROM guard_hold WHERE lifted_at IS NULL"
                ))
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(hold_from_row).collect()
            }

            async fn app_holds(
                &self,
                app_id: i64,
                limit: i64,
            ) -> Result<Vec<HoldRecord>, StoreError> {
                let rows = sqlx::query(&format!(
                    "SELECT {HOLD_COLUMNS} FROM guard_hold WHERE app_id = $1 \
                     ORDER BY hold_id DESC LIMIT $2"
                ))
                .bind(app_id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(hold_from_row).collect()
            }

            async fn lifted_since(&self, since: i64) -> Result<Vec<HoldRecord>, StoreError> {
                let rows = sqlx::query(&format!(
                    "SELECT {HOLD_COLUMNS} FROM guard_hold WHERE lifted_at >= $1"
                ))
                .bind(since)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(hold_from_row).collect()
            }

            async fn lift_hold(
                &self,
                app_id: i64,
                hold_id: i64,
                by: &str,
                now: i64,
            ) -> Result<bool, StoreError> {
                let mut tx = self.write_one().await?;
                let done = sqlx::query(
                    "UPDATE guard_hold SET lifted_at = $3, lifted_by = $4 \
                     WHERE app_id = $1 AND hold_id = $2 AND lifted_at IS NULL",
                )
                .bind(app_id)
                .bind(hold_id)
                .bind(now)
                .bind(by)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(done.rows_affected() > 0)
            }

            async fn refusals(
                &self,
                app_id: i64,
                since: i64,
            ) -> Result<Vec<(String, String, i64)>, StoreError> {
                let rows = sqlx::query(
                    "SELECT reason, country, CAST(SUM(n) AS BIGINT) AS n FROM guard_refusal \
                     WHERE app_id = $1 AND minute >= $2 GROUP BY reason, country \
                     ORDER BY n DESC, reason, country",
                )
                .bind(app_id)
                .bind(since)
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|row| Ok((row.try_get("reason")?, row.try_get("country")?, row.try_get("n")?)))
                    .collect()
            }

            async fn purge_guard(
                &self,
                tallies_before: i64,
                refusals_before: i64,
            ) -> Result<(), StoreError> {
                let mut tx = self.write_tx().await?;
                sqlx::query("DELETE FROM guard_tally WHERE minute < $1")
                    .bind(tallies_before)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM guard_refusal WHERE minute < $1")
                    .bind(refusals_before)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }
        }
    };
}

pub(in crate::gateway::store) use sql_guard;
