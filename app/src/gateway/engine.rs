//! The verification engine: create, check, read and close verifications.
//!
//! Every entry point takes parsed input, asks the [`Store`] for one conditional change at a
//! time, and records an event for each state change. Delivery runs in the background so an
//! answer never waits on a provider: a message to send is an outbox row committed with
//! the verification, and the worker in [`super::outbox`] sends it.

use super::{
    address::{mask, Channel},
    auth::Authenticator,
    clock::Clock,
    code::{Alphabet, CodeHasher, CodeSpec, OtpCode},
    delivery::{Provider, Providers},
    error::EngineError,
    limits::{self, Limit, LimitSettings},
    outbox::{Breakers, Outbox, OutboxSettings, OutboxSignal},
    secret::{random_id, ApiSecret},
    store::{
        AppRecord, Attempt, AttemptOutcome, NewDelivery, NewVerification, Reissue, Store,
        StoreError, Switch, VerificationRecord,
    },
    token::{Claims, TokenKeys, TOKEN_TYPE},
};
use crate::model::{
    CheckReply, CheckResult, CountryOption, FallbackOption, InboxMessage, Namespace, PageView,
    Status, VerificationId,
};
use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, RwLock},
};

/// Limits and defaults that apply to every app unless a request narrows them.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Public base URL used in links, without a trailing slash.
    pub root_url: String,
    pub default_ttl_secs: u64,
    pub default_max_attempts: u32,
    pub default_max_sends: u32,
    pub code_spec: CodeSpec,
    pub limits: LimitSettings,
    /// Lifetime of a verification token, at most five minutes.
    pub token_ttl_secs: i64,
    /// The number people text codes to (inbound verification), E.164.
    pub inbound_number: Option<String>,
    /// The Standard Webhooks key that authenticates `POST /v1/inbound/generic`.
    pub inbound_signing_secret: Option<Vec<u8>>,
}

impl EngineSettings {
    pub const MAX_TTL_SECS: u64 = 24 * 60 * 60;
    pub const MAX_ATTEMPTS: u32 = 10;
    pub const MAX_SENDS: u32 = 10;
    pub const MAX_EXTRA_BYTES: usize = 4096;
    pub const MAX_DESCRIPTION_CHARS: usize = 200;
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            root_url: "http://127.0.0.1:3000".into(),
            default_ttl_secs: 600,
            default_max_attempts: 5,
            default_max_sends: 5,
            code_spec: CodeSpec::default(),
            limits: LimitSettings::default(),
            token_ttl_secs: 120,
            inbound_number: None,
            inbound_signing_secret: None,
        }
    }
}

/// What an integrator asks for when starting a verification. Raw values are checked here.
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    pub id: Option<VerificationId>,
    pub provider: String,
    /// May be empty: the hosted page then collects the address.
    pub to: String,
    pub channel_description: String,
    pub address_description: String,
    /// A code chosen by the integrator instead of a generated one.
    pub code: Option<String>,
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
}

/// An app declared in the config file.
#[derive(Debug, Clone)]
pub struct DeclaredApp {
    pub namespace: Namespace,
    pub secret: ApiSecret,
    pub name: Option<String>,
    /// otpgateway's behaviour of returning the code in API answers (off unless asked for).
    pub echo_code: bool,
    pub redirect_urls: Vec<String>,
    /// How the app's hosted pages look and who may frame them.
    pub pages: AppPages,
    /// Failover routes: providers to try in order, per channel and number prefix.
    pub routes: Vec<RouteRule>,
}

/// An app's hosted-page settings, as the config file declares them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppPages {
    /// Exact origins that may frame the hosted page (the embed modal).
    pub embed_origins: Vec<String>,
    /// The hosted pages' language when the verification names none (`de`, `ar`, ...).
    pub locale: Option<String>,
    /// The app's logo (an https URL or a path on this server), shown above every page.
    pub logo_url: Option<String>,
    /// The colour of the pages' buttons and focus rings, `#rrggbb`.
    pub accent_color: Option<String>,
    /// The country the phone number picker starts on (ISO 3166, e.g. `IN`).
    pub country: Option<String>,
    /// Providers the page offers when the code does not arrive ("didn't get it?"), in
    /// order; the verification's own provider is left out. Empty: no offer.
    pub fallbacks: Vec<String>,
}

/// One failover rule of an app: for `channel` (and, for phone numbers, addresses starting
/// with `prefix`), try `providers` in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRule {
    pub channel: Channel,
    /// `+91`, `+1`, ... or empty for every address.
    pub prefix: String,
    pub providers: Vec<String>,
}

/// Where a page's state is read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Read {
    /// The database: right after a change that may have been made on another instance.
    Fresh,
    /// The store's view cache when it holds the verification (`store/views.rs`), else the
    /// database: page views and status polls.
    Viewed,
}

/// The providers to try for one message: the matching rule's order when it names the
/// requested provider, otherwise the requested provider first and the rule's after it.
/// The longest matching prefix wins.
pub fn route_for(
    rules: &[RouteRule],
    requested: &str,
    channel: Channel,
    address: &str,
) -> Vec<String> {
    let rule = rules
        .iter()
        .filter(|r| r.channel == channel && address.starts_with(&r.prefix))
        .max_by_key(|r| r.prefix.len());
    let mut route = vec![requested.to_owned()];
    if let Some(rule) = rule {
        if rule.providers.iter().any(|p| p == requested) {
            route.clone_from(&rule.providers);
        } else {
            route.extend(rule.providers.iter().cloned());
        }
    }
    let mut seen = std::collections::HashSet::new();
    route.retain(|p| seen.insert(p.clone()));
    route
}

/// A started verification.
#[derive(Debug, Clone)]
pub struct Created {
    pub record: VerificationRecord,
    /// The code, only when the app turned on otpgateway's echo.
    pub echoed_code: Option<String>,
}

/// How a check was made: the otpgateway API retires a verified record unless told not to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckMode {
    Api { retire: bool },
    HostedPage,
}

/// The engine. Cheap to clone; all clones share one state.
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    auth: Authenticator,
    hasher: CodeHasher,
    providers: Providers,
    clock: Arc<dyn Clock>,
    settings: EngineSettings,
    tokens: TokenKeys,
    outbox: Arc<OutboxSignal>,
    hub: super::live::LiveHub,
    /// Failover rules of the apps declared in the config file, by app id.
    routes: RwLock<HashMap<i64, Vec<RouteRule>>>,
    /// Hosted-page settings of the apps declared in the config file, by namespace.
    pages: RwLock<HashMap<String, AppPages>>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("providers", &self.inner.providers)
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

fn spec_of(record: &VerificationRecord) -> Result<CodeSpec, EngineError> {
    let alphabet = Alphabet::parse(&record.code_alphabet)
        .ok_or(StoreError::Corrupt("verification.code_alphabet"))?;
    CodeSpec::new(record.code_length, alphabet)
        .map_err(|_| StoreError::Corrupt("verification.code_length").into())
}

pub(crate) fn secs_until(deadline_ms: i64, now_ms: i64) -> u64 {
    u64::try_from((deadline_ms - now_ms + 999) / 1000).unwrap_or(0)
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

pub(crate) fn human_duration(secs: u64) -> String {
    match secs {
        s if s % 3600 == 0 && s >= 3600 => plural(s / 3600, "hour"),
        s if s % 60 == 0 && s >= 60 => plural(s / 60, "minute"),
        s => plural(s, "second"),
    }
}

fn plural(n: u64, unit: &str) -> String {
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
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

impl Gateway {
    pub fn new(
        store: Arc<dyn Store>,
        hasher: CodeHasher,
        providers: Providers,
        clock: Arc<dyn Clock>,
        settings: EngineSettings,
        tokens: TokenKeys,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                auth: Authenticator::new(store.clone()),
                store,
                hasher,
                providers,
                clock,
                settings,
                tokens,
                outbox: Arc::default(),
                hub: super::live::LiveHub::default(),
                routes: RwLock::default(),
                pages: RwLock::default(),
            }),
        }
    }

    /// Starts the delivery worker; it stops (releasing what it holds) when `shutdown`
    /// turns true. Each serving process runs one.
    pub fn start_delivery(
        &self,
        settings: OutboxSettings,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let i = &self.inner;
        let outbox = Arc::new(Outbox {
            store: i.store.clone(),
            providers: i.providers.clone(),
            hasher: i.hasher.clone(),
            clock: i.clock.clone(),
            root_url: i.settings.root_url.clone(),
            send_cap: i.settings.limits.sends_per_address,
            signal: i.outbox.clone(),
            settings,
            breakers: Breakers::default(),
            owner: format!("worker-{}", random_id()),
        });
        tokio::spawn(outbox.run(shutdown))
    }

    /// The outbox row for a message to `address` through `provider`, along the app's
    /// failover route.
    fn delivery_for(&self, app: &AppRecord, provider: &dyn Provider, address: &str) -> NewDelivery {
        let routes = self.inner.routes.read().unwrap_or_else(|p| p.into_inner());
        let rules = routes
            .get(&app.app_id)
            .map(Vec::as_slice)
            .unwrap_or_default();
        NewDelivery {
            route: route_for(rules, provider.id(), provider.channel(), address),
            address: address.to_owned(),
        }
    }

    pub(crate) fn engine_settings(&self) -> &EngineSettings {
        &self.inner.settings
    }

    pub(crate) fn hasher(&self) -> &CodeHasher {
        &self.inner.hasher
    }

    pub(crate) fn hub(&self) -> &super::live::LiveHub {
        &self.inner.hub
    }

    /// An app's hosted-page settings; the defaults for an app the config does not declare.
    pub fn app_pages(&self, namespace: &str) -> AppPages {
        self.inner
            .pages
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(namespace)
            .cloned()
            .unwrap_or_default()
    }

    /// The origins that may frame this app's hosted pages; empty for none.
    pub fn embed_origins(&self, namespace: &str) -> Vec<String> {
        self.app_pages(namespace).embed_origins
    }

    /// The public keys that verify tokens (JWKS).
    pub fn jwks(&self) -> serde_json::Value {
        self.inner.tokens.jwks()
    }

    /// Counts one hit against `limit` for `key`; `RateLimited` when over. `None` is no
    /// limit (and no database write).
    async fn limit(&self, key: String, limit: Option<Limit>) -> Result<(), EngineError> {
        let Some(limit) = limit else { return Ok(()) };
        let (window, retry_after_secs) = limit.window(self.inner.clock.now_ms());
        if self.inner.store.hit(&key, window, 1).await? > limit.max {
            return Err(EngineError::RateLimited { retry_after_secs });
        }
        Ok(())
    }

    pub(crate) async fn limit_ip(
        &self,
        kind: &str,
        app: &AppRecord,
        ip: Option<IpAddr>,
        limit: Option<Limit>,
    ) -> Result<(), EngineError> {
        match ip {
            Some(ip) => {
                self.limit(
                    limits::key(kind, app.app_id, &limits::ip_subject(ip)),
                    limit,
                )
                .await
            }
            None => Ok(()),
        }
    }

    pub fn settings(&self) -> &EngineSettings {
        &self.inner.settings
    }

    pub fn providers(&self) -> &Providers {
        &self.inner.providers
    }

    /// Answers when storage does (health checks).
    pub async fn ping(&self) -> Result<(), EngineError> {
        Ok(self.inner.store.ping().await?)
    }

    /// The dev inbox, when the console provider is enabled.
    pub fn inbox(&self) -> Option<Vec<InboxMessage>> {
        self.inner.providers.console().map(|c| c.messages())
    }

    /// The public URL of a verification's hosted page.
    pub fn page_url(&self, namespace: &str, public_id: &str) -> String {
        format!(
            "{}/otp/{namespace}/{public_id}",
            self.inner.settings.root_url
        )
    }

    /// Checks a Basic-auth pair. Unknown namespaces and wrong secrets look the same.
    #[tracing::instrument(skip(self, secret))]
    pub async fn authenticate(
        &self,
        namespace: &str,
        secret: &str,
    ) -> Result<AppRecord, EngineError> {
        self.inner.auth.authenticate(namespace, secret).await
    }

    /// Creates an app with `secret` (or a generated one, returned once).
    pub async fn create_app(
        &self,
        namespace: &Namespace,
        name: &str,
        secret: Option<ApiSecret>,
    ) -> Result<(AppRecord, ApiSecret), EngineError> {
        let secret = secret.unwrap_or_else(ApiSecret::generate);
        let hash = hash_off_executor(&secret).await;
        let app = self
            .inner
            .store
            .create_app(namespace.as_str(), name, &hash, self.inner.clock.now_ms())
            .await?;
        Ok((app, secret))
    }

    /// Makes sure an app declared in the config file exists with exactly this secret.
    pub async fn declare_app(&self, declared: &DeclaredApp) -> Result<AppRecord, EngineError> {
        let (namespace, secret) = (&declared.namespace, &declared.secret);
        let store = &self.inner.store;
        let name = declared
            .name
            .clone()
            .unwrap_or_else(|| namespace.to_string());
        let app = match store.find_app(namespace.as_str()).await? {
            Some(app) => app,
            None => {
                self.create_app(namespace, &name, Some(secret.clone()))
                    .await?
                    .0
            }
        };
        let now = self.inner.clock.now_ms();
        store
            .update_app(
                app.app_id,
                &name,
                declared.echo_code,
                &declared.redirect_urls,
                now,
            )
            .await?;
        self.inner.auth.forget(namespace.as_str());
        let named = declared
            .routes
            .iter()
            .flat_map(|rule| rule.providers.iter().map(|p| ("routes", p)))
            .chain(declared.pages.fallbacks.iter().map(|p| ("fallbacks", p)));
        for (field, provider) in named {
            if self.inner.providers.get(provider).is_none() {
                return Err(EngineError::invalid(
                    field,
                    format!("provider {provider:?} is not configured"),
                ));
            }
        }
        self.inner
            .routes
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(app.app_id, declared.routes.clone());
        self.inner
            .pages
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(namespace.to_string(), declared.pages.clone());
        let hashes = store.app_secret_hashes(app.app_id).await?;
        let probe = secret.clone();
        let current =
            tokio::task::spawn_blocking(move || hashes.len() == 1 && probe.verify(&hashes[0]))
                .await
                .unwrap_or(false);
        if !current {
            let hash = hash_off_executor(secret).await;
            store
                .replace_app_secret(app.app_id, &hash, self.inner.clock.now_ms())
                .await?;
            self.inner.auth.forget(namespace.as_str());
        }
        Ok(AppRecord {
            name,
            echo_code: declared.echo_code,
            redirect_urls: declared.redirect_urls.clone(),
            ..app
        })
    }

    pub(crate) fn provider(&self, id: &str) -> Result<Arc<dyn Provider>, EngineError> {
        self.inner
            .providers
            .get(id)
            .cloned()
            .ok_or(EngineError::UnknownProvider)
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
        let provider = self.provider(&req.provider)?;
        let address = match req.to.trim() {
            "" => None,
            raw => Some(provider.parse_address(raw)?),
        };
        let ttl = bounded(
            "ttl",
            req.ttl_secs,
            s.default_ttl_secs,
            1,
            EngineSettings::MAX_TTL_SECS,
        )?;
        let max_attempts = bounded(
            "max_attempts",
            req.max_attempts,
            s.default_max_attempts,
            1,
            EngineSettings::MAX_ATTEMPTS,
        )?;
        let max_sends = bounded(
            "max_generate",
            req.max_sends,
            s.default_max_sends,
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
        if state.len() > 512 || state.chars().any(char::is_control) {
            return Err(EngineError::invalid(
                "state",
                "must be at most 512 printable bytes",
            ));
        }
        let locale = req.locale.unwrap_or_default();
        if !locale.is_empty() && !valid_locale(&locale) {
            return Err(EngineError::invalid(
                "locale",
                "must be a language tag such as en or pt-BR",
            ));
        }
        let inbound = provider.id() == super::inbound::INBOUND_PROVIDER;
        let (code, spec) = match req.code.as_deref() {
            Some(_) if inbound => {
                return Err(EngineError::invalid(
                    "otp",
                    "inbound verifications make their own code",
                ))
            }
            Some(raw) => OtpCode::parse_custom(raw)
                .map_err(|_| EngineError::invalid("otp", "must be 4 to 16 letters or digits"))?,
            None if inbound => {
                let spec = super::inbound::inbound_code_spec();
                (OtpCode::generate(spec), spec)
            }
            None => (OtpCode::generate(s.code_spec), s.code_spec),
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
        let now = self.inner.clock.now_ms();
        let new = NewVerification {
            app_id: app.app_id,
            code_hmac: self.inner.hasher.hash(&app.namespace, &public_id, &code),
            code_sealed: self.inner.hasher.seal(&app.namespace, &public_id, &code),
            public_id,
            provider: req.provider,
            channel: provider.channel().as_str().into(),
            address: address.as_ref().map(|a| a.to_string()).unwrap_or_default(),
            channel_description: description("channel_description", req.channel_description)?,
            address_description: description("address_description", req.address_description)?,
            code_length: spec.length,
            code_alphabet: spec.alphabet.as_str().into(),
            max_attempts,
            sends: u32::from(address.is_some() && !inbound),
            max_sends,
            extra,
            redirect_url,
            state,
            locale,
            now,
            expires_at: now + (ttl as i64) * 1000,
            inbound_key: inbound.then(|| self.inbound_key(&code)),
        };
        let delivery = address
            .as_ref()
            .filter(|_| !inbound)
            .map(|a| self.delivery_for(app, provider.as_ref(), a.as_str()));
        let record = self.insert_or_reissue(app, new, delivery.as_ref()).await?;
        if delivery.is_some() {
            self.inner.outbox.wake();
        }
        Ok(Created {
            record,
            echoed_code: app.echo_code.then(|| code.expose().to_owned()),
        })
    }

    async fn insert_or_reissue(
        &self,
        app: &AppRecord,
        new: NewVerification,
        delivery: Option<&NewDelivery>,
    ) -> Result<VerificationRecord, EngineError> {
        let store = &self.inner.store;
        // Two rounds at most: a closed predecessor is set aside once, then the insert wins
        // or a concurrent creator's row is re-issued.
        for _ in 0..2 {
            match store.insert_verification(&new, delivery).await {
                Ok(record) => return Ok(record),
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
                now: new.now,
                expires_at: new.expires_at,
            };
            return match store
                .reissue_verification(existing.verification_id, &reissue, delivery)
                .await?
            {
                Some(record) => {
                    store
                        .record_event(record.verification_id, "reissued", "{}", new.now)
                        .await?;
                    Ok(record)
                }
                None if existing.attempts >= existing.max_attempts => Err(EngineError::Locked {
                    retry_after_secs: secs_until(existing.expires_at, new.now).max(1),
                    attempts: existing.attempts,
                    max_attempts: existing.max_attempts,
                }),
                None => Err(EngineError::SendLimit {
                    retry_after_secs: secs_until(existing.expires_at, new.now).max(1),
                    sends: existing.sends,
                    max_sends: existing.max_sends,
                }),
            };
        }
        Err(StoreError::Conflict.into())
    }

    /// The current verification with this id, hidden once the otpgateway API retired it.
    pub async fn get(
        &self,
        app: &AppRecord,
        id: &VerificationId,
    ) -> Result<VerificationRecord, EngineError> {
        match self
            .inner
            .store
            .find_verification(app.app_id, id.as_str())
            .await?
        {
            Some(r) if r.retired_at.is_none() => Ok(r),
            _ => Err(EngineError::NotFound),
        }
    }

    /// As [`get`](Self::get), with an overdue verification marked expired first.
    pub async fn fetch(
        &self,
        app: &AppRecord,
        id: &VerificationId,
    ) -> Result<VerificationRecord, EngineError> {
        let mut record = self.get(app, id).await?;
        self.settle(&mut record, self.inner.clock.now_ms()).await?;
        Ok(record)
    }

    /// Checks a code. The attempt is counted before the comparison, in its own statement,
    /// so parallel guesses cannot exceed the budget.
    #[tracing::instrument(skip(self, app, raw_code), fields(app = %app.namespace, verification = %id))]
    pub async fn check(
        &self,
        app: &AppRecord,
        id: &VerificationId,
        raw_code: &str,
        mode: CheckMode,
    ) -> Result<(CheckResult, VerificationRecord), EngineError> {
        self.check_from(app, id, raw_code, mode, None).await
    }

    /// As [`check`](Self::check), counting against the caller's per-IP limit.
    pub async fn check_from(
        &self,
        app: &AppRecord,
        id: &VerificationId,
        raw_code: &str,
        mode: CheckMode,
        client_ip: Option<IpAddr>,
    ) -> Result<(CheckResult, VerificationRecord), EngineError> {
        let l = &self.inner.settings.limits;
        self.limit_ip("check_ip", app, client_ip, l.check_per_ip)
            .await?;
        self.limit(limits::key("check_app", app.app_id, "all"), l.check_per_app)
            .await?;
        let store = &self.inner.store;
        let mut record = match mode {
            CheckMode::Api { .. } => self.get(app, id).await?,
            CheckMode::HostedPage => store
                .find_verification(app.app_id, id.as_str())
                .await?
                .ok_or(EngineError::NotFound)?,
        };
        let now = self.inner.clock.now_ms();
        if let Some(result) = self.settle(&mut record, now).await? {
            return Ok((result, record));
        }
        let Ok(code) = OtpCode::parse(raw_code, spec_of(&record)?) else {
            return Ok((CheckResult::Malformed, record));
        };
        // The per-address budget is reserved before the comparison and returned on success,
        // in the same transaction, so parallel guesses cannot slip past it either.
        let fail_cap = l.failed_checks_per_address;
        let fail_key = limits::key(
            "fail_addr",
            app.app_id,
            &limits::address_subject(&record.address),
        );
        let (budget_window, retry_after_secs) = fail_cap.window(now);
        let attempt = Attempt {
            verification_id: record.verification_id,
            now,
            budget_key: &fail_key,
            budget_window,
            budget_max: fail_cap.max,
            retire: matches!(mode, CheckMode::Api { retire: true }),
        };
        let (hasher, namespace) = (&self.inner.hasher, &app.namespace);
        let matches = |stored: &[u8]| hasher.verify(namespace, id.as_str(), &code, stored);
        match store.attempt(&attempt, &matches).await? {
            AttemptOutcome::OverBudget => Err(EngineError::RateLimited { retry_after_secs }),
            AttemptOutcome::NotOpen => {
                // Someone else moved it (locked, verified or expired) between our read and now.
                let mut fresh = store
                    .find_verification(app.app_id, id.as_str())
                    .await?
                    .ok_or(EngineError::NotFound)?;
                let result = self
                    .settle(&mut fresh, now)
                    .await?
                    .unwrap_or(CheckResult::Locked);
                Ok((result, fresh))
            }
            AttemptOutcome::Verified { attempts } => {
                record.attempts = attempts;
                record.status = Status::Verified;
                record.verified_at = Some(now);
                Ok((CheckResult::Verified, record))
            }
            AttemptOutcome::Incorrect {
                attempts,
                max_attempts,
                locked,
            } => {
                record.attempts = attempts;
                if locked {
                    record.status = Status::Locked;
                }
                let attempts_left = max_attempts.saturating_sub(attempts);
                Ok((CheckResult::Incorrect { attempts_left }, record))
            }
        }
    }

    /// For a verification that can take no more checks, the answer to give; marks an
    /// overdue one expired. `None` while it is open.
    async fn settle(
        &self,
        record: &mut VerificationRecord,
        now: i64,
    ) -> Result<Option<CheckResult>, EngineError> {
        Ok(Some(match record.status {
            Status::Verified => CheckResult::AlreadyVerified,
            Status::Locked => CheckResult::Locked,
            Status::Expired => CheckResult::Expired,
            Status::Cancelled => CheckResult::Cancelled,
            Status::Pending if record.expires_at <= now => {
                if self
                    .inner
                    .store
                    .finish(record.verification_id, Status::Expired, now)
                    .await?
                {
                    self.inner
                        .store
                        .record_event(record.verification_id, "expired", "{}", now)
                        .await?;
                }
                record.status = Status::Expired;
                CheckResult::Expired
            }
            Status::Pending if record.attempts >= record.max_attempts => CheckResult::Locked,
            Status::Pending => return Ok(None),
        }))
    }

    /// The verification if it is verified (otpgateway's `/status`); with `retire`, the
    /// record is consumed afterwards.
    pub async fn verified_status(
        &self,
        app: &AppRecord,
        id: &VerificationId,
        retire: bool,
    ) -> Result<VerificationRecord, EngineError> {
        let record = self.get(app, id).await?;
        if record.status != Status::Verified {
            return Err(EngineError::NotVerified);
        }
        if retire {
            let now = self.inner.clock.now_ms();
            self.inner.store.retire(record.verification_id, now).await?;
            self.inner
                .store
                .record_event(record.verification_id, "retired", "{}", now)
                .await?;
        }
        Ok(record)
    }

    /// Sends the same code again, after the cooldown and within the send cap. Never touches
    /// the attempt counter.
    #[tracing::instrument(skip(self, app), fields(app = %app.namespace, verification = %id))]
    pub async fn resend(
        &self,
        app: &AppRecord,
        id: &VerificationId,
        client_ip: Option<IpAddr>,
    ) -> Result<VerificationRecord, EngineError> {
        let l = &self.inner.settings.limits;
        self.limit_ip("resend_ip", app, client_ip, l.resend_per_ip)
            .await?;
        let mut record = self.get(app, id).await?;
        let now = self.inner.clock.now_ms();
        if self.settle(&mut record, now).await?.is_some() {
            return Err(EngineError::Closed(record.status));
        }
        let provider = self.provider(&record.provider)?;
        let address = provider
            .parse_address(&record.address)
            .map_err(|_| EngineError::invalid("to", "no address to send to"))?;
        let cooldown_ms = l.resend_cooldown_secs * 1000;
        let delivery = self.delivery_for(app, provider.as_ref(), address.as_str());
        let Some(updated) = self
            .inner
            .store
            .claim_resend(record.verification_id, cooldown_ms, now, &delivery)
            .await?
        else {
            if record.sends >= record.max_sends {
                return Err(EngineError::SendLimit {
                    retry_after_secs: secs_until(record.expires_at, now).max(1),
                    sends: record.sends,
                    max_sends: record.max_sends,
                });
            }
            let last = record.last_sent_at.unwrap_or(now);
            return Err(EngineError::RateLimited {
                retry_after_secs: secs_until(last + cooldown_ms, now).max(1),
            });
        };
        self.inner
            .store
            .record_event(updated.verification_id, "resent", "{}", now)
            .await?;
        self.inner.outbox.wake();
        Ok(updated)
    }

    /// The public URL a provider posts delivery receipts to.
    pub fn receipt_url(&self, provider_id: &str) -> String {
        format!(
            "{}/v1/providers/{provider_id}/status",
            self.inner.settings.root_url
        )
    }

    /// Authenticates a provider's delivery receipt and records it as a `receipt` event of
    /// the verification whose message it reports on. Repeats of a status already recorded
    /// are accepted and ignored.
    pub async fn record_receipt(
        &self,
        provider_id: &str,
        headers: &http::HeaderMap,
        form: &[(String, String)],
    ) -> Result<(), EngineError> {
        let provider = self.provider(provider_id)?;
        let receipt = provider.parse_receipt(&self.receipt_url(provider_id), headers, form)?;
        let now = self.inner.clock.now_ms();
        let Some(verification_id) = self
            .inner
            .store
            .record_receipt(provider_id, &receipt.message_id, &receipt.status, now)
            .await?
        else {
            return Ok(());
        };
        let detail = serde_json::json!({
            "provider": provider_id,
            "status": receipt.status,
            "error_code": receipt.error_code,
        });
        self.inner
            .store
            .record_event(verification_id, "receipt", &detail.to_string(), now)
            .await?;
        Ok(())
    }

    /// Cancels an open verification; a closed one answers with its state.
    pub async fn cancel(
        &self,
        app: &AppRecord,
        id: &VerificationId,
    ) -> Result<VerificationRecord, EngineError> {
        let mut record = self.get(app, id).await?;
        let now = self.inner.clock.now_ms();
        if self.settle(&mut record, now).await?.is_some() {
            return Err(EngineError::Closed(record.status));
        }
        if self
            .inner
            .store
            .finish(record.verification_id, Status::Cancelled, now)
            .await?
        {
            self.inner
                .store
                .record_event(record.verification_id, "cancelled", "{}", now)
                .await?;
            record.status = Status::Cancelled;
            return Ok(record);
        }
        let fresh = self.get(app, id).await?;
        Err(EngineError::Closed(fresh.status))
    }

    /// A signed token saying that `record` was verified, for its app only.
    pub fn issue_token(&self, app: &AppRecord, record: &VerificationRecord) -> String {
        let now = self.inner.clock.now_ms() / 1000;
        self.inner.tokens.sign(&Claims {
            iss: self.inner.tokens.issuer().to_owned(),
            aud: app.namespace.clone(),
            sub: record.public_id.clone(),
            address: record.address.clone(),
            channel: record.channel.clone(),
            iat: now,
            exp: now
                + self
                    .inner
                    .settings
                    .token_ttl_secs
                    .min(crate::gateway::token::MAX_TOKEN_TTL_SECS),
            jti: random_id(),
            typ: TOKEN_TYPE.to_owned(),
        })
    }

    /// Accepts a verification token once: valid signature, this app's audience, unexpired,
    /// the expected address if one is given, and a `jti` never confirmed before.
    pub async fn confirm_token(
        &self,
        app: &AppRecord,
        token: &str,
        expected_address: Option<&str>,
    ) -> Result<Claims, EngineError> {
        let now = self.inner.clock.now_ms();
        let claims = self
            .inner
            .tokens
            .verify(token, &app.namespace, now / 1000)
            .map_err(EngineError::InvalidToken)?;
        if let Some(expected) = expected_address {
            if !expected.trim().eq_ignore_ascii_case(&claims.address) {
                return Err(EngineError::TokenMismatch);
            }
        }
        if !self
            .inner
            .store
            .use_token(&claims.jti, app.app_id, claims.exp * 1000, now)
            .await?
        {
            return Err(EngineError::TokenReused);
        }
        Ok(claims)
    }

    /// The idempotency store, for adapters that replay answers.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The current time in Unix milliseconds, from the engine's clock.
    pub fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    /// Seconds until the record expires, at least zero.
    pub fn ttl_remaining(&self, record: &VerificationRecord) -> u64 {
        secs_until(record.expires_at, self.inner.clock.now_ms())
    }

    /// Event kinds of a verification, oldest first.
    pub async fn event_kinds(
        &self,
        record: &VerificationRecord,
    ) -> Result<Vec<String>, EngineError> {
        Ok(self.inner.store.event_kinds(record.verification_id).await?)
    }

    /// The outbox rows of a verification: (status, provider, attempts), oldest first.
    pub async fn deliveries(
        &self,
        record: &VerificationRecord,
    ) -> Result<Vec<(String, String, u32)>, EngineError> {
        Ok(self
            .inner
            .store
            .deliveries_of(record.verification_id)
            .await?)
    }

    pub(crate) async fn app_and_record(
        &self,
        namespace: &str,
        id: &str,
    ) -> Result<(AppRecord, VerificationRecord), EngineError> {
        self.app_and_record_as(namespace, id, Read::Fresh).await
    }

    /// The app and verification named by a page's URL, read as `read` says.
    async fn app_and_record_as(
        &self,
        namespace: &str,
        id: &str,
        read: Read,
    ) -> Result<(AppRecord, VerificationRecord), EngineError> {
        let (Ok(ns), Ok(id)) = (Namespace::parse(namespace), VerificationId::parse(id)) else {
            return Err(EngineError::NotFound);
        };
        let store = &self.inner.store;
        let app = match read {
            Read::Fresh => store.find_app(ns.as_str()).await?,
            Read::Viewed => store.find_app_viewed(ns.as_str()).await?,
        }
        .ok_or(EngineError::NotFound)?;
        let record = match read {
            Read::Fresh => store.find_verification(app.app_id, id.as_str()).await?,
            Read::Viewed => {
                store
                    .find_verification_viewed(app.app_id, id.as_str())
                    .await?
            }
        }
        .ok_or(EngineError::NotFound)?;
        Ok((app, record))
    }

    /// What the hosted code page shows, read as `read` says.
    pub async fn page_view(
        &self,
        namespace: &str,
        id: &str,
        read: Read,
    ) -> Result<PageView, EngineError> {
        let (app, mut record) = self.app_and_record_as(namespace, id, read).await?;
        let now = self.inner.clock.now_ms();
        self.settle(&mut record, now).await?;
        let channel = Channel::parse(&record.channel).unwrap_or(Channel::Other);
        let cooldown_ms = self.inner.settings.limits.resend_cooldown_secs * 1000;
        let resend_in_secs = (record.status == Status::Pending
            && !record.address.is_empty()
            && record.sends < record.max_sends)
            .then(|| {
                record
                    .last_sent_at
                    .map_or(0, |last| secs_until(last + cooldown_ms, now))
            });
        let live_token = self.live_token(&app.namespace, &record);
        let inbound = self.inbound_view(&app, &record);
        let pages = self.app_pages(&app.namespace);
        let needs_address = record.address.is_empty() && record.status == Status::Pending;
        let address_kind = match channel {
            Channel::Email => "email",
            Channel::Sms | Channel::Whatsapp | Channel::Voice => "phone",
            Channel::Other => "other",
        };
        Ok(PageView {
            embed_origin: None,
            lang: crate::i18n::Lang::En,
            locale: record.locale.clone(),
            app_locale: pages.locale.unwrap_or_default(),
            logo_url: pages.logo_url,
            accent_color: pages.accent_color,
            countries: if needs_address && address_kind == "phone" {
                super::address::dialling_codes()
                    .iter()
                    .map(|d| CountryOption {
                        region: d.region.clone(),
                        code: d.code,
                    })
                    .collect()
            } else {
                Vec::new()
            },
            country: pages.country,
            fallbacks: if record.status == Status::Pending {
                self.fallback_options(&pages.fallbacks, &record.provider)
            } else {
                Vec::new()
            },
            inbound,
            live_token,
            needs_address,
            address_kind: address_kind.into(),
            resend_in_secs,
            namespace: app.namespace,
            id: record.public_id.clone(),
            app_name: app.name,
            channel: Channel::parse(&record.channel)
                .unwrap_or(Channel::Other)
                .label()
                .into(),
            masked_address: mask(&record.address),
            status: record.status,
            attempts_left: record.max_attempts.saturating_sub(record.attempts),
            expires_in_secs: secs_until(record.expires_at, now),
            code_length: record.code_length,
            numeric_code: record.code_alphabet == Alphabet::Digits.as_str(),
        })
    }

    /// The app's fallbacks other than `current`, with how each reaches the person.
    fn fallback_options(&self, fallbacks: &[String], current: &str) -> Vec<FallbackOption> {
        fallbacks
            .iter()
            .filter(|p| *p != current)
            .filter_map(|p| {
                let provider = self.inner.providers.get(p)?;
                let kind = if p == super::inbound::INBOUND_PROVIDER {
                    "qr"
                } else {
                    provider.channel().as_str()
                };
                Some(FallbackOption {
                    provider: p.clone(),
                    kind: kind.into(),
                })
            })
            .collect()
    }

    /// A code typed on the hosted page. When this check verified a verification that
    /// has a `redirect_url`, the reply carries the URL to send the browser to, with a fresh
    /// verification token, the integrator's state and the id in its query.
    pub async fn check_from_page(
        &self,
        namespace: &str,
        id: &str,
        code: &str,
        client_ip: Option<IpAddr>,
    ) -> Result<CheckReply, EngineError> {
        let (app, record) = self.app_and_record(namespace, id).await?;
        let id = VerificationId::parse(&record.public_id)
            .map_err(|_| StoreError::Corrupt("verification.public_id"))?;
        let mode = CheckMode::HostedPage;
        let (result, record) = self.check_from(&app, &id, code, mode, client_ip).await?;
        let redirect = (result == CheckResult::Verified && !record.redirect_url.is_empty())
            .then(|| self.redirect_target(&app, &record));
        Ok(CheckReply { result, redirect })
    }

    /// `redirect_url?verification_token=…&state=…&id=…`, keeping the URL's own query.
    pub(crate) fn redirect_target(&self, app: &AppRecord, record: &VerificationRecord) -> String {
        let token = self.issue_token(app, record);
        let mut query = vec![
            ("verification_token", token.as_str()),
            ("id", &record.public_id),
        ];
        if !record.state.is_empty() {
            query.push(("state", &record.state));
        }
        let encoded = serde_urlencoded::to_string(&query).expect("strings encode");
        let (base, fragment) = match record.redirect_url.split_once('#') {
            Some((b, f)) => (b, Some(f)),
            None => (record.redirect_url.as_str(), None),
        };
        let sep = if base.contains('?') { '&' } else { '?' };
        match fragment {
            Some(f) => format!("{base}{sep}{encoded}#{f}"),
            None => format!("{base}{sep}{encoded}"),
        }
    }

    /// The app and its verification for a page action that sends a message (an address,
    /// a switch): limited per client like a resend, and refused once closed.
    async fn open_for_sending(
        &self,
        namespace: &str,
        id: &str,
        client_ip: Option<IpAddr>,
    ) -> Result<(AppRecord, VerificationRecord, i64), EngineError> {
        let (app, mut record) = self.app_and_record(namespace, id).await?;
        let l = &self.inner.settings.limits;
        self.limit_ip("resend_ip", &app, client_ip, l.resend_per_ip)
            .await?;
        let now = self.inner.clock.now_ms();
        if self.settle(&mut record, now).await?.is_some() {
            return Err(EngineError::Closed(record.status));
        }
        Ok((app, record, now))
    }

    /// The address typed on the hosted page for a verification created without one:
    /// validated by its provider (`country` is the picker's choice, which a national phone
    /// number is read in), stored once, and the code sent.
    pub async fn set_address_from_page(
        &self,
        namespace: &str,
        id: &str,
        raw: &str,
        country: Option<&str>,
        client_ip: Option<IpAddr>,
    ) -> Result<(), EngineError> {
        let (app, record, now) = self.open_for_sending(namespace, id, client_ip).await?;
        let provider = self.provider(&record.provider)?;
        let address = if provider.channel().is_phone() {
            provider.parse_address(&super::address::with_region(raw, country))?
        } else {
            provider.parse_address(raw)?
        };
        let delivery = self.delivery_for(&app, provider.as_ref(), address.as_str());
        match self
            .inner
            .store
            .claim_address(record.verification_id, address.as_str(), now, &delivery)
            .await?
        {
            Some(_) => {
                self.inner.outbox.wake();
                Ok(())
            }
            None => Err(EngineError::invalid(
                "to",
                "this verification already has an address",
            )),
        }
    }

    /// "Didn't get it?" on the hosted page: the verification moves to `provider`, one of
    /// the app's fallbacks. A new code is made, since the old one proves nothing about the
    /// new address; attempts, sends and expiry carry over, and messages still queued for
    /// the old channel are dropped. A phone number is kept when the new channel reaches
    /// phones too (and then the code is sent at once); otherwise the page asks for the new
    /// address. `Ok(true)` when a message was queued.
    pub async fn switch_from_page(
        &self,
        namespace: &str,
        id: &str,
        provider_id: &str,
        client_ip: Option<IpAddr>,
    ) -> Result<bool, EngineError> {
        let (app, record, now) = self.open_for_sending(namespace, id, client_ip).await?;
        if provider_id == record.provider
            || !self
                .app_pages(namespace)
                .fallbacks
                .iter()
                .any(|p| p == provider_id)
        {
            return Err(EngineError::invalid(
                "provider",
                "is not another way this app offers",
            ));
        }
        let provider = self.provider(provider_id)?;
        let inbound = provider.id() == super::inbound::INBOUND_PROVIDER;
        let was_phone = Channel::parse(&record.channel).is_some_and(Channel::is_phone);
        let address = (was_phone && provider.channel().is_phone())
            .then(|| provider.parse_address(&record.address).ok())
            .flatten();
        let spec = if inbound {
            super::inbound::inbound_code_spec()
        } else if record.provider == super::inbound::INBOUND_PROVIDER {
            self.inner.settings.code_spec
        } else {
            spec_of(&record)?
        };
        let code = OtpCode::generate(spec);
        let delivery = address
            .as_ref()
            .filter(|_| !inbound)
            .map(|a| self.delivery_for(&app, provider.as_ref(), a.as_str()));
        let switch = Switch {
            from_provider: record.provider.clone(),
            provider: provider_id.to_owned(),
            channel: provider.channel().as_str().into(),
            address: address.map(|a| a.to_string()).unwrap_or_default(),
            code_hmac: self
                .inner
                .hasher
                .hash(&app.namespace, &record.public_id, &code),
            code_sealed: self
                .inner
                .hasher
                .seal(&app.namespace, &record.public_id, &code),
            code_length: spec.length,
            code_alphabet: spec.alphabet.as_str().into(),
            inbound_key: inbound.then(|| self.inbound_key(&code)),
            now,
        };
        let switched = self
            .inner
            .store
            .switch_channel(record.verification_id, &switch, delivery.as_ref())
            .await?;
        match switched {
            Some(_) if delivery.is_some() => {
                self.inner.outbox.wake();
                Ok(true)
            }
            Some(_) => Ok(false),
            None if record.sends >= record.max_sends && delivery.is_some() => {
                Err(EngineError::SendLimit {
                    retry_after_secs: secs_until(record.expires_at, now).max(1),
                    sends: record.sends,
                    max_sends: record.max_sends,
                })
            }
            None => Err(EngineError::Closed(record.status)),
        }
    }

    /// "Send a new code" on the hosted page.
    pub async fn resend_from_page(
        &self,
        namespace: &str,
        id: &str,
        client_ip: Option<IpAddr>,
    ) -> Result<(), EngineError> {
        let (app, record) = self.app_and_record(namespace, id).await?;
        let id = VerificationId::parse(&record.public_id)
            .map_err(|_| StoreError::Corrupt("verification.public_id"))?;
        self.resend(&app, &id, client_ip).await.map(|_| ())
    }
}

/// A BCP 47 language tag of the common shape: `en`, `pt-BR`, `zh-Hant-TW`.
fn valid_locale(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let lang_ok = parts
        .next()
        .is_some_and(|l| (2..=3).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_alphabetic()));
    lang_ok
        && tag.len() <= 35
        && parts.all(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

async fn hash_off_executor(secret: &ApiSecret) -> String {
    let secret = secret.clone();
    tokio::task::spawn_blocking(move || secret.hash())
        .await
        .expect("argon2 hashing does not panic")
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
    fn durations_read_naturally() {
        assert_eq!(human_duration(600), "10 minutes");
        assert_eq!(human_duration(60), "1 minute");
        assert_eq!(human_duration(7200), "2 hours");
        assert_eq!(human_duration(90), "90 seconds");
    }

    #[test]
    fn remaining_seconds_round_up_and_never_go_negative() {
        assert_eq!(secs_until(10_001, 0), 11);
        assert_eq!(secs_until(10_000, 0), 10);
        assert_eq!(secs_until(0, 5_000), 0);
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

    #[test]
    fn routes_pick_the_longest_prefix_and_keep_the_requested_provider() {
        let rule = |channel, prefix: &str, providers: &[&str]| RouteRule {
            channel,
            prefix: prefix.into(),
            providers: providers.iter().map(|p| p.to_string()).collect(),
        };
        let rules = [
            rule(Channel::Sms, "", &["twilio", "gateway"]),
            rule(Channel::Sms, "+91", &["kaleyra_sms", "twilio"]),
            rule(Channel::Email, "", &["smtp", "relay"]),
        ];
        let route = |p: &str, c, a: &str| route_for(&rules, p, c, a);
        // The requested provider is in the matching rule: the rule's order.
        assert_eq!(
            route("twilio", Channel::Sms, "+919876543210"),
            ["kaleyra_sms", "twilio"]
        );
        assert_eq!(
            route("twilio", Channel::Sms, "+14155550100"),
            ["twilio", "gateway"]
        );
        // It is not: first, then the rule's providers.
        assert_eq!(
            route("other", Channel::Sms, "+14155550100"),
            ["other", "twilio", "gateway"]
        );
        // Channels do not mix; no rule means the requested provider alone.
        assert_eq!(
            route("smtp", Channel::Email, "a@b.example"),
            ["smtp", "relay"]
        );
        assert_eq!(route("relay", Channel::Whatsapp, "+14155550100"), ["relay"]);
        assert_eq!(
            route_for(&[], "smtp", Channel::Email, "a@b.example"),
            ["smtp"]
        );
    }
}
