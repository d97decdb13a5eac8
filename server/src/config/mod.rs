//! Settings: defaults, then the TOML file (an otpgateway `config.toml` works unchanged),
//! then `OTPGATE_*` environment variables.

mod apps;
mod delivery;
mod engine;
mod guard;
mod smtp;
#[cfg(test)]
mod tests;
mod webhooks;

pub use delivery::HttpProviders;

use crate::http::{parse_trusted, HttpSettings};
use app::gateway::{
    address::Channel,
    delivery::{catalogue::ProviderKit, NetPolicy, SmtpSettings, WebhookSettings},
    outbox::OutboxSettings,
    DeclaredApp, EngineSettings,
};
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

pub(super) fn invalid(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
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
    pub(super) fn resolve(&self, key: &str) -> Result<Duration, ConfigError> {
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
    app: engine::AppSection,
    auth: BTreeMap<String, apps::AuthEntry>,
    providers: smtp::ProvidersSection,
    webhooks: BTreeMap<String, webhooks::WebhookSection>,
    store: Option<toml::Table>,
    limits: engine::LimitsSection,
    delivery: delivery::DeliverySection,
    templates: BTreeMap<String, delivery::ChannelTemplates>,
    inbound: engine::InboundSection,
    dashboard: DashboardSection,
    metrics: MetricsSection,
    guard: guard::GuardSection,
}

/// `[metrics]`: the bearer token `/metrics` asks for (none: open, for a scraper on a
/// private network; `OTPGATE_METRICS_TOKEN` overrides).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct MetricsSection {
    token: Option<String>,
}

/// `[dashboard]`: whether people may sign up for a tenant themselves (off by default), and
/// how many days verifications are kept (90; 0 keeps them all; stats are kept always).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct DashboardSection {
    signup: bool,
    retention_days: Option<u32>,
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
    /// Trusted proxies, the read timeout (`[app] server_timeout`) and the body limit.
    pub http: HttpSettings,
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
    /// The network policy and per-channel templates of the providers tenants add.
    pub provider_kit: ProviderKit,
    /// Sections found in the file that this version does not act on, for one warning each.
    pub ignored: Vec<String>,
    /// The bearer token `/metrics` asks for, if any.
    pub metrics_token: Option<String>,
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

/// `[app] server_timeout` (or `OTPGATE_SERVER_TIMEOUT`), `trusted_proxies` (or
/// `OTPGATE_TRUSTED_PROXIES`, separated by commas) and `max_body_size`.
fn http_settings(
    app: &engine::AppSection,
    env: impl Fn(&str) -> Option<String>,
) -> Result<HttpSettings, ConfigError> {
    let mut http = HttpSettings::default();
    let timeout = env("OTPGATE_SERVER_TIMEOUT")
        .map(DurationValue::Text)
        .or_else(|| app.server_timeout.clone());
    if let Some(t) = timeout {
        http.read_timeout = t.resolve("app.server_timeout")?;
        if http.read_timeout.is_zero() || http.read_timeout > Duration::from_secs(3600) {
            return Err(invalid(
                "app.server_timeout",
                "must be more than 0 and at most 1h",
            ));
        }
    }
    let proxies: Vec<String> = match env("OTPGATE_TRUSTED_PROXIES") {
        Some(list) => list
            .split(',')
            .filter(|e| !e.trim().is_empty())
            .map(str::to_owned)
            .collect(),
        None => app.trusted_proxies.clone().unwrap_or_default(),
    };
    for entry in proxies {
        let net = parse_trusted(&entry).ok_or_else(|| {
            invalid(
                "app.trusted_proxies",
                format!("{entry:?} is not an address or a network (e.g. \"10.0.0.0/8\")"),
            )
        })?;
        http.trusted_proxies.push(net);
    }
    if let Some(max) = app.max_body_size {
        if !(1024..=16 * 1024 * 1024).contains(&max) {
            return Err(invalid(
                "app.max_body_size",
                "must be between 1024 and 16777216 bytes",
            ));
        }
        http.max_body = max;
    }
    Ok(http)
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
            .or_else(|| app.address.clone())
            .unwrap_or_else(|| "127.0.0.1:3000".into());
        let address: SocketAddr = address_text
            .parse()
            .map_err(|_| invalid("app.address", format!("{address_text:?} is not host:port")))?;
        let root_url = env("OTPGATE_ROOT_URL")
            .or_else(|| app.root_url.clone())
            .unwrap_or_else(|| format!("http://127.0.0.1:{}", address.port()));
        let root_url = root_url.trim_end_matches('/').to_owned();
        if !(root_url.starts_with("http://") || root_url.starts_with("https://")) {
            return Err(invalid(
                "app.root_url",
                "must start with http:// or https://",
            ));
        }
        let mut engine = engine::engine_settings(&app, &file.limits, &root_url)?;
        let http = http_settings(&app, &env)?;
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

        engine::inbound_settings(&file.inbound, &mut engine)?;
        engine.guard = guard::guard_settings(&file.guard)?;
        engine.self_signup = file.dashboard.signup;
        if let Some(days) = file.dashboard.retention_days {
            if days > 36_500 {
                return Err(invalid(
                    "dashboard.retention_days",
                    "must be at most 36500 (0 keeps everything)",
                ));
            }
            engine.retention_days = days;
        }
        let metrics_token = env("OTPGATE_METRICS_TOKEN")
            .or(file.metrics.token)
            .filter(|t| !t.is_empty());
        if metrics_token.as_ref().is_some_and(|t| t.len() < 16) {
            return Err(invalid("metrics.token", "must be at least 16 characters"));
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

        let mut kit = ProviderKit {
            net,
            templates: Default::default(),
            root_url: root_url.clone(),
        };
        for channel in Channel::ALL {
            let set = templates.build(channel, "templates", None, None)?;
            kit.templates.insert(channel.as_str().to_owned(), set);
        }

        let mut apps = Vec::new();
        for (name, entry) in file.auth {
            apps.push(apps::declared_app(&name, entry, app.logo_url.as_deref())?);
        }

        let smtp = match file.providers.smtp {
            Some(s) if s.enabled => Some(smtp::smtp_settings(s, &templates)?),
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
            if name == app::gateway::delivery::DEV_INBOX {
                return Err(invalid(
                    format!("webhooks.{name}"),
                    "this name is the dev inbox's; choose another",
                ));
            }
            if section.enabled {
                webhooks.push(webhooks::webhook_settings(&name, section, &templates, net)?);
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
            http,
            engine,
            apps,
            smtp,
            webhooks,
            http_providers,
            console,
            outbox,
            net,
            provider_kit: kit,
            ignored,
            metrics_token,
        })
    }
}

/// A Standard Webhooks secret: `whsec_` and base64 of at least 16 bytes.
pub(super) fn signing_key(secret: &str, key: &str) -> Result<Vec<u8>, ConfigError> {
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
