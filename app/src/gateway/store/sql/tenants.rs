//! Tenants, members, sessions and the audit log. The SQL of
//! [`TenantStore`](crate::gateway::store::TenantStore), expanded by `sql_store!` inside its
//! block, where the row readers and imports are.

/// Columns of `member`, in the order `member_from_row` reads them.
pub(in crate::gateway::store) const MEMBER_COLUMNS: &str =
    "member.member_id, member.tenant_id, member.email, member.role, member.password_hash";

/// SQL that is true when the member row at hand is not the only owner of its tenant;
/// `tenant` and `member` name the statement's parameters holding their ids.
pub(in crate::gateway::store) fn another_owner(tenant: &str, member: &str) -> String {
    format!(
        "(role <> 'owner' OR EXISTS (SELECT 1 FROM member other WHERE other.tenant_id = {tenant} \
          AND other.role = 'owner' AND other.member_id <> {member}))"
    )
}

/// Implements [`TenantStore`](crate::gateway::store::TenantStore) for `$store`.
macro_rules! sql_tenants {
    ($store:ty, $db:ty) => {
        fn member_from_row(row: &DbRow) -> Result<MemberRecord, StoreError> {
            let role: String = row.try_get("role")?;
            Ok(MemberRecord {
                member_id: row.try_get("member_id")?,
                tenant_id: row.try_get("tenant_id")?,
                email: row.try_get("email")?,
                role: Role::parse(&role).ok_or(StoreError::Corrupt("member.role"))?,
                password_hash: row.try_get("password_hash")?,
            })
        }

        /// A member row to insert.
        struct NewMember<'a> {
            tenant_id: i64,
            email: &'a str,
            role: &'a str,
            password_hash: &'a str,
            now: i64,
        }

        /// Inserts a member; `Conflict` when the address already belongs to one.
        async fn insert_member<'e>(
            exec: impl sqlx::Executor<'e, Database = $db>,
            m: NewMember<'_>,
        ) -> Result<MemberRecord, StoreError> {
            let row = sqlx::query(&format!(
                "INSERT INTO member (tenant_id, email, role, password_hash, created_at) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING {MEMBER_COLUMNS}"
            ))
            .bind(m.tenant_id)
            .bind(m.email)
            .bind(m.role)
            .bind(m.password_hash)
            .bind(m.now)
            .fetch_one(exec)
            .await
            .map_err(unique_violation)?;
            member_from_row(&row)
        }

        /// Takes the tenant's row lock for the rest of the transaction, so two changes to
        /// its owners run one after the other and the second sees the first (PostgreSQL
        /// re-reads for each statement; SQLite holds one writer at a time anyway).
        async fn lock_tenant(
            conn: &mut <$db as sqlx::Database>::Connection,
            tenant_id: i64,
        ) -> Result<(), StoreError> {
            sqlx::query("UPDATE tenant SET name = name WHERE tenant_id = $1")
                .bind(tenant_id)
                .execute(&mut *conn)
                .await?;
            Ok(())
        }

        #[async_trait]
        impl TenantStore for $store {
            async fn create_tenant(
                &self,
                name: &str,
                email: &str,
                password_hash: &str,
                now: i64,
            ) -> Result<(TenantRecord, MemberRecord), StoreError> {
                let mut tx = self.write_tx().await?;
                let tenant_id: i64 = sqlx::query_scalar(
                    "INSERT INTO tenant (name, created_at) VALUES ($1, $2) RETURNING tenant_id",
                )
                .bind(name)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
                let new = NewMember {
                    tenant_id,
                    email,
                    role: Role::Owner.as_str(),
                    password_hash,
                    now,
                };
                let member = insert_member(&mut *tx, new).await?;
                tx.commit().await?;
                Ok((
                    TenantRecord {
                        tenant_id,
                        name: name.to_owned(),
                    },
                    member,
                ))
            }

            async fn add_member(
                &self,
                tenant_id: i64,
                email: &str,
                role: Role,
                password_hash: &str,
                now: i64,
            ) -> Result<MemberRecord, StoreError> {
                let new = NewMember {
                    tenant_id,
                    email,
                    role: role.as_str(),
                    password_hash,
                    now,
                };
                let mut tx = self.write_one().await?;
                let member = insert_member(&mut *tx, new).await?;
                tx.commit().await?;
                Ok(member)
            }

            async fn find_member(&self, email: &str) -> Result<Option<MemberRecord>, StoreError> {
                sqlx::query(&format!(
                    "SELECT {MEMBER_COLUMNS} FROM member WHERE email = $1"
                ))
                .bind(email)
                .fetch_optional(&self.pool)
                .await?
                .as_ref()
                .map(member_from_row)
                .transpose()
            }

            async fn set_member_role(
                &self,
                tenant_id: i64,
                member_id: i64,
                role: Role,
            ) -> Result<bool, StoreError> {
                let mut tx = self.write_tx().await?;
                lock_tenant(&mut tx, tenant_id).await?;
                let done = sqlx::query(&format!(
                    "UPDATE member SET role = $1 WHERE tenant_id = $2 AND member_id = $3 \
                     AND ($1 = 'owner' OR {})",
                    another_owner("$2", "$3")
                ))
                .bind(role.as_str())
                .bind(tenant_id)
                .bind(member_id)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(done.rows_affected() == 1)
            }

            async fn remove_member(
                &self,
                tenant_id: i64,
                member_id: i64,
            ) -> Result<bool, StoreError> {
                let mut tx = self.write_tx().await?;
                lock_tenant(&mut tx, tenant_id).await?;
                let done = sqlx::query(&format!(
                    "DELETE FROM member WHERE tenant_id = $1 AND member_id = $2 AND {}",
                    another_owner("$1", "$2")
                ))
                .bind(tenant_id)
                .bind(member_id)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(done.rows_affected() == 1)
            }

            async fn tenant_members(
                &self,
                tenant_id: i64,
            ) -> Result<Vec<MemberRecord>, StoreError> {
                sqlx::query(&format!(
                    "SELECT {MEMBER_COLUMNS} FROM member WHERE tenant_id = $1 ORDER BY email"
                ))
                .bind(tenant_id)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(member_from_row)
                .collect()
            }

            async fn insert_invite(
                &self,
                token_hash: &[u8],
                tenant_id: i64,
                email: &str,
                role: Role,
                expires_at: i64,
            ) -> Result<(), StoreError> {
                let mut tx = self.write_one().await?;
                sqlx::query(
                    "INSERT INTO invite (token_hash, tenant_id, email, role, expires_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(token_hash)
                .bind(tenant_id)
                .bind(email)
                .bind(role.as_str())
                .bind(expires_at)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn find_invite(
                &self,
                token_hash: &[u8],
                now: i64,
            ) -> Result<Option<InviteRecord>, StoreError> {
                let row = sqlx::query(
                    "SELECT tenant_id, email, role FROM invite \
                     WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
                )
                .bind(token_hash)
                .bind(now)
                .fetch_optional(&self.pool)
                .await?;
                row.map(|row| {
                    let role: String = row.try_get("role")?;
                    Ok(InviteRecord {
                        tenant_id: row.try_get("tenant_id")?,
                        email: row.try_get("email")?,
                        role: Role::parse(&role).ok_or(StoreError::Corrupt("invite.role"))?,
                    })
                })
                .transpose()
            }

            async fn accept_invite(
                &self,
                token_hash: &[u8],
                password_hash: &str,
                now: i64,
            ) -> Result<Option<MemberRecord>, StoreError> {
                let mut tx = self.write_tx().await?;
                let used = sqlx::query(
                    "UPDATE invite SET used_at = $1 \
                     WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 \
                     RETURNING tenant_id, email, role",
                )
                .bind(now)
                .bind(token_hash)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(used) = used else {
                    tx.rollback().await?;
                    return Ok(None);
                };
                let email: String = used.try_get("email")?;
                let role: String = used.try_get("role")?;
                let new = NewMember {
                    tenant_id: used.try_get("tenant_id")?,
                    email: &email,
                    role: &role,
                    password_hash,
                    now,
                };
                let member = insert_member(&mut *tx, new).await?;
                tx.commit().await?;
                Ok(Some(member))
            }

            async fn insert_session(
                &self,
                token_hash: &[u8],
                member_id: i64,
                now: i64,
            ) -> Result<(), StoreError> {
                let mut tx = self.write_one().await?;
                sqlx::query(
                    "INSERT INTO member_session (token_hash, member_id, created_at, last_seen_at) \
                     VALUES ($1, $2, $3, $3)",
                )
                .bind(token_hash)
                .bind(member_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn find_session(
                &self,
                token_hash: &[u8],
            ) -> Result<Option<SessionRecord>, StoreError> {
                let row = sqlx::query(&format!(
                    "SELECT {MEMBER_COLUMNS}, tenant.name AS tenant_name, \
                     member_session.created_at, member_session.last_seen_at \
                     FROM member_session \
                     JOIN member ON member.member_id = member_session.member_id \
                     JOIN tenant ON tenant.tenant_id = member.tenant_id \
                     WHERE member_session.token_hash = $1"
                ))
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?;
                row.map(|row| {
                    let member = member_from_row(&row)?;
                    Ok(SessionRecord {
                        tenant: TenantRecord {
                            tenant_id: member.tenant_id,
                            name: row.try_get("tenant_name")?,
                        },
                        member,
                        created_at: row.try_get("created_at")?,
                        last_seen_at: row.try_get("last_seen_at")?,
                    })
                })
                .transpose()
            }

            async fn touch_session(&self, token_hash: &[u8], now: i64) -> Result<(), StoreError> {
                let mut tx = self.write_one().await?;
                sqlx::query("UPDATE member_session SET last_seen_at = $1 WHERE token_hash = $2")
                    .bind(now)
                    .bind(token_hash)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn delete_session(&self, token_hash: &[u8]) -> Result<bool, StoreError> {
                let mut tx = self.write_one().await?;
                let done = sqlx::query("DELETE FROM member_session WHERE token_hash = $1")
                    .bind(token_hash)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(done.rows_affected() == 1)
            }

            async fn append_audit(&self, entry: &NewAudit<'_>) -> Result<(), StoreError> {
                let mut tx = self.write_one().await?;
                sqlx::query(
                    "INSERT INTO audit \
                     (tenant_id, member_id, action, detail, ip, created_at, actor) \
                     VALUES ($1, $2, $3, $4, $5, $6, \
                       COALESCE((SELECT email FROM member WHERE member_id = $2), ''))",
                )
                .bind(entry.tenant_id)
                .bind(entry.member_id)
                .bind(entry.action)
                .bind(&entry.detail)
                .bind(entry.ip)
                .bind(entry.now)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn audit_log(
                &self,
                tenant_id: i64,
                filter: &AuditFilter<'_>,
                limit: i64,
            ) -> Result<Vec<AuditRecord>, StoreError> {
                let rows = sqlx::query(
                    "SELECT audit_id, NULLIF(actor, '') AS actor, action, detail, ip, created_at \
                     FROM audit WHERE tenant_id = $1 AND ($2 = '' OR action = $2) \
                       AND ($3 = '' OR actor = $3) AND audit_id < $4 \
                     ORDER BY audit_id DESC LIMIT $5",
                )
                .bind(tenant_id)
                .bind(filter.action)
                .bind(filter.actor)
                .bind(filter.before.unwrap_or(i64::MAX))
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|row| {
                        Ok(AuditRecord {
                            audit_id: row.try_get("audit_id")?,
                            actor: row.try_get("actor")?,
                            action: row.try_get("action")?,
                            detail: row.try_get("detail")?,
                            ip: row.try_get("ip")?,
                            created_at: row.try_get("created_at")?,
                        })
                    })
                    .collect()
            }
        }
    };
}

pub(in crate::gateway::store) use sql_tenants;
