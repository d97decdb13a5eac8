//! Tenants: the organisations that manage apps in the dashboard. Making a tenant and its
//! members, the apps a tenant manages, and the audit log of what its members did. Signing
//! in and sessions are in `tenants/sessions.rs`, invitations in `tenants/invites.rs`, an
//! app's API secrets in `tenants/secrets.rs`, its settings in `tenants/app_settings.rs`,
//! its dev inbox in `tenants/inbox.rs`, its message templates in `tenants/templates.rs`,
//! its own providers in `tenants/providers.rs`, its event webhooks in `tenants/webhooks.rs`,
//! one verification's timeline in `tenants/timeline.rs`.

pub mod app_settings;
pub mod factors;
pub mod guard;
pub mod history;
pub mod inbox;
pub mod invites;
pub mod providers;
pub mod secrets;
pub mod sessions;
pub mod stats;
pub mod templates;
pub mod timeline;
pub mod two_factor;
pub mod webhooks;

use crate::gateway::{
    apps::hash_off_executor,
    error::EngineError,
    handle::Gateway,
    secret::ApiSecret,
    store::{
        AppRecord, AuditFilter, AuditRecord, MemberRecord, NewAudit, Role, StoreError, TenantRecord,
    },
};
use crate::model::Namespace;
pub use sessions::{Session, SessionToken, SignedIn};

/// Sign-up attempts (refused ones included) one client IP may make per hour.
pub const SIGN_UP_PER_IP: crate::gateway::limits::Limit =
    crate::gateway::limits::Limit::new(5, 60 * 60);

/// Audit lines shown at once.
pub const AUDIT_PAGE: i64 = 200;

/// Every action the audit log records.
pub const AUDIT_ACTIONS: &[&str] = &[
    "tenant_created",
    "signed_in",
    "sign_in_failed",
    "second_step_failed",
    "signed_out",
    "two_factor_enabled",
    "two_factor_disabled",
    "two_factor_required",
    "member_added",
    "member_invited",
    "invite_accepted",
    "member_role_changed",
    "member_removed",
    "app_created",
    "app_renamed",
    "app_settings_changed",
    "app_deleted",
    "secret_created",
    "secret_revoked",
    "secret_rotated",
    "template_saved",
    "template_deleted",
    "provider_saved",
    "provider_deleted",
    "provider_tested",
    "webhook_added",
    "webhook_removed",
    "webhook_replayed",
    "hold_lifted",
];

/// A tenant just made, with its first owner's one-time password.
#[derive(Debug)]
pub struct NewTenant {
    pub tenant: TenantRecord,
    pub owner: MemberRecord,
    pub password: ApiSecret,
}

/// An e-mail address as a member's sign-in name: trimmed, lower-case, one `@`, no spaces
/// or control characters, at most 254 characters.
pub fn member_email(raw: &str) -> Result<String, EngineError> {
    let email = raw.trim().to_lowercase();
    let well_formed = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.contains('@')
        });
    if well_formed {
        Ok(email)
    } else {
        Err(EngineError::invalid("email", "must be an e-mail address"))
    }
}

/// A new member's address that another member already has.
pub(crate) fn email_taken(err: StoreError) -> EngineError {
    match err {
        StoreError::Conflict => EngineError::invalid("email", "already belongs to a member"),
        e => e.into(),
    }
}

fn last_owner() -> EngineError {
    EngineError::invalid("change", "would leave the team without an owner")
}

fn display_name(field: &'static str, raw: &str) -> Result<String, EngineError> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(EngineError::invalid(
            field,
            "must be 1 to 100 printable characters",
        ));
    }
    Ok(name.to_owned())
}

impl Gateway {
    /// Makes a tenant and its first owner, who signs in with the one-time password
    /// returned (only its argon2id hash is stored). For the operator's command line.
    pub async fn create_tenant(&self, name: &str, email: &str) -> Result<NewTenant, EngineError> {
        let name = display_name("name", name)?;
        let email = member_email(email)?;
        let password = ApiSecret::generate();
        let hash = hash_off_executor(&password).await;
        let now = self.now_ms();
        let (tenant, owner) = self
            .store()
            .create_tenant(&name, &email, &hash, now)
            .await
            .map_err(email_taken)?;
        self.audit(
            tenant.tenant_id,
            None,
            "tenant_created",
            serde_json::json!({"name": name, "owner": email}),
            "cli",
        )
        .await?;
        Ok(NewTenant {
            tenant,
            owner,
            password,
        })
    }

    /// Self sign-up, when the operator turned it on: a new tenant named `team` whose first
    /// owner is `email` with the password they chose, signed in. Limited per client IP.
    pub async fn sign_up(
        &self,
        team: &str,
        email: &str,
        password: &str,
        ip: std::net::IpAddr,
    ) -> Result<SignedIn, EngineError> {
        if !self.settings().self_signup {
            return Err(EngineError::NotFound);
        }
        self.limit(
            crate::gateway::limits::key("sign_up_ip", 0, &crate::gateway::limits::ip_subject(ip)),
            Some(SIGN_UP_PER_IP),
        )
        .await?;
        let name = display_name("team", team)?;
        let email = member_email(email)?;
        let hash = invites::chosen_password_hash(password).await?;
        let (tenant, _) = self
            .store()
            .create_tenant(&name, &email, &hash, self.now_ms())
            .await
            .map_err(email_taken)?;
        let detail = serde_json::json!({"name": name, "owner": email, "by": "sign-up"});
        self.audit(
            tenant.tenant_id,
            None,
            "tenant_created",
            detail,
            &ip.to_string(),
        )
        .await?;
        // A new team requires no second factor, and its owner has none yet.
        self.sign_in(&email, password, ip)
            .await?
            .signed_in()
            .ok_or(EngineError::Unauthorized)
    }

    /// Adds a member to the session's tenant (owners only) and returns their one-time
    /// password.
    pub async fn add_member(
        &self,
        session: &Session,
        email: &str,
        role: Role,
        ip: &str,
    ) -> Result<(MemberRecord, ApiSecret), EngineError> {
        if session.member.role != Role::Owner {
            return Err(EngineError::Forbidden);
        }
        let email = member_email(email)?;
        let password = ApiSecret::generate();
        let hash = hash_off_executor(&password).await;
        let member = self
            .store()
            .add_member(session.tenant.tenant_id, &email, role, &hash, self.now_ms())
            .await
            .map_err(email_taken)?;
        let detail = serde_json::json!({"email": email, "role": role.as_str()});
        self.audit_by(session, "member_added", detail, ip).await?;
        Ok((member, password))
    }

    /// The members of the session's tenant.
    pub async fn tenant_members(
        &self,
        session: &Session,
    ) -> Result<Vec<MemberRecord>, EngineError> {
        Ok(self
            .store()
            .tenant_members(session.tenant.tenant_id)
            .await?)
    }

    /// The apps the session's tenant manages.
    pub async fn tenant_apps(&self, session: &Session) -> Result<Vec<AppRecord>, EngineError> {
        Ok(self.store().tenant_apps(session.tenant.tenant_id).await?)
    }

    /// One of the session's tenant's apps; any other namespace, whoever owns it, is
    /// `NotFound`.
    pub async fn tenant_app(
        &self,
        session: &Session,
        namespace: &str,
    ) -> Result<AppRecord, EngineError> {
        match self.store().find_app(namespace).await? {
            Some(app) if app.tenant_id == Some(session.tenant.tenant_id) => Ok(app),
            _ => Err(EngineError::NotFound),
        }
    }

    /// A changeable app of the session's tenant: the member's role must manage apps, and
    /// the config file must not declare it.
    pub(crate) async fn managed_app(
        &self,
        session: &Session,
        namespace: &str,
    ) -> Result<AppRecord, EngineError> {
        let app = self.tenant_app(session, namespace).await?;
        if !session.member.role.manages_apps() {
            return Err(EngineError::Forbidden);
        }
        if app.declared {
            return Err(EngineError::invalid(
                "app",
                "is declared in the config file, so it is changed there",
            ));
        }
        Ok(app)
    }

    /// Creates an app for the session's tenant (owners and developers) with a generated
    /// secret, returned once.
    pub async fn create_tenant_app(
        &self,
        session: &Session,
        namespace: &str,
        name: &str,
        ip: &str,
    ) -> Result<(AppRecord, ApiSecret), EngineError> {
        if !session.member.role.manages_apps() {
            return Err(EngineError::Forbidden);
        }
        let namespace = Namespace::parse(namespace.trim())
            .map_err(|e| EngineError::invalid("namespace", e.to_string()))?;
        let name = display_name("name", name)?;
        let secret = ApiSecret::generate();
        let hash = hash_off_executor(&secret).await;
        let app = self
            .store()
            .create_app(
                namespace.as_str(),
                &name,
                Some(session.tenant.tenant_id),
                &hash,
                self.now_ms(),
            )
            .await
            .map_err(|e| match e {
                StoreError::Conflict => EngineError::invalid("namespace", "is taken"),
                e => e.into(),
            })?;
        let detail = serde_json::json!({"namespace": app.namespace, "name": app.name});
        self.audit_by(session, "app_created", detail, ip).await?;
        Ok((app, secret))
    }

    /// Renames one of the tenant's apps (owners and developers).
    pub async fn rename_tenant_app(
        &self,
        session: &Session,
        namespace: &str,
        name: &str,
        ip: &str,
    ) -> Result<AppRecord, EngineError> {
        let app = self.managed_app(session, namespace).await?;
        let name = display_name("name", name)?;
        self.store()
            .rename_app(app.app_id, &name, self.now_ms())
            .await?;
        self.inner.auth.forget(&app.namespace);
        let detail = serde_json::json!({"namespace": app.namespace, "from": app.name, "to": name});
        self.audit_by(session, "app_renamed", detail, ip).await?;
        Ok(AppRecord { name, ..app })
    }

    /// Deletes one of the tenant's apps with everything it holds (owners and developers).
    /// `confirm` must repeat its namespace.
    pub async fn delete_tenant_app(
        &self,
        session: &Session,
        namespace: &str,
        confirm: &str,
        ip: &str,
    ) -> Result<(), EngineError> {
        let app = self.managed_app(session, namespace).await?;
        if confirm.trim() != app.namespace {
            return Err(EngineError::invalid(
                "confirmation",
                "must repeat the app's namespace",
            ));
        }
        self.store().delete_app(app.app_id).await?;
        self.inner.auth.forget(&app.namespace);
        let detail = serde_json::json!({"namespace": app.namespace, "name": app.name});
        self.audit_by(session, "app_deleted", detail, ip).await
    }

    /// A page of the session's tenant's audit log, newest first, older than line `before`
    /// when given; only one action's lines when `action` is one of [`AUDIT_ACTIONS`]
    /// (anything else shows them all), only one member's when `actor` is an e-mail
    /// address. The page is full ([`AUDIT_PAGE`] lines) when older ones may follow.
    pub async fn audit_log(
        &self,
        session: &Session,
        action: &str,
        actor: &str,
        before: Option<i64>,
    ) -> Result<Vec<AuditRecord>, EngineError> {
        let action = AUDIT_ACTIONS
            .iter()
            .find(|a| **a == action)
            .copied()
            .unwrap_or("");
        let actor = member_email(actor).unwrap_or_default();
        let filter = AuditFilter {
            action,
            actor: &actor,
            before,
        };
        Ok(self
            .store()
            .audit_log(session.tenant.tenant_id, &filter, AUDIT_PAGE)
            .await?)
    }

    /// The member of the session's tenant with this id (owners only).
    async fn owned_member(
        &self,
        session: &Session,
        member_id: i64,
    ) -> Result<MemberRecord, EngineError> {
        if session.member.role != Role::Owner {
            return Err(EngineError::Forbidden);
        }
        self.store()
            .tenant_members(session.tenant.tenant_id)
            .await?
            .into_iter()
            .find(|m| m.member_id == member_id)
            .ok_or(EngineError::NotFound)
    }

    /// Gives a member another role (owners only); the tenant keeps at least one owner.
    pub async fn change_member_role(
        &self,
        session: &Session,
        member_id: i64,
        role: Role,
        ip: &str,
    ) -> Result<(), EngineError> {
        let member = self.owned_member(session, member_id).await?;
        let tenant_id = session.tenant.tenant_id;
        if !self
            .store()
            .set_member_role(tenant_id, member_id, role)
            .await?
        {
            return Err(last_owner());
        }
        let detail = serde_json::json!({
            "email": member.email, "from": member.role.as_str(), "to": role.as_str(),
        });
        self.audit_by(session, "member_role_changed", detail, ip)
            .await
    }

    /// Removes a member (owners only), which ends their sessions at once; the tenant
    /// keeps at least one owner.
    pub async fn remove_member(
        &self,
        session: &Session,
        member_id: i64,
        ip: &str,
    ) -> Result<(), EngineError> {
        let member = self.owned_member(session, member_id).await?;
        if member.member_id == session.member.member_id {
            return Err(EngineError::invalid(
                "member",
                "is you: another owner can remove you",
            ));
        }
        if !self
            .store()
            .remove_member(session.tenant.tenant_id, member_id)
            .await?
        {
            return Err(last_owner());
        }
        let detail = serde_json::json!({"email": member.email, "role": member.role.as_str()});
        self.audit_by(session, "member_removed", detail, ip).await
    }

    /// Appends one line to the session's tenant's audit log, as its member's action.
    pub(crate) async fn audit_by(
        &self,
        session: &Session,
        action: &str,
        detail: serde_json::Value,
        ip: &str,
    ) -> Result<(), EngineError> {
        let tenant_id = session.tenant.tenant_id;
        self.audit(tenant_id, Some(&session.member), action, detail, ip)
            .await
    }

    /// Appends one line to a tenant's audit log. `detail` must never hold a secret.
    pub(crate) async fn audit(
        &self,
        tenant_id: i64,
        member: Option<&MemberRecord>,
        action: &str,
        detail: serde_json::Value,
        ip: &str,
    ) -> Result<(), EngineError> {
        let entry = NewAudit {
            tenant_id,
            member_id: member.map(|m| m.member_id),
            action,
            detail: detail.to_string(),
            ip,
            now: self.now_ms(),
        };
        Ok(self.store().append_audit(&entry).await?)
    }
}
