//! Signing in to the dashboard: passwords checked against argon2id hashes (rate-limited
//! per account and per client IP), sessions as opaque random tokens of which only the
//! SHA-256 is stored, idle and absolute expiry, and the CSRF token bound to each session.

use crate::gateway::{
    apps::hash_off_executor,
    error::EngineError,
    handle::Gateway,
    limits::{self, Limit},
    secret::{random_bytes, ApiSecret},
    store::{MemberRecord, TenantRecord},
    tenants::two_factor::PasswordOutcome,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use sha2::{Digest, Sha256};
use std::{fmt, net::IpAddr};
use subtle::ConstantTimeEq;
use tokio::sync::OnceCell;

/// A session ends after this long without a request...
pub const IDLE_MS: i64 = 2 * 60 * 60 * 1000;
/// ...and this long after sign-in, whatever happens.
pub const ABSOLUTE_MS: i64 = 12 * 60 * 60 * 1000;
/// `last_seen_at` is written at most this often.
const TOUCH_EVERY_MS: i64 = 60 * 1000;

/// Sign-in attempts per account (by e-mail address) and per client IP.
pub const SIGN_IN_PER_ACCOUNT: Limit = Limit::new(10, 15 * 60);
pub const SIGN_IN_PER_IP: Limit = Limit::new(30, 15 * 60);

/// The cookie's value. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(String);

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionToken(<redacted>)")
    }
}

impl SessionToken {
    fn generate() -> Self {
        Self(URL_SAFE_NO_PAD.encode(random_bytes::<32>()))
    }

    /// A token as the browser sent it.
    pub fn from_cookie(raw: &str) -> Self {
        Self(raw.to_owned())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    fn digest(&self) -> [u8; 32] {
        Sha256::digest(self.0.as_bytes()).into()
    }

    /// The CSRF token of this session: derived from the secret token, so it needs no
    /// storage and a page of another site cannot know it.
    fn csrf(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(b"otpgate dashboard csrf\0");
        hasher.update(self.0.as_bytes());
        URL_SAFE_NO_PAD.encode(hasher.finalize())
    }
}

/// A successful sign-in: the new session's token, for the cookie.
#[derive(Debug)]
pub struct SignedIn {
    pub token: SessionToken,
    pub member: MemberRecord,
}

/// A live session: who is signed in, for which tenant, and the token every form of the
/// session must carry.
#[derive(Debug, Clone)]
pub struct Session {
    pub member: MemberRecord,
    pub tenant: TenantRecord,
    pub csrf: String,
    token_hash: [u8; 32],
}

impl Session {
    /// Whether a form's CSRF token is this session's (in constant time).
    pub fn csrf_matches(&self, presented: &str) -> bool {
        self.csrf.as_bytes().ct_eq(presented.as_bytes()).into()
    }
}

/// A hash no password matches, checked when the e-mail address is unknown so that both
/// answers cost one argon2id.
static DECOY: OnceCell<String> = OnceCell::const_new();

impl Gateway {
    /// Checks a member's e-mail address and password. Right, it makes a new session (a new
    /// token on every sign-in), or, for a member with a second factor or of a team that
    /// requires one, a ticket for the second step. Unknown addresses and wrong passwords
    /// look the same.
    pub async fn sign_in(
        &self,
        email: &str,
        password: &str,
        ip: IpAddr,
    ) -> Result<PasswordOutcome, EngineError> {
        let email = email.trim().to_lowercase();
        let ip_text = ip.to_string();
        self.limit(
            limits::key("sign_in_ip", 0, &limits::ip_subject(ip)),
            Some(SIGN_IN_PER_IP),
        )
        .await?;
        self.limit(
            limits::key("sign_in_account", 0, &limits::address_subject(&email)),
            Some(SIGN_IN_PER_ACCOUNT),
        )
        .await?;
        let member = self.store().find_member(&email).await?;
        let stored = match &member {
            Some(m) => m.password_hash.clone(),
            None => DECOY
                .get_or_init(|| async { hash_off_executor(&ApiSecret::generate()).await })
                .await
                .clone(),
        };
        let typed = ApiSecret::parse(password).ok();
        let matches = match typed {
            Some(typed) => tokio::task::spawn_blocking(move || typed.verify(&stored))
                .await
                .unwrap_or(false),
            None => false,
        };
        let member = match member {
            Some(member) if matches => member,
            Some(member) => {
                let detail = serde_json::json!({ "email": email });
                self.audit(member.tenant_id, None, "sign_in_failed", detail, &ip_text)
                    .await?;
                return Err(EngineError::Unauthorized);
            }
            None => return Err(EngineError::Unauthorized),
        };
        self.after_password(member, &ip_text).await
    }

    /// A new session for a member whose password was just checked or chosen; audited as
    /// a sign-in.
    pub(crate) async fn open_session(
        &self,
        member: MemberRecord,
        ip: &str,
    ) -> Result<SignedIn, EngineError> {
        let token = SessionToken::generate();
        self.store()
            .insert_session(&token.digest(), member.member_id, self.now_ms())
            .await?;
        let detail = serde_json::json!({});
        self.audit(member.tenant_id, Some(&member), "signed_in", detail, ip)
            .await?;
        Ok(SignedIn { token, member })
    }

    /// The live session for a cookie's token; `None` when there is none or it has expired
    /// (an expired one is ended here).
    pub async fn session(&self, token: &SessionToken) -> Result<Option<Session>, EngineError> {
        let hash = token.digest();
        let Some(found) = self.store().find_session(&hash).await? else {
            return Ok(None);
        };
        let now = self.now_ms();
        if now - found.last_seen_at > IDLE_MS || now - found.created_at > ABSOLUTE_MS {
            self.store().delete_session(&hash).await?;
            return Ok(None);
        }
        if now - found.last_seen_at > TOUCH_EVERY_MS {
            self.store().touch_session(&hash, now).await?;
        }
        Ok(Some(Session {
            member: found.member,
            tenant: found.tenant,
            csrf: token.csrf(),
            token_hash: hash,
        }))
    }

    /// Ends a session on the server: its token no longer signs anyone in.
    pub async fn sign_out(&self, session: &Session, ip: &str) -> Result<(), EngineError> {
        self.store().delete_session(&session.token_hash).await?;
        self.audit_by(session, "signed_out", serde_json::json!({}), ip)
            .await
    }
}
