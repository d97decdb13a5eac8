//! The SQL of [`FactorStore`](crate::gateway::store::FactorStore), expanded by
//! `sql_store!` inside its block, where the row readers and imports are.

/// Columns of `factor`, in the order `factor_from_row` reads them.
pub(in crate::gateway::store) const FACTOR_COLUMNS: &str =
    "factor_id, app_id, public_id, user_id, label, sealed, algorithm, digits, period, status, \
     last_step, created_at, activated_at";

/// Implements [`FactorStore`](crate::gateway::store::FactorStore) for `$store`.
macro_rules! sql_factors {
    ($store:ty) => {
        fn factor_from_row(row: &DbRow) -> Result<FactorRecord, StoreError> {
            Ok(FactorRecord {
                factor_id: row.try_get("factor_id")?,
                app_id: row.try_get("app_id")?,
                public_id: row.try_get("public_id")?,
                user_id: row.try_get("user_id")?,
                label: row.try_get("label")?,
                sealed: row.try_get("sealed")?,
                algorithm: row.try_get("algorithm")?,
                digits: counter(row.try_get("digits")?, "digits")?,
                period: counter(row.try_get("period")?, "period")?,
                status: row.try_get("status")?,
                last_step: row.try_get("last_step")?,
                created_at: row.try_get("created_at")?,
                activated_at: row.try_get("activated_at")?,
            })
        }

        #[async_trait]
        impl FactorStore for $store {
            async fn insert_factor(&self, f: &NewFactor) -> Result<FactorRecord, StoreError> {
                let mut tx = self.write_one().await?;
                let row = sqlx::query(&format!(
                    "INSERT INTO factor (app_id, public_id, user_id, label, sealed, algorithm, \
                       digits, period, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {FACTOR_COLUMNS}"
                ))
                .bind(f.app_id)
                .bind(&f.public_id)
                .bind(&f.user_id)
                .bind(&f.label)
                .bind(&f.sealed)
                .bind(&f.algorithm)
                .bind(i64::from(f.digits))
                .bind(i64::from(f.period))
                .bind(f.now)
                .fetch_one(&mut *tx)
                .await
                .map_err(unique_violation)?;
                let record = factor_from_row(&row)?;
                tx.commit().await?;
                Ok(record)
            }

            async fn find_factor(
                &self,
                app_id: i64,
                public_id: &str,
            ) -> Result<Option<FactorRecord>, StoreError> {
                let row = sqlx::query(&format!(
                    "SELECT {FACTOR_COLUMNS} FROM factor WHERE app_id = $1 AND public_id = $2"
                ))
                .bind(app_id)
                .bind(public_id)
                .fetch_optional(&self.pool)
                .await?;
                row.as_ref().map(factor_from_row).transpose()
            }

            async fn list_factors(
                &self,
                app_id: i64,
                user_id: Option<&str>,
                limit: i64,
            ) -> Result<Vec<FactorRecord>, StoreError> {
                let rows = sqlx::query(&format!(
                    "SELECT {FACTOR_COLUMNS} FROM factor \
                     WHERE app_id = $1 AND ($2 IS NULL OR user_id = $2) \
                     ORDER BY factor_id LIMIT $3"
                ))
                .bind(app_id)
                .bind(user_id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(factor_from_row).collect()
            }

            async fn delete_factor(&self, app_id: i64, public_id: &str) -> Result<bool, StoreError> {
                let mut tx = self.write_one().await?;
                let done = sqlx::query("DELETE FROM factor WHERE app_id = $1 AND public_id = $2")
                    .bind(app_id)
                    .bind(public_id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(done.rows_affected() > 0)
            }

            async fn accept_step(&self, factor_id: i64, step: i64) -> Result<bool, StoreError> {
                let mut tx = self.write_one().await?;
                let done = sqlx::query(
                    "UPDATE factor SET last_step = $2 \
                     WHERE factor_id = $1 AND (last_step IS NULL OR last_step < $2)",
                )
                .bind(factor_id)
                .bind(step)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(done.rows_affected() > 0)
            }

            async fn activate_factor(&self, factor_id: i64, now: i64) -> Result<bool, StoreError> {
                let mut tx = self.write_one().await?;
                let done = sqlx::query(
                    "UPDATE factor SET status = 'active', activated_at = $2 \
                     WHERE factor_id = $1 AND status = 'pending'",
                )
                .bind(factor_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(done.rows_affected() > 0)
            }
        }

        #[async_trait]
        impl MemberFactorStore for $store {
            async fn member_factor(
                &self,
                member_id: i64,
            ) -> Result<Option<MemberFactor>, StoreError> {
                let row = sqlx::query(
                    "SELECT member_id, sealed, status, last_step FROM member_factor \
                     WHERE member_id = $1",
                )
                .bind(member_id)
                .fetch_optional(&self.pool)
                .await?;
                row.map(|row| {
                    Ok(MemberFactor {
                        member_id: row.try_get("member_id")?,
                        sealed: row.try_get("sealed")?,
                        status: row.try_get("status")?,
                        last_step: row.try_get("last_step")?,
                    })
                })
                .transpose()
            }

            async fn put_member_factor(
                &self,
                member_id: i64,
                sealed: &[u8],
                now: i64,
            ) -> Result<bool, StoreError> {
                let mut tx = self.write_one().await?;
                let done = sqlx::query(
                    "INSERT INTO member_factor (member_id, sealed, created_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (member_id) DO UPDATE SET sealed = excluded.sealed, \
                       created_at = excluded.created_at, last_step = NULL \
                     WHERE member_factor.status = 'pending'",
                )
                .bind(member_id)
                .bind(sealed)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(done.rows_affected() > 0)
            }

            async fn accept_member_step(
                &self,
                member_id: i64,
                step: i64,
                activate: Option<(&[Vec<u8>], i64)>,
            ) -> Result<bool, StoreError> {
                let mut tx = self.write_tx().await?;
                let status = if activate.is_some() { "pending" } else { "active" };
                let done = sqlx::query(
                    "UPDATE member_factor SET last_step = $2, status = 'active', \
                       activated_at = COALESCE(activated_at, $4) \
                     WHERE member_id = $1 AND status = $3 \
                       AND (last_step IS NULL OR last_step < $2)",
                )
                .bind(member_id)
                .bind(step)
                .bind(status)
                .bind(activate.map_or(0, |(_, now)| now))
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 0 {
                    tx.rollback().await?;
                    return Ok(false);
                }
                if let Some((codes, _)) = activate {
                    sqlx::query("DELETE FROM member_recovery WHERE member_id = $1")
                        .bind(member_id)
                        .execute(&mut *tx)
                        .await?;
                    for hash in codes {
                        sqlx::query(
                            "INSERT INTO member_recovery (member_id, code_hash) VALUES ($1, $2)",
                        )
                        .bind(member_id)
                        .bind(hash)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                tx.commit().await?;
                Ok(true)
            }

            async fn use_recovery_code(
                &self,
                member_id: i64,
                code_hash: &[u8],
                now: i64,
            ) -> Result<bool, StoreError> {
                let mut tx = self.write_one().await?;
                let done = sqlx::query(
                    "UPDATE member_recovery SET used_at = $3 \
                     WHERE member_id = $1 AND code_hash = $2 AND used_at IS NULL",
                )
                .bind(member_id)
                .bind(code_hash)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(done.rows_affected() > 0)
            }

            async fn recovery_codes_left(&self, member_id: i64) -> Result<u32, StoreError> {
                let left: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM member_recovery WHERE member_id = $1 AND used_at IS NULL",
                )
                .bind(member_id)
                .fetch_one(&self.pool)
                .await?;
                counter(left, "recovery codes")
            }

            async fn delete_member_factor(&self, member_id: i64) -> Result<(), StoreError> {
                let mut tx = self.write_tx().await?;
                for table in ["member_recovery", "member_factor"] {
                    sqlx::query(&format!("DELETE FROM {table} WHERE member_id = $1"))
                        .bind(member_id)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn member_by_id(
                &self,
                member_id: i64,
            ) -> Result<Option<MemberRecord>, StoreError> {
                let row = sqlx::query(&format!(
                    "SELECT {MEMBER_COLUMNS} FROM member WHERE member_id = $1"
                ))
                .bind(member_id)
                .fetch_optional(&self.pool)
                .await?;
                row.as_ref().map(member_from_row).transpose()
            }

            async fn requires_two_factor(&self, tenant_id: i64) -> Result<bool, StoreError> {
                let on: Option<bool> = sqlx::query_scalar(
                    "SELECT require_two_factor FROM tenant WHERE tenant_id = $1",
                )
                .bind(tenant_id)
                .fetch_optional(&self.pool)
                .await?;
                Ok(on.unwrap_or(false))
            }

            async fn set_requires_two_factor(
                &self,
                tenant_id: i64,
                on: bool,
            ) -> Result<(), StoreError> {
                let mut tx = self.write_one().await?;
                sqlx::query("UPDATE tenant SET require_two_factor = $2 WHERE tenant_id = $1")
                    .bind(tenant_id)
                    .bind(on)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }
        }
    };
}

pub(in crate::gateway::store) use sql_factors;
