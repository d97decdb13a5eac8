//! Invitations: an owner invites someone by e-mail address with a role; the invitation is
//! a link holding a random token (only its SHA-256 is stored), shown once, good for one
//! use within seven days. Following it, the person chooses a password and is signed in.

use super::{email_taken, member_email, Session, SignedIn};
use crate::gateway::{
    apps::hash_off_executor,
    error::EngineError,
    handle::Gateway,
    secret::{random_bytes, ApiSecret},
    store::Role,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use sha2::{Digest, Sha256};

/// How long an invitation link works.
pub const INVITE_MS: i64 = 7 * 24 * 60 * 60 * 1000;
/// The shortest password a member may choose.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// The argon2id hash of a password a person chose, once it is long enough.
pub(crate) async fn chosen_password_hash(password: &str) -> Result<String, EngineError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(EngineError::invalid(
            "password",
            format!("must be at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    let chosen =
        ApiSecret::parse(password).map_err(|e| EngineError::invalid("password", e.to_string()))?;
    Ok(hash_off_executor(&chosen).await)
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Gateway {
    /// Invites `email` into the session's tenant with `role` (owners only). Returns the
    /// invitation's token, for the link; shown once.
    pub async fn invite_member(
        &self,
        session: &Session,
        email: &str,
        role: Role,
        ip: &str,
    ) -> Result<String, EngineError> {
        if session.member.role != Role::Owner {
            return Err(EngineError::Forbidden);
        }
        let email = member_email(email)?;
        if self.store().find_member(&email).await?.is_some() {
            return Err(EngineError::invalid("email", "already belongs to a member"));
        }
        let token = URL_SAFE_NO_PAD.encode(random_bytes::<32>());
        let now = self.now_ms();
        self.store()
            .insert_invite(
                &digest(&token),
                session.tenant.tenant_id,
                &email,
                role,
                now + INVITE_MS,
            )
            .await?;
        let detail = serde_json::json!({"email": email, "role": role.as_str()});
        self.audit_by(session, "member_invited", detail, ip).await?;
        Ok(token)
    }

    /// The e-mail address an open invitation is for; `NotFound` for an unknown, used or
    /// expired one.
    pub async fn invitation(&self, token: &str) -> Result<String, EngineError> {
        let invite = self
            .store()
            .find_invite(&digest(token), self.now_ms())
            .await?
            .ok_or(EngineError::NotFound)?;
        Ok(invite.email)
    }

    /// Accepts an invitation: the member is made with the chosen password (used once, in
    /// the same transaction) and signed in.
    pub async fn accept_invite(
        &self,
        token: &str,
        password: &str,
        ip: std::net::IpAddr,
    ) -> Result<SignedIn, EngineError> {
        let hash = chosen_password_hash(password).await?;
        let member = self
            .store()
            .accept_invite(&digest(token), &hash, self.now_ms())
            .await
            .map_err(email_taken)?
            .ok_or(EngineError::NotFound)?;
        let ip = ip.to_string();
        let detail = serde_json::json!({"email": member.email, "role": member.role.as_str()});
        self.audit(
            member.tenant_id,
            Some(&member),
            "invite_accepted",
            detail,
            &ip,
        )
        .await?;
        self.open_session(member, &ip).await
    }
}
