//! Two-factor sign-in to the dashboard: a member enrols an authenticator app (the same
//! TOTP codes as an app's factors: `gateway::totp`), gets ten one-time recovery codes
//! (shown once, kept as SHA-256 digests), and from then on a password alone signs nobody
//! in: it earns a short-lived ticket for the second step. An owner can require it for the
//! whole team; a member without a factor then enrols at that second step.

use crate::gateway::{
    error::EngineError,
    handle::Gateway,
    limits::{self, Limit},
    secret::random_bytes,
    store::{MemberFactor, MemberRecord, Role, StoreError},
    tenants::{sessions::SignedIn, Session},
    totp::{TotpParams, TotpSecret},
};
use crate::model::EnrolmentView;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use sha2::{Digest, Sha256};

const SEAL_PURPOSE: &str = "member-factor";
const TICKET_LABEL: &str = "otpgate/sign-in-ticket/v1";
/// How long the second step may take after the password.
pub const TICKET_MS: i64 = 5 * 60 * 1000;
/// Recovery codes made at each enrolment.
pub const RECOVERY_CODES: usize = 10;
/// Codes tried at the second step (and to confirm an enrolment), per member: a right
/// code counts too.
pub const SECOND_STEP_PER_MEMBER: Limit = Limit::new(10, 15 * 60);

/// Where a right password leaves a sign-in.
#[derive(Debug)]
pub enum PasswordOutcome {
    /// Signed in: the member has no second factor and the team does not require one.
    SignedIn(SignedIn),
    /// A code must follow (or, the team requiring it, an enrolment); `ticket` is the
    /// browser's proof of the password until then, for [`TICKET_MS`].
    SecondStep { ticket: String },
}

impl PasswordOutcome {
    /// The session, when the password alone signed the member in.
    pub fn signed_in(self) -> Option<SignedIn> {
        match self {
            PasswordOutcome::SignedIn(s) => Some(s),
            PasswordOutcome::SecondStep { .. } => None,
        }
    }
}

/// The second step's page: whose sign-in it is, and the enrolment to show when the member
/// has no factor yet.
#[derive(Debug, Clone)]
pub struct SecondStep {
    pub email: String,
    pub enrolment: Option<EnrolmentView>,
}

/// A member's two-factor state, for the security page.
#[derive(Debug, Clone)]
pub struct SecurityState {
    pub enabled: bool,
    pub recovery_left: u32,
    /// Whether the team requires it, and whether this member may change that.
    pub required: bool,
    pub owner: bool,
    /// An enrolment started and not confirmed yet: its QR code and key.
    pub pending: Option<EnrolmentView>,
}

impl Gateway {
    /// What follows a right password for `member`.
    pub(crate) async fn after_password(
        &self,
        member: MemberRecord,
        ip: &str,
    ) -> Result<PasswordOutcome, EngineError> {
        let store = self.store();
        let active = store
            .member_factor(member.member_id)
            .await?
            .is_some_and(|f| f.status == "active");
        if active || store.requires_two_factor(member.tenant_id).await? {
            return Ok(PasswordOutcome::SecondStep {
                ticket: self.ticket(member.member_id),
            });
        }
        Ok(PasswordOutcome::SignedIn(
            self.open_session(member, ip).await?,
        ))
    }

    /// `<member>.<expiry ms>.<mac>`: names the member whose password was right, until
    /// its expiry; nothing is stored.
    fn ticket(&self, member_id: i64) -> String {
        let expires = self.now_ms() + TICKET_MS;
        let parts = [member_id.to_string(), expires.to_string()];
        let mac = self.hasher().derive(TICKET_LABEL, &[&parts[0], &parts[1]]);
        format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode(mac))
    }

    /// The member a live ticket names.
    async fn ticket_member(&self, ticket: &str) -> Result<MemberRecord, EngineError> {
        let mut parts = ticket.splitn(3, '.');
        let (Some(id), Some(expires), Some(mac)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(EngineError::Unauthorized);
        };
        let mac = URL_SAFE_NO_PAD
            .decode(mac)
            .map_err(|_| EngineError::Unauthorized)?;
        if !self
            .hasher()
            .verify_derived(TICKET_LABEL, &[id, expires], &mac)
        {
            return Err(EngineError::Unauthorized);
        }
        let expires: i64 = expires.parse().map_err(|_| EngineError::Unauthorized)?;
        let id: i64 = id.parse().map_err(|_| EngineError::Unauthorized)?;
        if expires <= self.now_ms() {
            return Err(EngineError::Unauthorized);
        }
        self.store()
            .member_by_id(id)
            .await?
            .ok_or(EngineError::Unauthorized)
    }

    /// The second step of a sign-in: the code form, with an enrolment (a new pending
    /// factor, or the one already pending) when the member has no active factor.
    pub async fn second_step(&self, ticket: &str) -> Result<SecondStep, EngineError> {
        let member = self.ticket_member(ticket).await?;
        let factor = self.store().member_factor(member.member_id).await?;
        let enrolment = match factor {
            Some(f) if f.status == "active" => None,
            Some(f) => Some(self.member_enrolment(&member, &f)?),
            None => Some(self.new_member_factor(&member).await?),
        };
        Ok(SecondStep {
            email: member.email,
            enrolment,
        })
    }

    /// Finishes a sign-in with a code from the authenticator app, or a recovery code. At
    /// an enrolment the first right code activates the factor, and the recovery codes made
    /// then are returned, to be shown once.
    pub async fn finish_sign_in(
        &self,
        ticket: &str,
        code: &str,
        ip: &str,
    ) -> Result<(SignedIn, Option<Vec<String>>), EngineError> {
        let member = self.ticket_member(ticket).await?;
        self.limit_second_step(&member).await?;
        let factor = self
            .store()
            .member_factor(member.member_id)
            .await?
            .ok_or(EngineError::Unauthorized)?;
        let codes = match self.accept_member_code(&member, &factor, code).await? {
            Accepted::Step => None,
            Accepted::Enrolled(codes) => {
                self.audit(
                    member.tenant_id,
                    Some(&member),
                    "two_factor_enabled",
                    serde_json::json!({}),
                    ip,
                )
                .await?;
                Some(codes)
            }
            Accepted::No => {
                let detail = serde_json::json!({ "email": member.email });
                self.audit(
                    member.tenant_id,
                    Some(&member),
                    "second_step_failed",
                    detail,
                    ip,
                )
                .await?;
                return Err(EngineError::Unauthorized);
            }
        };
        Ok((self.open_session(member, ip).await?, codes))
    }

    /// The signed-in member's two-factor state.
    pub async fn security(&self, session: &Session) -> Result<SecurityState, EngineError> {
        let store = self.store();
        let member_id = session.member.member_id;
        let factor = store.member_factor(member_id).await?;
        let enabled = factor.as_ref().is_some_and(|f| f.status == "active");
        let pending = match factor {
            Some(f) if f.status == "pending" => Some(self.member_enrolment(&session.member, &f)?),
            _ => None,
        };
        Ok(SecurityState {
            enabled,
            pending,
            recovery_left: store.recovery_codes_left(member_id).await?,
            required: store.requires_two_factor(session.tenant.tenant_id).await?,
            owner: session.member.role == Role::Owner,
        })
    }

    /// Starts the signed-in member's enrolment: a new secret, pending until its first
    /// code. Refused while a factor is active (turn it off first).
    pub async fn start_two_factor(&self, session: &Session) -> Result<EnrolmentView, EngineError> {
        self.new_member_factor(&session.member).await
    }

    /// Confirms the signed-in member's pending enrolment with its first code: the factor
    /// is active from now on; the recovery codes, to be shown once.
    pub async fn confirm_two_factor(
        &self,
        session: &Session,
        code: &str,
        ip: &str,
    ) -> Result<Vec<String>, EngineError> {
        let member = &session.member;
        self.limit_second_step(member).await?;
        let factor = self
            .store()
            .member_factor(member.member_id)
            .await?
            .filter(|f| f.status == "pending")
            .ok_or_else(|| EngineError::invalid("code", "there is no enrolment to confirm"))?;
        match self.accept_member_code(member, &factor, code).await? {
            Accepted::Enrolled(codes) => {
                self.audit_by(session, "two_factor_enabled", serde_json::json!({}), ip)
                    .await?;
                Ok(codes)
            }
            _ => Err(EngineError::invalid("code", "that code is not right")),
        }
    }

    /// Turns the signed-in member's second factor off (and its recovery codes with it).
    pub async fn disable_two_factor(&self, session: &Session, ip: &str) -> Result<(), EngineError> {
        self.store()
            .delete_member_factor(session.member.member_id)
            .await?;
        self.audit_by(session, "two_factor_disabled", serde_json::json!({}), ip)
            .await
    }

    /// Requires (or stops requiring) a second factor of every member of the team: owners
    /// only.
    pub async fn require_two_factor(
        &self,
        session: &Session,
        on: bool,
        ip: &str,
    ) -> Result<(), EngineError> {
        if session.member.role != Role::Owner {
            return Err(EngineError::Forbidden);
        }
        self.store()
            .set_requires_two_factor(session.tenant.tenant_id, on)
            .await?;
        let detail = serde_json::json!({ "required": on });
        self.audit_by(session, "two_factor_required", detail, ip)
            .await
    }

    /// One more try of `member`'s codes, within [`SECOND_STEP_PER_MEMBER`].
    async fn limit_second_step(&self, member: &MemberRecord) -> Result<(), EngineError> {
        let subject = member.member_id.to_string();
        self.limit(
            limits::key("second_step", member.tenant_id, &subject),
            Some(SECOND_STEP_PER_MEMBER),
        )
        .await
    }

    /// A new pending factor for `member` and its enrolment view.
    async fn new_member_factor(&self, member: &MemberRecord) -> Result<EnrolmentView, EngineError> {
        let secret = TotpSecret::generate();
        let sealed = self.hasher().seal_for(
            SEAL_PURPOSE,
            &member.member_id.to_string(),
            secret.as_bytes(),
        );
        let now = self.now_ms();
        if !self
            .store()
            .put_member_factor(member.member_id, &sealed, now)
            .await?
        {
            return Err(EngineError::invalid(
                "factor",
                "an authenticator app is already on; turn it off first",
            ));
        }
        Ok(enrolment(&secret, &member.email))
    }

    fn member_enrolment(
        &self,
        member: &MemberRecord,
        factor: &MemberFactor,
    ) -> Result<EnrolmentView, EngineError> {
        Ok(enrolment(&self.member_secret(factor)?, &member.email))
    }

    fn member_secret(&self, factor: &MemberFactor) -> Result<TotpSecret, EngineError> {
        let plain = self
            .hasher()
            .open_for(SEAL_PURPOSE, &factor.member_id.to_string(), &factor.sealed)
            .ok_or(StoreError::Corrupt("member_factor.sealed"))?;
        Ok(TotpSecret::from_bytes(plain))
    }

    /// Whether `code` is the factor's code for a step never accepted before (recorded
    /// now; an enrolment activated with new recovery codes), or, for an active factor, one
    /// of its unused recovery codes (spent now).
    async fn accept_member_code(
        &self,
        member: &MemberRecord,
        factor: &MemberFactor,
        code: &str,
    ) -> Result<Accepted, EngineError> {
        let store = self.store();
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        let params = TotpParams::default();
        let secret = self.member_secret(factor)?;
        let now = self.now_ms();
        let step = secret.matching_step(&params, &code, now / 1000, factor.last_step);
        if factor.status == "pending" {
            let Some(step) = step else {
                return Ok(Accepted::No);
            };
            let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| recovery_code()).collect();
            let hashes: Vec<Vec<u8>> = codes.iter().map(|c| recovery_hash(c)).collect();
            return Ok(
                if store
                    .accept_member_step(member.member_id, step, Some((&hashes, now)))
                    .await?
                {
                    Accepted::Enrolled(codes)
                } else {
                    Accepted::No
                },
            );
        }
        if let Some(step) = step {
            if store
                .accept_member_step(member.member_id, step, None)
                .await?
            {
                return Ok(Accepted::Step);
            }
            return Ok(Accepted::No);
        }
        let hash = recovery_hash(&code);
        Ok(
            if store
                .use_recovery_code(member.member_id, &hash, now)
                .await?
            {
                Accepted::Step
            } else {
                Accepted::No
            },
        )
    }
}

enum Accepted {
    No,
    Step,
    Enrolled(Vec<String>),
}

fn enrolment(secret: &TotpSecret, email: &str) -> EnrolmentView {
    secret.enrolment(&TotpParams::default(), "otpgate dashboard", email)
}

/// `xxxxx-xxxxx` from the base32 alphabet in lower case: 50 random bits.
fn recovery_code() -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let bytes = random_bytes::<10>();
    let chars: String = bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(b & 31)]))
        .collect();
    format!("{}-{}", &chars[..5], &chars[5..])
}

/// What a recovery code is kept as: the SHA-256 of it without dashes, in lower case.
fn recovery_hash(code: &str) -> Vec<u8> {
    let normal: String = code
        .chars()
        .filter(|c| *c != '-')
        .flat_map(char::to_lowercase)
        .collect();
    Sha256::digest(normal.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_ten_base32_letters_and_hash_without_case_or_dashes() {
        let code = recovery_code();
        assert_eq!(code.len(), 11);
        assert_eq!(&code[5..6], "-");
        assert!(code
            .chars()
            .all(|c| c == '-' || c.is_ascii_lowercase() || ('2'..='7').contains(&c)));
        assert_eq!(
            recovery_hash(&code),
            recovery_hash(&code.to_uppercase().replace('-', ""))
        );
        assert_ne!(recovery_hash(&code), recovery_hash(&recovery_code()));
    }
}
