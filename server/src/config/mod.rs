//! Settings: defaults, then the TOML file (an otpgateway `config.toml` works unchanged),
//! then `OTPGATE_*` environment variables.

mod delivery;

pub use delivery::HttpProviders;

use app::gateway::secret::ApiSecret;
use app::gateway::{
    address::Channel,
    code::CodeSpec,
    delivery::{NetPolicy, SmtpAuth, SmtpSettings, TlsMode, WebhookSettings},
    outbox::OutboxSettings,
    AppPages, DeclaredApp, EngineSettings, RouteRule,
};
use app::model::Namespace;
use base64::Engine;
use serde::Deserialize;
use std::{
    collections::BTreeMap,
    fmt,
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

/// Why the settings could not be loaded. Each message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid TOML for otpgate: {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("invalid setting `{key}`: {reason}")]
    Invalid { key: String, reason: String },
}

fn invalid(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        reason: reason.into(),
    }
}

/// A duration written as seconds (`300`) or as a string (`"5s"`, `"10m"`, `"1h"`, `"500ms"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum DurationValue {
    Seconds(u64),
    Text(String),
}

impl DurationValue {
    fn resolve(&self, key: &str) -> Result<Duration, ConfigError> {
        match self {
            DurationValue::Seconds(s) => Ok(Duration::from_secs(*s)),
            DurationValue::Text(t) => parse_duration(t).ok_or_else(|| {
                invalid(
                    key,
                    format!("{t:?} is not a duration; write e.g. \"30s\", \"5m\" or \"1h\""),
                )
            }),
        }
    }
}

/// Parses `"500ms"`, `"30s"`, `"5m"`, `"1h"` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().ok()?;
    Some(match unit.trim() {
        "" | "s" => Duration::from_secs(n),
        "ms" => Duration::from_millis(n),
        "m" => Duration::from_secs(n.checked_mul(60)?),
        "h" => Duration::from_secs(n.checked_mul(3600)?),
        _ => return None,
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct FileConfig {
    app: AppSection,
    auth: BTreeMap<String, AuthEntry>,
    providers: ProvidersSection,
    webhooks: BTreeMap<String, WebhookSection>,
    store: Option<toml::Table>,
    limits: LimitsSection,
    delivery: delivery::DeliverySection,
    templates: BTreeMap<String, delivery::ChannelTemplates>,
    inbound: InboundSection,
}

/// `[inbound]`: inbound (reverse) verification by SMS.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct InboundSection {
    /// The number people text their code to, in international format.
    number: Option<String>,
    /// `whsec_…`: authenticates `POST /v1/inbound/generic`.
    signing_secret: Option<String>,
}

#[derive(Deserialize)]
#[serde(default)]
struct WebhookSection {
    enabled: bool,
    url: String,
    username: String,
    password: String,
    subject: Option<String>,
    template: Option<PathBuf>,
    max_address_len: usize,
    max_conns: usize,
    timeout: Option<DurationValue>,
    request_timeout: Option<DurationValue>,
    // otpgate's own keys.
    /// `email`, `sms`, `whatsapp`, `voice` or `other` (the default): how addresses are checked.
    channel: String,
    /// A Standard Webhooks secret (`whsec_` + base64) to sign each request with.
    signing_secret: Option<String>,
}

impl Default for WebhookSection {
    fn default() -> Self {
        Self {
            enabled: false,
            url: String::new(),
            username: String::new(),
            password: String::new(),
            subject: None,
            template: None,
            max_address_len: 0,
            max_conns: 10,
            timeout: None,
            request_timeout: None,
            channel: "other".into(),
            signing_secret: None,
        }
    }
}

impl fmt::Debug for WebhookSection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSection")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct LimitsSection {
    /// `false` turns off the per-IP and per-app request limits (load tests, or limits
    /// enforced in front of otpgate). Per-address and per-verification limits always apply.
    caller_limits: Option<bool>,
    /// Seconds between two sends of one verification (default 30).
    resend_cooldown: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AppSection {
    address: Option<String>,
    server_timeout: Option<DurationValue>,
    enable_debug_logs: bool,
    otp_ttl: Option<DurationValue>,
    otp_max_attempts: Option<u32>,
    otp_max_generate: Option<u32>,
    otp_max_resends: Option<u32>,
    root_url: Option<String>,
    logo_url: Option<String>,
    favicon_url: Option<String>,
    // otpgate's own keys.
    environment: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
}

#[derive(Deserialize)]
struct AuthEntry {
    namespace: String,
    secret: String,
    // otpgate's own keys.
    name: Option<String>,
    #[serde(default)]
    echo_otp: bool,
    #[serde(default)]
    redirect_urls: Vec<String>,
    /// Sites that may frame the hosted page (the `otp.js` modal), as exact origins.
    #[serde(default)]
    embed_origins: Vec<String>,
    /// The hosted pages' language when a verification names none.
    locale: Option<String>,
    /// The app's logo above its hosted pages (otherwise `[app] logo_url`).
    logo_url: Option<String>,
    /// The colour of the hosted pages' buttons, `#rrggbb`.
    accent_color: Option<String>,
    /// The country the phone number picker starts on (ISO 3166, e.g. `IN`).
    country: Option<String>,
    /// Providers the hosted page offers when the code does not arrive, in order.
    #[serde(default)]
    fallbacks: Vec<String>,
    /// Failover: `[[auth.<name>.routes]]` with `channel`, optional `prefix`, `providers`.
    #[serde(default)]
    routes: Vec<RouteEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteEntry {
    channel: String,
    #[serde(default)]
    prefix: String,
    providers: Vec<String>,
}

impl fmt::Debug for AuthEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthEntry")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ProvidersSection {
    smtp: Option<SmtpSection>,
    console: Option<ConsoleSection>,
    #[serde(flatten)]
    other: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ConsoleSection {
    enabled: Option<bool>,
}

#[derive(Deserialize)]
#[serde(default)]
struct SmtpSection {
    enabled: bool,
    subject: Option<String>,
    template: Option<PathBuf>,
    from_email: String,
    host: String,
    port: u16,
    auth_protocol: String,
    username: String,
    password: String,
    max_conns: u32,
    timeout: Option<DurationValue>,
    tls_type: String,
    tls_skip_verify: bool,
}

impl Default for SmtpSection {
    fn default() -> Self {
        Self {
            enabled: true,
            subject: None,
            template: None,
            from_email: String::new(),
            host: "localhost".into(),
            port: 25,
            auth_protocol: "none".into(),
            username: String::new(),
            password: String::new(),
            max_conns: 10,
            timeout: None,
            tls_type: "none".into(),
            tls_skip_verify: false,
        }
    }
}

impl fmt::Debug for SmtpSection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSection")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

/// Development or production. Development turns on the console provider and the dev inbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

/// Everything the server needs, resolved and checked.
pub struct Settings {
    pub address: SocketAddr,
    pub root_url: String,
    pub environment: Environment,
    pub data_dir: PathBuf,
    pub database_url: String,
    /// Where the built site (`/pkg`, public assets) lives.
    pub site_root: PathBuf,
    pub debug_logs: bool,
    pub server_timeout: Duration,
    pub engine: EngineSettings,
    pub apps: Vec<DeclaredApp>,
    pub smtp: Option<SmtpSettings>,
    pub webhooks: Vec<WebhookSettings>,
    /// Twilio, generic HTTP SMS and Kaleyra providers.
    pub http_providers: HttpProviders,
    pub console: bool,
    /// The delivery worker's pace.
    pub outbox: OutboxSettings,
    /// Where providers may send requests (SSRF protection).
    pub net: NetPolicy,
    /// Sections found in the file that this version does not act on, for one warning each.
    pub ignored: Vec<String>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("address", &self.address)
            .field("root_url", &self.root_url)
            .field("environment", &self.environment)
            .field("data_dir", &self.data_dir)
            .field("database_url", &redact_url(&self.database_url))
            .field(
                "apps",
                &self
                    .apps
                    .iter()
                    .map(|a| a.namespace.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("smtp", &self.smtp)
            .field("console", &self.console)
            .finish_non_exhaustive()
    }
}

/// Hides the password part of a database URL.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://<redacted>@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

impl Settings {
    /// Loads `path` (or `./otpgate.toml` when it exists and no path is given), then applies
    /// environment overrides read through `env`.
    pub fn load(
        path: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let default_path = Path::new("otpgate.toml");
        let path = path.or_else(|| default_path.exists().then_some(default_path));
        let (file, base_dir) = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.into(),
                    source,
                })?;
                let file = toml::from_str(&text).map_err(|source| ConfigError::Parse {
                    path: p.into(),
                    source,
                })?;
                (file, p.parent().map(Path::to_path_buf).unwrap_or_default())
            }
            None => (FileConfig::default(), PathBuf::new()),
        };
        Self::resolve(file, &base_dir, env)
    }

    /// Parses settings from TOML text (tests and tools).
    pub fn from_toml(
        text: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let file = toml::from_str(text).map_err(|source| ConfigError::Parse {
            path: "<inline>".into(),
            source,
        })?;
        Self::resolve(file, Path::new(""), env)
    }

    fn resolve(
        file: FileConfig,
        base_dir: &Path,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let app = file.app;
        let address_text = env("OTPGATE_ADDRESS")
            .or(app.address)
            .unwrap_or_else(|| "127.0.0.1:3000".into());
        let address: SocketAddr = address_text
            .parse()
            .map_err(|_| invalid("app.address", format!("{address_text:?} is not host:port")))?;
        let root_url = env("OTPGATE_ROOT_URL")
            .or(app.root_url)
            .unwrap_or_else(|| format!("http://127.0.0.1:{}", address.port()));
        let root_url = root_url.trim_end_matches('/').to_owned();
        if !(root_url.starts_with("http://") || root_url.starts_with("https://")) {
            return Err(invalid(
                "app.root_url",
                "must start with http:// or https://",
            ));
        }
        let environment = match env("OTPGATE_ENV").or(app.environment).as_deref() {
            None | Some("production") => Environment::Production,
            Some("development") => Environment::Development,
            Some(other) => {
                return Err(invalid(
                    "app.environment",
                    format!("{other:?}: use \"development\" or \"production\""),
                ))
            }
        };
        let data_dir = env("OTPGATE_DATA_DIR")
            .map(PathBuf::from)
            .or(app.data_dir)
            .unwrap_or_else(|| "data".into());
        let database_url = env("OTPGATE_DATABASE_URL")
            .or(app.database_url)
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("otpgate.db").display()));
        let site_root = env("OTPGATE_SITE_ROOT")
            .or_else(|| env("LEPTOS_SITE_ROOT"))
            .map(PathBuf::from)
            .unwrap_or_else(|| "target/site".into());

        let mut engine = EngineSettings {
            root_url: root_url.clone(),
            ..EngineSettings::default()
        };
        if let Some(ttl) = &app.otp_ttl {
            let secs = ttl.resolve("app.otp_ttl")?.as_secs();
            if !(1..=EngineSettings::MAX_TTL_SECS).contains(&secs) {
                return Err(invalid(
                    "app.otp_ttl",
                    "must be between 1 second and 24 hours",
                ));
            }
            engine.default_ttl_secs = secs;
        }
        if let Some(n) = app.otp_max_attempts {
            if !(1..=EngineSettings::MAX_ATTEMPTS).contains(&n) {
                return Err(invalid("app.otp_max_attempts", "must be between 1 and 10"));
            }
            engine.default_max_attempts = n;
        }
        // otpgateway has both names for the per-id send cap; the smaller one wins.
        let sends = [
            app.otp_max_generate,
            app.otp_max_resends.map(|r| r.saturating_add(1)),
        ];
        if let Some(n) = sends.into_iter().flatten().min() {
            if !(1..=EngineSettings::MAX_SENDS).contains(&n) {
                return Err(invalid("app.otp_max_generate", "must be between 1 and 10"));
            }
            engine.default_max_sends = n;
        }
        engine.code_spec = CodeSpec::default();
        if file.limits.caller_limits == Some(false) {
            engine.limits = engine.limits.without_caller_limits();
        }
        if let Some(secs) = file.limits.resend_cooldown {
            engine.limits.resend_cooldown_secs =
                i64::try_from(secs.min(3600)).expect("bounded above");
        }
        let server_timeout = match &app.server_timeout {
            Some(t) => t.resolve("app.server_timeout")?,
            None => Duration::from_secs(10),
        };

        if let Some(number) = &file.inbound.number {
            let parsed = app::gateway::address::Address::parse(Channel::Sms, number)
                .map_err(|e| invalid("inbound.number", e.to_string()))?;
            engine.inbound_number = Some(parsed.to_string());
        }
        if let Some(secret) = &file.inbound.signing_secret {
            engine.inbound_signing_secret = Some(signing_key(secret, "inbound.signing_secret")?);
        }
        let net = file.delivery.net();
        let outbox = file.delivery.outbox()?;
        let webotp_host = file.delivery.webotp.then(|| {
            let rest = root_url
                .split_once("://")
                .map(|(_, r)| r)
                .unwrap_or(&root_url);
            let authority = rest.split('/').next().unwrap_or(rest);
            authority
                .rsplit_once(':')
                .map(|(h, _)| h)
                .unwrap_or(authority)
                .to_owned()
        });
        let templates = delivery::TemplateSources {
            channels: &file.templates,
            base_dir,
            webotp_host,
        };
        for channel in file.templates.keys() {
            if Channel::parse(channel).is_none() {
                return Err(invalid(
                    format!("templates.{channel}"),
                    "use email, sms, whatsapp, voice or other",
                ));
            }
        }

        let mut apps = Vec::new();
        for (name, entry) in file.auth {
            let ns = Namespace::parse(&entry.namespace)
                .map_err(|e| invalid(format!("auth.{name}.namespace"), e.to_string()))?;
            let secret = ApiSecret::parse(&entry.secret)
                .map_err(|e| invalid(format!("auth.{name}.secret"), e.to_string()))?;
            for url in &entry.redirect_urls {
                if !(url.starts_with("https://") || url.starts_with("http://"))
                    || url.chars().any(char::is_control)
                {
                    return Err(invalid(
                        format!("auth.{name}.redirect_urls"),
                        format!("{url:?} is not an http(s) URL"),
                    ));
                }
            }
            for origin in &entry.embed_origins {
                let valid = is_origin(origin);
                if !valid {
                    return Err(invalid(
                        format!("auth.{name}.embed_origins"),
                        format!("{origin:?} is not an origin like https://shop.example"),
                    ));
                }
            }
            let mut routes = Vec::new();
            for (i, r) in entry.routes.into_iter().enumerate() {
                let key = format!("auth.{name}.routes[{i}]");
                let channel = Channel::parse(&r.channel).ok_or_else(|| {
                    invalid(&key, "channel: use email, sms, whatsapp, voice or other")
                })?;
                if r.providers.is_empty() {
                    return Err(invalid(&key, "providers: name at least one"));
                }
                let country_code = r
                    .prefix
                    .strip_prefix('+')
                    .is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()));
                if !r.prefix.is_empty() && !country_code {
                    return Err(invalid(
                        &key,
                        "prefix: write a country code such as \"+91\"",
                    ));
                }
                routes.push(RouteRule {
                    channel,
                    prefix: r.prefix,
                    providers: r.providers,
                });
            }
            apps.push(DeclaredApp {
                namespace: ns,
                secret,
                name: entry.name,
                echo_code: entry.echo_otp,
                redirect_urls: entry.redirect_urls,
                pages: AppPages {
                    embed_origins: entry.embed_origins,
                    locale: match entry.locale {
                        Some(tag) if app::i18n::Lang::from_tag(&tag).is_none() => {
                            return Err(invalid(
                                format!("auth.{name}.locale"),
                                format!("{tag:?}: pages speak en, de, es, fr, hi and ar"),
                            ))
                        }
                        other => other,
                    },
                    logo_url: match entry
                        .logo_url
                        .or_else(|| app.logo_url.clone())
                        .filter(|url| !url.is_empty())
                    {
                        Some(url) if !is_image_url(&url) => {
                            return Err(invalid(
                                format!("auth.{name}.logo_url"),
                                format!(
                                    "{url:?}: use an https URL or a path such as /static/logo.svg"
                                ),
                            ))
                        }
                        other => other,
                    },
                    accent_color: match entry.accent_color {
                        Some(colour) if !is_hex_colour(&colour) => {
                            return Err(invalid(
                                format!("auth.{name}.accent_color"),
                                format!("{colour:?}: write a colour as #rrggbb"),
                            ))
                        }
                        other => other.map(|c| c.to_ascii_lowercase()),
                    },
                    country: match entry.country.map(|c| c.to_ascii_uppercase()) {
                        Some(region)
                            if !app::gateway::address::dialling_codes()
                                .iter()
                                .any(|d| d.region == region) =>
                        {
                            return Err(invalid(
                                format!("auth.{name}.country"),
                                format!("{region:?}: write a country code such as IN or DE"),
                            ))
                        }
                        other => other,
                    },
                    fallbacks: entry.fallbacks,
                },
                routes,
            });
        }

        let smtp = match file.providers.smtp {
            Some(s) if s.enabled => Some(smtp_settings(s, &templates)?),
            _ => None,
        };
        let console = file
            .providers
            .console
            .and_then(|c| c.enabled)
            .unwrap_or(environment == Environment::Development);

        let mut ignored = Vec::new();
        let http_providers = delivery::http_providers(
            file.providers.other,
            &templates,
            net,
            &root_url,
            &mut ignored,
        )?;
        if file.store.is_some() {
            ignored.push("store (otpgate keeps its data in SQLite or PostgreSQL)".into());
        }
        if app.favicon_url.as_deref().is_some_and(|u| !u.is_empty()) {
            ignored.push("app.favicon_url".into());
        }

        let mut webhooks = Vec::new();
        for (name, section) in file.webhooks {
            if section.enabled {
                webhooks.push(webhook_settings(&name, section, &templates, net)?);
            }
        }

        Ok(Self {
            address,
            root_url,
            environment,
            data_dir,
            database_url,
            site_root,
            debug_logs: app.enable_debug_logs,
            server_timeout,
            engine,
            apps,
            smtp,
            webhooks,
            http_providers,
            console,
            outbox,
            net,
            ignored,
        })
    }
}

/// `scheme://host[:port]`, nothing more: what a browser reports as an origin.
fn is_origin(origin: &str) -> bool {
    let Some((scheme, rest)) = origin.split_once("://") else {
        return false;
    };
    matches!(scheme, "https" | "http")
        && !rest.is_empty()
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
}

/// An https URL, or a path on this server (`/static/logo.svg`), that can sit in an `src`
/// attribute as it is. Plain http is refused: the pages' CSP loads images over https only.
fn is_image_url(url: &str) -> bool {
    (url.starts_with("https://") || (url.starts_with('/') && !url.starts_with("//")))
        && url.len() <= 2048
        && !url
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>'))
}

/// `#rrggbb`.
fn is_hex_colour(colour: &str) -> bool {
    colour
        .strip_prefix('#')
        .is_some_and(|hex| hex.len() == 6 && hex.chars().all(|c| c.is_ascii_hexdigit()))
}

/// A Standard Webhooks secret: `whsec_` and base64 of at least 16 bytes.
fn signing_key(secret: &str, key: &str) -> Result<Vec<u8>, ConfigError> {
    let raw = secret.strip_prefix("whsec_").unwrap_or(secret);
    base64::engine::general_purpose::STANDARD
        .decode(raw)
        .ok()
        .filter(|b| b.len() >= 16)
        .ok_or_else(|| {
            invalid(
                key,
                "must be whsec_ followed by base64 of at least 16 bytes",
            )
        })
}

fn webhook_settings(
    name: &str,
    w: WebhookSection,
    templates: &delivery::TemplateSources<'_>,
    net: NetPolicy,
) -> Result<WebhookSettings, ConfigError> {
    let key = |k: &str| format!("webhooks.{name}.{k}");
    if !(w.url.starts_with("http://") || w.url.starts_with("https://")) {
        return Err(invalid(key("url"), "must be an http:// or https:// URL"));
    }
    let channel = app::gateway::address::Channel::parse(&w.channel)
        .ok_or_else(|| invalid(key("channel"), "use email, sms, whatsapp, voice or other"))?;
    let signing_secret = match w.signing_secret {
        None => None,
        Some(secret) => Some(signing_key(&secret, &key("signing_secret"))?),
    };
    let templates = templates.build(
        channel,
        &format!("webhooks.{name}"),
        w.subject.as_deref(),
        w.template.as_deref(),
    )?;
    let timeout = match w.request_timeout.as_ref().or(w.timeout.as_ref()) {
        Some(t) => t.resolve(&key("timeout"))?,
        None => Duration::from_secs(10),
    };
    Ok(WebhookSettings {
        id: name.to_owned(),
        url: w.url,
        channel,
        username: w.username,
        password: w.password,
        signing_secret,
        max_address_len: w.max_address_len,
        timeout,
        max_conns: w.max_conns,
        templates,
        net,
    })
}

fn smtp_settings(
    s: SmtpSection,
    templates: &delivery::TemplateSources<'_>,
) -> Result<SmtpSettings, ConfigError> {
    let tls = match s.tls_type.to_ascii_lowercase().as_str() {
        "none" | "" => TlsMode::None,
        "starttls" => TlsMode::StartTls,
        "tls" => TlsMode::Tls,
        other => {
            return Err(invalid(
                "providers.smtp.tls_type",
                format!("{other:?}: use none, STARTTLS or TLS"),
            ))
        }
    };
    let auth = match s.auth_protocol.to_ascii_lowercase().as_str() {
        "none" | "" => SmtpAuth::None,
        "plain" => SmtpAuth::Plain,
        "login" => SmtpAuth::Login,
        "cram" => SmtpAuth::Cram,
        other => {
            return Err(invalid(
                "providers.smtp.auth_protocol",
                format!("{other:?}: use login, cram, plain or none"),
            ))
        }
    };
    let from = s.from_email.parse().map_err(|_| {
        invalid(
            "providers.smtp.from_email",
            "must be an address like \"Name <otp@example.com>\"",
        )
    })?;
    let templates = templates.build(
        Channel::Email,
        "providers.smtp",
        s.subject.as_deref(),
        s.template.as_deref(),
    )?;
    Ok(SmtpSettings {
        host: s.host,
        port: s.port,
        tls,
        tls_skip_verify: s.tls_skip_verify,
        auth,
        username: s.username,
        password: s.password,
        from,
        max_conns: s.max_conns,
        timeout: match &s.timeout {
            Some(t) => t.resolve("providers.smtp.timeout")?,
            None => Duration::from_secs(10),
        },
        templates,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OTPGATEWAY_SAMPLE: &str = include_str!("../../tests/fixtures/otpgateway.config.toml");

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn an_unchanged_otpgateway_config_loads() {
        let s = Settings::from_toml(OTPGATEWAY_SAMPLE, no_env).unwrap();
        assert_eq!(s.address, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(s.root_url, "http://localhost:9000");
        assert_eq!(s.engine.default_ttl_secs, 300);
        assert_eq!(s.engine.default_max_attempts, 5);
        assert_eq!(s.engine.default_max_sends, 4);
        let names: Vec<_> = s.apps.iter().map(|a| a.namespace.as_str()).collect();
        assert_eq!(names, ["MyApp", "MyOtherApp"]);
        let smtp = s.smtp.as_ref().unwrap();
        assert_eq!(
            (smtp.host.as_str(), smtp.port, smtp.auth),
            ("localhost", 25, SmtpAuth::Cram)
        );
        assert_eq!(smtp.timeout, Duration::from_secs(5));
        assert!(s.ignored.iter().any(|i| i.starts_with("store")));
        assert!(
            s.http_providers.kaleyra.is_empty(),
            "disabled in the sample"
        );
        assert_eq!(s.environment, Environment::Production);
        assert!(!s.console);
    }

    #[test]
    fn environment_variables_override_the_file() {
        let env = |k: &str| match k {
            "OTPGATE_ADDRESS" => Some("127.0.0.1:4000".to_owned()),
            "OTPGATE_ROOT_URL" => Some("https://otp.example.com/".to_owned()),
            "OTPGATE_DATA_DIR" => Some("/tmp/x".to_owned()),
            "OTPGATE_ENV" => Some("development".to_owned()),
            _ => None,
        };
        let s = Settings::from_toml(OTPGATEWAY_SAMPLE, env).unwrap();
        assert_eq!(s.address.port(), 4000);
        assert_eq!(s.root_url, "https://otp.example.com");
        assert_eq!(s.database_url, "sqlite:///tmp/x/otpgate.db");
        assert!(s.console);
    }

    #[test]
    fn bad_values_name_their_key() {
        for (toml, key) in [
            ("[app]\naddress = \"nowhere\"", "app.address"),
            ("[app]\notp_ttl = \"5 fortnights\"", "app.otp_ttl"),
            ("[app]\notp_ttl = 999999", "app.otp_ttl"),
            ("[app]\notp_max_attempts = 0", "app.otp_max_attempts"),
            (
                "[auth.x]\nnamespace = \"bad ns\"\nsecret = \"longenough\"",
                "auth.x.namespace",
            ),
            (
                "[providers.smtp]\ntls_type = \"SSLv2\"\nfrom_email = \"a@b.c\"",
                "providers.smtp.tls_type",
            ),
            (
                "[auth.x]\nnamespace = \"x\"\nsecret = \"longenough\"\naccent_color = \"red;}\"",
                "auth.x.accent_color",
            ),
            (
                "[auth.x]\nnamespace = \"x\"\nsecret = \"longenough\"\nlogo_url = \"http://x.test/l.png\"",
                "auth.x.logo_url",
            ),
            (
                "[auth.x]\nnamespace = \"x\"\nsecret = \"longenough\"\nlogo_url = \"https://x.test/a\\\" onerror=\\\"x\"",
                "auth.x.logo_url",
            ),
            (
                "[auth.x]\nnamespace = \"x\"\nsecret = \"longenough\"\ncountry = \"XX\"",
                "auth.x.country",
            ),
        ] {
            let err = Settings::from_toml(toml, no_env).expect_err(toml);
            assert!(err.to_string().contains(key), "{err} should name {key}");
        }
    }

    #[test]
    fn durations_accept_otpgateway_forms() {
        assert_eq!(parse_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("10m"), Some(Duration::from_secs(600)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("300"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("5d"), None);
    }

    #[test]
    fn debug_output_hides_secrets() {
        let s = Settings::from_toml(OTPGATEWAY_SAMPLE, |k| {
            (k == "OTPGATE_DATABASE_URL").then(|| "postgres://user:hunter2@db/otp".to_owned())
        })
        .unwrap();
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("hunter2"));
        assert!(!dbg.contains("mySecretToken"));
        assert!(!dbg.contains("smtp-password"));
    }
}
