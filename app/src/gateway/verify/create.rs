//! Starting a verification: the request checked field by field, the code made and
//! sealed, the limits counted, and the verification stored with its outbox row in one
//! transaction (or an open one with the same id re-issued, as otpgateway's re-PUT does).

use crate::gateway::{
    address::{Address, AddressError, Channel},
    clock::secs_until,
    code::{Alphabet, CodeSpec, OtpCode},
    delivery::{
        inbound::{inbound_code_spec, INBOUND_PROVIDER},
        totp::TOTP_PROVIDER,
        Provider,
    },
    error::EngineError,
    handle::Gateway,
    intent::{valid_action, valid_binding, valid_payload_hash, Intent},
    limits, metrics,
    secret::random_id,
    settings::{AdmitError, EngineSettings},
    store::{
        AppRecord, ClaimedDelivery, Lease, NewDelivery, NewVerification, Reissue, StoreError,
        VerificationRecord,
    },
};
use crate::model::{Status, VerificationId};
use std::{fmt, net::IpAddr, sync::Arc};

/// Where a verification goes, parsed at the edge: the provider, and the address as that
/// provider reads it.
#[derive(Clone)]
pub struct Target {
    pub provider: Arc<dyn Provider>,
    /// `None`: the hosted page collects the address.
    pub address: Option<Address>,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("provider", &self.provider.id())
            .field("address", &self.address)
            .finish()
    }
}

/// A code the integrator chose instead of a generated one, with the spec it implies.
#[derive(Debug, Clone)]
pub struct CustomCode {
    code: OtpCode,
    spec: CodeSpec,
}

impl CustomCode {
    /// 4 to 16 letters or digits; digits only make a numeric code.
    pub fn parse(raw: &str) -> Result<Self, EngineError> {
        let (code, spec) = OtpCode::parse_custom(raw)
            .map_err(|_| EngineError::invalid("otp", "must be 4 to 16 letters or digits"))?;
        Ok(Self { code, spec })
    }
}

/// What an integrator asks for when starting a verification. The APIs parse the target,
/// the id and a chosen code; the bounded values are checked by [`Gateway::create`].
#[derive(Debug, Clone)]
pub struct CreateRequest {
    pub id: Option<VerificationId>,
    pub target: Target,
    pub channel_description: String,
    pub address_description: String,
    /// A code chosen by the integrator instead of a generated one.
    pub code: Option<CustomCode>,
    pub ttl_secs: Option<u64>,
    pub max_attempts: Option<u32>,
    pub max_sends: Option<u32>,
    pub extra: Option<serde_json::Value>,
    /// The caller's client IP, for per-IP limits.
    pub client_ip: Option<IpAddr>,
    /// Where the hosted page sends the user when done; must be in the app's allow-list.
    pub redirect_url: Option<String>,
    /// Opaque value echoed with the redirect.
    pub state: Option<String>,
    /// Preferred language of the hosted page and messages (`en`, `pt-BR`, ...).
    pub locale: Option<String>,
    /// What the integrator will do once it is verified (verify-then-act), named in the
    /// token its success earns: `set_password`, `change_email`, `login`, ...
    pub action: Option<String>,
    /// A hash of the payload of that action (the new e-mail address, ...), named in the
    /// token too.
    pub payload_hash: Option<String>,
    /// Binds it to the browser session that started it: a check, and a token, only
    /// where this value is presented.
    pub session_binding: Option<String>,
}

impl CreateRequest {
    /// A request for `target` with every other field left to the app's defaults.
    pub fn new(target: Target) -> Self {
        Self {
            id: None,
            target,
            channel_description: String::new(),
            address_description: String::new(),
            code: None,
            ttl_secs: None,
            max_attempts: None,
            max_sends: None,
            extra: None,
            client_ip: None,
            redirect_url: None,
            state: None,
            locale: None,
            action: None,
            payload_hash: None,
            session_binding: None,
        }
    }
}

/// A started verification.
#[derive(Debug, Clone)]
pub struct Created {
    pub record: VerificationRecord,
    /// The code, only when the app turned on otpgateway's echo.
    pub echoed_code: Option<String>,
}

impl Gateway {
    /// Where a verification goes: the provider named `provider_id` and `to` as that
    /// provider reads it (empty: the hosted page asks for it).
    pub async fn target(
        &self,
        app: &AppRecord,
        provider_id: &str,
        to: &str,
    ) -> Result<Target, EngineError> {
        let provider = self.provider_for(app, provider_id).await?;
        let address = match to.trim() {
            "" => None,
            raw => Some(provider.parse_address(raw)?),
        };
        Ok(Target { provider, address })
    }

    /// Starts a verification, or re-issues an open one with the same id (otpgateway's
    /// re-PUT: new address, provider and code; counters untouched).
    #[tracing::instrument(skip(self, app, req), fields(app = %app.namespace, verification))]
    pub async fn create(
        &self,
        app: &AppRecord,
        req: CreateRequest,
    ) -> Result<Created, EngineError> {
        let s = &self.inner.settings;
        let own = &app.settings;
        let Target { provider, address } = req.target;
        let admitted = self.admit_address(app, provider.channel(), address.as_ref())?;
        let ttl = bounded(
            "ttl",
            req.ttl_secs,
            own.ttl_secs.unwrap_or(s.default_ttl_secs),
            1,
            EngineSettings::MAX_TTL_SECS,
        )?;
        let max_attempts = bounded(
            "max_attempts",
            req.max_attempts,
            own.max_attempts.unwrap_or(s.default_max_attempts),
            1,
            EngineSettings::MAX_ATTEMPTS,
        )?;
        let max_sends = bounded(
            "max_sends",
            req.max_sends,
            own.max_sends.unwrap_or(s.default_max_sends),
            1,
            EngineSettings::MAX_SENDS,
        )?;
        let extra = match req.extra {
            None => "{}".to_owned(),
            Some(v) => {
                let text = v.to_string();
                if text.len() > EngineSettings::MAX_EXTRA_BYTES {
                    return Err(EngineError::invalid(
                        "extra",
                        "must be at most 4096 bytes of JSON",
                    ));
                }
                text
            }
        };
        let redirect_url = match req.redirect_url.filter(|u| !u.is_empty()) {
            Some(url) if app.redirect_urls.contains(&url) => url,
            Some(_) => {
                return Err(EngineError::invalid(
                    "redirect_url",
                    "is not in the app's allow-list",
                ))
            }
            None => String::new(),
        };
        let state = req.state.unwrap_or_default();
        if state.chars().count() > 512 || state.chars().any(char::is_control) {
            return Err(EngineError::invalid(
                "state",
                "must be at most 512 printable characters",
            ));
        }
        let locale = req.locale.unwrap_or_default();
        if !locale.is_empty() && !valid_locale(&locale) {
            return Err(EngineError::invalid(
                "locale",
                "must be a language tag such as en or pt-BR",
            ));
        }
        let purpose = Purpose::check(req.action, req.payload_hash, req.session_binding)?;
        let inbound = provider.id() == INBOUND_PROVIDER;
        // An authenticator app's code comes from its factor: the verification stores
        // what its check compares once a typed code matched (`Gateway::totp_digests`).
        let totp = match (provider.id() == TOTP_PROVIDER, &address) {
            (false, _) => None,
            (true, None) => return Err(EngineError::invalid("to", "must name a factor")),
            (true, Some(a)) => Some(
                self.inner
                    .store
                    .find_factor(app.app_id, a.as_str())
                    .await?
                    .ok_or_else(|| EngineError::invalid("to", "names no factor of this app"))?,
            ),
        };
        // A test address gets its fixed code (unless the integrator chose one).
        let test_code = address.as_ref().and_then(|a| own.test_code(a.as_str()));
        let (code, spec) = match req.code {
            Some(_) if inbound || totp.is_some() => {
                return Err(EngineError::invalid(
                    "otp",
                    "inbound and authenticator-app verifications make their own code",
                ))
            }
            Some(custom) => (custom.code, custom.spec),
            None if totp.is_some() => {
                let digits = totp.as_ref().map_or(6, |f| f.digits);
                let spec = CodeSpec::new(digits, Alphabet::Digits)
                    .map_err(|_| StoreError::Corrupt("factor.digits"))?;
                (OtpCode::totp_accepted(), spec)
            }
            None if inbound => {
                let spec = inbound_code_spec();
                (OtpCode::generate(spec), spec)
            }
            None => match test_code {
                Some(fixed) => {
                    let fixed = CustomCode::parse(fixed)?;
                    (fixed.code, fixed.spec)
                }
                None => {
                    let spec = own.code_spec(s.code_spec);
                    (OtpCode::generate(spec), spec)
                }
            },
        };
        let l = &s.limits;
        self.limit_ip("create_ip", app, req.client_ip, l.create_per_ip)
            .await?;
        self.limit(
            limits::key("create_app", app.app_id, "all"),
            l.create_per_app,
        )
        .await?;
        let public_id = req.id.map(String::from).unwrap_or_else(random_id);
        tracing::Span::current().record("verification", public_id.as_str());
        let intent = Intent {
            action: purpose.action,
            payload_hash: purpose.payload_hash,
            binding: purpose
                .binding
                .map(|b| self.binding_digest(&app.namespace, &public_id, &b)),
        }
        .to_column();
        let now = self.inner.clock.now_ms();
        let new = NewVerification {
            app_id: app.app_id,
            code_hmac: self.inner.hasher.hash(&app.namespace, &public_id, &code),
            code_sealed: self.inner.hasher.seal(&app.namespace, &public_id, &code),
            public_id,
            provider: provider.id().to_owned(),
            channel: provider.channel().as_str().into(),
            address: address.as_ref().map(|a| a.to_string()).unwrap_or_default(),
            channel_description: description("channel_description", req.channel_description)?,
            address_description: description("address_description", req.address_description)?,
            code_length: spec.length,
            code_alphabet: spec.alphabet.as_str().into(),
            max_attempts,
            sends: u32::from(address.is_some() && !inbound && totp.is_none()),
            max_sends,
            extra,
            redirect_url,
            state,
            locale,
            now,
            expires_at: now + (ttl as i64) * 1000,
            inbound_key: inbound.then(|| self.inbound_key(&code)),
            address_key: address.as_ref().map(|a| self.address_key(a.as_str())),
            intent,
        };
        let outbox = &self.inner.outbox;
        // The message's row is leased to this process's worker as it is written, and
        // handed to it after the commit (see `OutboxSignal`).
        let mut promise = None;
        let delivery = address
            .as_ref()
            .filter(|_| !inbound && totp.is_none())
            .map(|a| {
                let mut delivery = self.delivery_for(app, provider.as_ref(), a.as_str());
                promise = outbox.lease(now);
                // Counted against the send cap as it is written, where the store can.
                delivery.lease = promise.as_ref().map(|p| Lease {
                    count: Some(self.send_count(app, a.as_str(), now)),
                    ..p.lease.clone()
                });
                delivery
            });
        // The fraud guard clears the message last, so a charge is taken only for a
        // request that is otherwise whole.
        let cleared = match address.as_ref().filter(|_| delivery.is_some()) {
            Some(a) => Some(
                self.clear_send(app, provider.as_ref(), a, &admitted)
                    .await?,
            ),
            None => None,
        };
        let (record, leased) = match self.insert_or_reissue(app, new, delivery.as_ref()).await {
            Ok(written) => {
                if let Some(cleared) = cleared {
                    self.sent(cleared);
                }
                written
            }
            Err(e) => {
                if let Some(cleared) = cleared {
                    self.not_sent(app, cleared).await;
                }
                return Err(e);
            }
        };
        metrics::verification(&app.namespace, &record.channel, "created");
        match (leased, promise) {
            (Some(leased), Some(promise)) => outbox.hand(leased, code.clone(), promise),
            _ if delivery.is_some() => outbox.wake(),
            _ => {}
        }
        Ok(Created {
            record,
            echoed_code: app.echo_code.then(|| code.expose().to_owned()),
        })
    }

    /// The verification written, and its outbox row when that was leased as it was
    /// written (a re-issue's row is queued for a claim).
    async fn insert_or_reissue(
        &self,
        app: &AppRecord,
        new: NewVerification,
        delivery: Option<&NewDelivery>,
    ) -> Result<(VerificationRecord, Option<ClaimedDelivery>), EngineError> {
        let store = &self.inner.store;
        // Two rounds at most: a closed predecessor is set aside once, then the insert wins
        // or a concurrent creator's row is re-issued.
        for _ in 0..2 {
            match store.insert_verification(&new, delivery).await {
                Ok(inserted) => return Ok((inserted.record, inserted.leased)),
                Err(StoreError::Conflict) => {}
                Err(e) => return Err(e.into()),
            }
            let existing = store.find_verification(app.app_id, &new.public_id).await?;
            let Some(existing) = existing else { continue };
            let open = existing.status == Status::Pending && existing.expires_at > new.now;
            if existing.status == Status::Locked && existing.expires_at > new.now {
                return Err(EngineError::Locked {
                    retry_after_secs: secs_until(existing.expires_at, new.now).max(1),
                    attempts: existing.attempts,
                    max_attempts: existing.max_attempts,
                });
            }
            if !open {
                // The event tells other instances' page caches (views.rs) to let it go.
                if store.supersede(existing.verification_id, new.now).await? {
                    store
                        .record_event(existing.verification_id, "superseded", "{}", new.now)
                        .await?;
                }
                continue;
            }
            let reissue = Reissue {
                provider: new.provider.clone(),
                channel: new.channel.clone(),
                address: new.address.clone(),
                channel_description: new.channel_description.clone(),
                address_description: new.address_description.clone(),
                code_hmac: new.code_hmac.clone(),
                code_sealed: new.code_sealed.clone(),
                code_length: new.code_length,
                code_alphabet: new.code_alphabet.clone(),
                extra: new.extra.clone(),
                sends: new.sends > 0,
                address_key: new.address_key.clone(),
                now: new.now,
                expires_at: new.expires_at,
                intent: new.intent.clone(),
            };
            return match store
                .reissue_verification(existing.verification_id, &reissue, delivery)
                .await?
            {
                Some(record) => {
                    store
                        .record_event(record.verification_id, "reissued", "{}", new.now)
                        .await?;
                    Ok((record, None))
                }
                None if existing.attempts >= existing.max_attempts => Err(EngineError::Locked {
                    retry_after_secs: secs_until(existing.expires_at, new.now).max(1),
                    attempts: existing.attempts,
                    max_attempts: existing.max_attempts,
                }),
                None => Err(EngineError::SendLimit {
                    retry_after_secs: secs_until(existing.expires_at, new.now).max(1),
                    attempts: existing.attempts,
                    max_attempts: existing.max_attempts,
                }),
            };
        }
        Err(StoreError::Conflict.into())
    }
}

/// A request's verify-then-act fields, each checked. An empty string is refused like any
/// other value outside its pattern: absent is how a request goes without one.
struct Purpose {
    action: Option<String>,
    payload_hash: Option<String>,
    binding: Option<String>,
}

impl Purpose {
    fn check(
        action: Option<String>,
        payload_hash: Option<String>,
        binding: Option<String>,
    ) -> Result<Self, EngineError> {
        if action.as_deref().is_some_and(|a| !valid_action(a)) {
            return Err(EngineError::invalid(
                "action",
                "must be 1 to 64 of a-z, 0-9 and _ . : -",
            ));
        }
        if payload_hash
            .as_deref()
            .is_some_and(|h| !valid_payload_hash(h))
        {
            return Err(EngineError::invalid(
                "payload_hash",
                "must be 1 to 128 base64, base64url or hex characters",
            ));
        }
        if binding.as_deref().is_some_and(|b| !valid_binding(b)) {
            return Err(EngineError::invalid(
                "session_binding",
                "must be 16 to 256 of A-Z, a-z, 0-9 and . _ ~ -",
            ));
        }
        Ok(Self {
            action,
            payload_hash,
            binding,
        })
    }
}

fn bounded<T: PartialOrd + std::fmt::Display + Copy>(
    field: &'static str,
    value: Option<T>,
    default: T,
    min: T,
    max: T,
) -> Result<T, EngineError> {
    let v = value.unwrap_or(default);
    if v < min || v > max {
        return Err(EngineError::invalid(
            field,
            format!("must be between {min} and {max}"),
        ));
    }
    Ok(v)
}

fn description(field: &'static str, raw: String) -> Result<String, EngineError> {
    if raw.chars().count() > EngineSettings::MAX_DESCRIPTION_CHARS
        || raw.chars().any(char::is_control)
    {
        return Err(EngineError::invalid(
            field,
            "must be at most 200 printable characters",
        ));
    }
    Ok(raw)
}

/// A BCP 47 language tag of the common shape: `en`, `pt-BR`, `zh-Hant-TW`.
/// Whether `app` takes a verification on `channel` to `address` (its allowed channels and
/// number prefixes).
pub(crate) fn admit(
    app: &AppRecord,
    channel: Channel,
    address: Option<&Address>,
) -> Result<(), EngineError> {
    match app.settings.admits(channel, address.map(Address::as_str)) {
        Ok(()) => Ok(()),
        Err(AdmitError::Channel) => Err(EngineError::invalid(
            "provider",
            format!(
                "uses {}, a channel this app does not allow",
                channel.as_str()
            ),
        )),
        Err(AdmitError::Region) => Err(AddressError::Region.into()),
    }
}

fn valid_locale(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let lang_ok = parts
        .next()
        .is_some_and(|l| (2..=3).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_alphabetic()));
    lang_ok
        && tag.len() <= 35
        && parts.all(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locales_are_language_tags() {
        for ok in ["en", "pt-BR", "zh-Hant-TW", "ast"] {
            assert!(valid_locale(ok), "{ok}");
        }
        for bad in ["", "e", "english", "en_US", "en-", "en-US-x-\n"] {
            assert!(!valid_locale(bad), "{bad}");
        }
    }

    #[test]
    fn bounds_name_the_field_and_the_range() {
        let err = bounded("ttl", Some(0u64), 600, 1, 86_400).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid `ttl`: must be between 1 and 86400"
        );
        assert_eq!(bounded("ttl", None, 600u64, 1, 86_400).unwrap(), 600);
    }
}
