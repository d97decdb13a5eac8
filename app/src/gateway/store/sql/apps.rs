//! The apps an engine authenticates and shows. The SQL of [`AppStore`](crate::gateway::store::AppStore), expanded by
//! `sql_store!` inside its block, where the row readers and imports are.

/// Implements [`AppStore`](crate::gateway::store::AppStore) for `$store`.
macro_rules! sql_apps {
    ($store:ty) => {
        #[async_trait]
        impl AppStore for $store {
            async fn find_app(&self, namespace: &str) -> Result<Option<AppRecord>, StoreError> {
                sqlx::query(
                    &format!("SELECT {APP_COLUMNS} FROM app WHERE namespace = $1"),
                )
                .bind(namespace)
                .fetch_optional(&self.pool)
                .await?
                .as_ref()
                .map(app_from_row)
                .transpose()
            }

            async fn find_app_viewed(&self, namespace: &str) -> Result<Option<AppRecord>, StoreError> {
                if let Some(app) = self.views.app(namespace) {
                    return Ok(Some(AppRecord::clone(&app)));
                }
                let epoch = self.views.epoch();
                let app = self.find_app(namespace).await?;
                if let Some(app) = &app {
                    self.views.fill_app(epoch, app.clone());
                }
                Ok(app)
            }

            async fn rename_app(&self, app_id: i64, name: &str, now: i64) -> Result<(), StoreError> {
                let mut tx = self.write_one().await?;
                sqlx::query("UPDATE app SET name = $1, updated_at = $2 WHERE app_id = $3")
                    .bind(name)
                    .bind(now)
                    .bind(app_id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                self.views.forget_apps();
                Ok(())
            }

            async fn delete_app(&self, app_id: i64) -> Result<(), StoreError> {
                let mut tx = self.write_one().await?;
                sqlx::query("DELETE FROM app WHERE app_id = $1")
                    .bind(app_id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                self.views.forget_apps();
                Ok(())
            }

            async fn tenant_apps(&self, tenant_id: i64) -> Result<Vec<AppRecord>, StoreError> {
                sqlx::query(&format!(
                    "SELECT {APP_COLUMNS} FROM app WHERE tenant_id = $1 ORDER BY namespace"
                ))
                .bind(tenant_id)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(app_from_row)
                .collect()
            }

            async fn active_secrets(
                &self,
                app_id: i64,
                now: i64,
            ) -> Result<Vec<ActiveSecret>, StoreError> {
                let rows = sqlx::query(
                    "SELECT app_secret_id, secret_hash, expires_at FROM app_secret \
                     WHERE app_id = $1 AND (expires_at IS NULL OR expires_at > $2) \
                     ORDER BY app_secret_id DESC",
                )
                .bind(app_id)
                .bind(now)
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|row| {
                        Ok(ActiveSecret {
                            secret_id: row.try_get("app_secret_id")?,
                            hash: row.try_get("secret_hash")?,
                            expires_at: row.try_get("expires_at")?,
                        })
                    })
                    .collect()
            }

            async fn app_secrets(&self, app_id: i64) -> Result<Vec<SecretRecord>, StoreError> {
                let rows = sqlx::query(
                    "SELECT app_secret_id, label, created_at, last_used_at, expires_at \
                     FROM app_secret WHERE app_id = $1 ORDER BY app_secret_id DESC",
                )
                .bind(app_id)
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|row| {
                        Ok(SecretRecord {
                            secret_id: row.try_get("app_secret_id")?,
                            label: row.try_get("label")?,
                            created_at: row.try_get("created_at")?,
                            last_used_at: row.try_get("last_used_at")?,
                            expires_at: row.try_get("expires_at")?,
                        })
                    })
                    .collect()
            }

            async fn add_app_secret(
                &self,
                app_id: i64,
                label: &str,
                secret_hash: &str,
                now: i64,
            ) -> Result<i64, StoreError> {
                let mut tx = self.write_one().await?;
                let out = sqlx::query_scalar(
                    "INSERT INTO app_secret (app_id, label, secret_hash, created_at) \
                     VALUES ($1, $2, $3, $4) RETURNING app_secret_id",
                )
                .bind(app_id)
                .bind(label)
                .bind(secret_hash)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(out)
            }

            async fn revoke_app_secret(&self, app_id: i64, secret_id: i64) -> Result<bool, StoreError> {
                let mut tx = self.write_one().await?;
                let done = sqlx::query(
                    "DELETE FROM app_secret WHERE app_id = $1 AND app_secret_id = $2",
                )
                .bind(app_id)
                .bind(secret_id)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(done.rows_affected() == 1)
            }

            async fn expire_app_secret(
                &self,
                app_id: i64,
                secret_id: i64,
                at: i64,
            ) -> Result<bool, StoreError> {
                let mut tx = self.write_one().await?;
                let done = sqlx::query(
                    "UPDATE app_secret SET expires_at = $1 WHERE app_id = $2 AND app_secret_id = $3",
                )
                .bind(at)
                .bind(app_id)
                .bind(secret_id)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(done.rows_affected() == 1)
            }

            async fn secret_used(&self, secret_id: i64, now: i64) -> Result<(), StoreError> {
                let mut tx = self.write_one().await?;
                sqlx::query("UPDATE app_secret SET last_used_at = $1 WHERE app_secret_id = $2")
                    .bind(now)
                    .bind(secret_id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn create_app(
                &self,
                namespace: &str,
                name: &str,
                tenant_id: Option<i64>,
                secret_hash: &str,
                now: i64,
            ) -> Result<AppRecord, StoreError> {
                let mut tx = self.write_tx().await?;
                let row = sqlx::query(&format!(
                    "INSERT INTO app (namespace, name, tenant_id, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $4) RETURNING {APP_COLUMNS}"
                ))
                .bind(namespace)
                .bind(name)
                .bind(tenant_id)
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(unique_violation)?;
                let app = app_from_row(&row)?;
                sqlx::query(
                    "INSERT INTO app_secret (app_id, secret_hash, created_at) VALUES ($1, $2, $3)",
                )
                .bind(app.app_id)
                .bind(secret_hash)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                self.views.forget_apps();
                Ok(app)
            }

            async fn update_app(&self, app: &AppRecord, now: i64) -> Result<(), StoreError> {
                let mut tx = self.write_one().await?;
                let urls = serde_json::to_string(&app.redirect_urls).expect("strings serialise");
                let settings = serde_json::to_string(&app.settings).expect("settings serialise");
                sqlx::query(
                    "UPDATE app SET name = $1, echo_code = $2, redirect_urls = $3, settings = $4, \
                     tenant_id = $5, declared = $6, updated_at = $7 WHERE app_id = $8",
                )
                .bind(&app.name)
                .bind(app.echo_code)
                .bind(urls)
                .bind(settings)
                .bind(app.tenant_id)
                .bind(app.declared)
                .bind(now)
                .bind(app.app_id)
                .execute(&mut *tx)
                .await
                .map_err(dangling)?;
                tx.commit().await?;
                self.views.forget_apps();
                Ok(())
            }

            async fn app_templates(&self, app_id: i64) -> Result<Vec<AppTemplate>, StoreError> {
                let rows = sqlx::query(
                    "SELECT app_id, channel, locale, subject, body, html, updated_at \
                     FROM app_template WHERE app_id = $1 ORDER BY channel, locale",
                )
                .bind(app_id)
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|row| {
                        Ok(AppTemplate {
                            app_id: row.try_get("app_id")?,
                            channel: row.try_get("channel")?,
                            locale: row.try_get("locale")?,
                            subject: row.try_get("subject")?,
                            body: row.try_get("body")?,
                            html: row.try_get("html")?,
                            updated_at: row.try_get("updated_at")?,
                        })
                    })
                    .collect()
            }

            async fn put_app_template(&self, t: &AppTemplate) -> Result<(), StoreError> {
                let mut tx = self.write_tx().await?;
                sqlx::query(
                    "INSERT INTO app_template \
                     (app_id, channel, locale, subject, body, html, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     ON CONFLICT (app_id, channel, locale) DO UPDATE SET \
                       subject = excluded.subject, body = excluded.body, html = excluded.html, \
                       updated_at = excluded.updated_at",
                )
                .bind(t.app_id)
                .bind(&t.channel)
                .bind(&t.locale)
                .bind(&t.subject)
                .bind(&t.body)
                .bind(&t.html)
                .bind(t.updated_at)
                .execute(&mut *tx)
                .await?;
                templates_moved(&mut tx, t.app_id).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn delete_app_template(
                &self,
                app_id: i64,
                channel: &str,
                locale: &str,
            ) -> Result<bool, StoreError> {
                let mut tx = self.write_tx().await?;
                let done = sqlx::query(
                    "DELETE FROM app_template WHERE app_id = $1 AND channel = $2 AND locale = $3",
                )
                .bind(app_id)
                .bind(channel)
                .bind(locale)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 1 {
                    templates_moved(&mut tx, app_id).await?;
                }
                tx.commit().await?;
                Ok(done.rows_affected() == 1)
            }

            async fn app_providers(&self, app_id: i64) -> Result<Vec<AppProvider>, StoreError> {
                let rows = sqlx::query(
                    "SELECT app_id, provider_id, kind, fields, sealed, created_at, updated_at \
                     FROM app_provider WHERE app_id = $1 ORDER BY provider_id",
                )
                .bind(app_id)
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|row| {
                        Ok(AppProvider {
                            app_id: row.try_get("app_id")?,
                            provider_id: row.try_get("provider_id")?,
                            kind: row.try_get("kind")?,
                            fields: serde_json::from_str(&row.try_get::<String, _>("fields")?)
                                .map_err(|_| StoreError::Corrupt("app_provider.fields"))?,
                            sealed: row.try_get("sealed")?,
                            created_at: row.try_get("created_at")?,
                            updated_at: row.try_get("updated_at")?,
                        })
                    })
                    .collect()
            }

            async fn put_app_provider(&self, p: &AppProvider) -> Result<(), StoreError> {
                let fields = serde_json::to_string(&p.fields).expect("strings serialise");
                let mut tx = self.write_tx().await?;
                sqlx::query(
                    "INSERT INTO app_provider \
                     (app_id, provider_id, kind, fields, sealed, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     ON CONFLICT (app_id, provider_id) DO UPDATE SET \
                       kind = excluded.kind, fields = excluded.fields, \
                       sealed = excluded.sealed, updated_at = excluded.updated_at",
                )
                .bind(p.app_id)
                .bind(&p.provider_id)
                .bind(&p.kind)
                .bind(fields)
                .bind(&p.sealed)
                .bind(p.created_at)
                .bind(p.updated_at)
                .execute(&mut *tx)
                .await
                .map_err(dangling)?;
                sqlx::query("UPDATE app SET providers_rev = providers_rev + 1 WHERE app_id = $1")
                    .bind(p.app_id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                self.views.forget_apps();
                Ok(())
            }

            async fn delete_app_provider(
                &self,
                app_id: i64,
                provider_id: &str,
            ) -> Result<bool, StoreError> {
                let mut tx = self.write_tx().await?;
                let done =
                    sqlx::query("DELETE FROM app_provider WHERE app_id = $1 AND provider_id = $2")
                        .bind(app_id)
                        .bind(provider_id)
                        .execute(&mut *tx)
                        .await?;
                sqlx::query("UPDATE app SET providers_rev = providers_rev + 1 WHERE app_id = $1")
                    .bind(app_id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                self.views.forget_apps();
                Ok(done.rows_affected() == 1)
            }

            async fn replace_app_secret(
                &self,
                app_id: i64,
                secret_hash: &str,
                now: i64,
            ) -> Result<(), StoreError> {
                let mut tx = self.write_tx().await?;
                sqlx::query("DELETE FROM app_secret WHERE app_id = $1")
                    .bind(app_id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO app_secret (app_id, secret_hash, created_at) VALUES ($1, $2, $3)",
                )
                .bind(app_id)
                .bind(secret_hash)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                self.views.forget_apps();
                Ok(())
            }
        }
    };
}

pub(in crate::gateway::store) use sql_apps;
