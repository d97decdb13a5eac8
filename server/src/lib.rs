//! The `otpgate` server: configuration, start-up, the HTTP router and the CLI commands.

pub mod assets;
pub mod cli;
pub mod config;
pub mod http;
pub mod keys;

use app::gateway::{
    clock::Clock,
    delivery::{
        ConsoleProvider, HttpSmsProvider, KaleyraProvider, Provider, Providers, SmtpProvider,
        TwilioProvider, WebhookProvider,
    },
    store::{PostgresStore, SqliteStore, Store, StoreError},
    tokens::TokenKeys,
    EngineError, Gateway,
};
use config::Settings;
use leptos::prelude::LeptosOptions;
use std::sync::Arc;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Keys(#[from] keys::KeyError),
    #[error("cannot open the database: {}", causes(.0))]
    Store(#[from] StoreError),
    #[error("cannot open the database: {0}")]
    Unwritable(String),
    #[error("unsupported database URL {0}: use sqlite://PATH or postgres://…")]
    DatabaseUrl(String),
    #[error("cannot set up a provider: {0}")]
    Provider(String),
    #[error("cannot declare the configured apps: {}", causes(.0))]
    Apps(#[from] EngineError),
    #[error("cannot listen: {0}")]
    Io(#[from] std::io::Error),
}

/// An error and each error that caused it, so a start-up failure names its reason (a
/// read-only file, a refused connection), not only its kind.
fn causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Opens the database named by the settings and applies its migrations.
pub async fn open_store(settings: &Settings) -> Result<Arc<dyn Store>, StartError> {
    let url = &settings.database_url;
    if url.starts_with("sqlite:") {
        std::fs::create_dir_all(&settings.data_dir)?;
        writable(url)?;
        return Ok(Arc::new(SqliteStore::connect(url).await?));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Arc::new(PostgresStore::connect(url).await?));
    }
    Err(StartError::DatabaseUrl(config::redact_url(url)))
}

/// SQLite needs to write its file and, beside it, its `-wal` and `-shm` files: a read-only
/// file or folder is named as such here, where SQLite would only say it cannot open it.
fn writable(url: &str) -> Result<(), StartError> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = std::path::Path::new(path.split('?').next().unwrap_or_default());
    if path.as_os_str().is_empty() || path.as_os_str() == ":memory:" {
        return Ok(());
    }
    let unwritable = |what: &str, e: std::io::Error| {
        StartError::Unwritable(format!("{what} {} cannot be written: {e}", path.display()))
    };
    if path.exists() {
        std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| unwritable("the database file", e))?;
    }
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty());
    let probe = folder
        .unwrap_or(std::path::Path::new("."))
        .join(".otpgate-write-check");
    std::fs::write(&probe, b"")
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|e| unwritable("the folder of the database", e))
}

/// Builds the engine: storage, keys, providers, and the apps declared in the config file.
pub async fn build_gateway(
    settings: &Settings,
    clock: Arc<dyn Clock>,
) -> Result<Gateway, StartError> {
    let store = open_store(settings).await?;
    let keys = keys::ServerKeys::load_or_create(
        &settings.data_dir,
        std::env::var("OTPGATE_CODE_HMAC_KEYS").ok(),
    )?;
    let mut providers = Providers::default();
    providers.set_kit(settings.provider_kit.clone());
    if let Some(smtp) = &settings.smtp {
        if smtp.auth == app::gateway::delivery::SmtpAuth::Cram {
            tracing::warn!(
                "providers.smtp: CRAM-MD5 is not supported; PLAIN or LOGIN will be offered instead"
            );
        }
        providers.add(Arc::new(
            SmtpProvider::new(smtp.clone()).map_err(|e| StartError::Provider(e.to_string()))?,
        ));
    }
    let failed = |id: &str, e: app::gateway::delivery::DeliveryError| {
        StartError::Provider(format!("{id}: {e}"))
    };
    let mut add = |provider: Arc<dyn Provider>| {
        tracing::info!(
            provider = provider.id(),
            channel = provider.channel().as_str(),
            "provider ready"
        );
        providers.add(provider);
    };
    for w in &settings.webhooks {
        add(Arc::new(
            WebhookProvider::new(w.clone()).map_err(|e| failed(&w.id, e))?,
        ));
    }
    let http = &settings.http_providers;
    for t in &http.twilio {
        add(Arc::new(
            TwilioProvider::new(t.clone()).map_err(|e| failed(&t.id, e))?,
        ));
    }
    for h in &http.http_sms {
        add(Arc::new(
            HttpSmsProvider::new(h.clone()).map_err(|e| failed(&h.id, e))?,
        ));
    }
    for k in &http.kaleyra {
        add(Arc::new(
            KaleyraProvider::new(k.clone()).map_err(|e| failed(&k.id, e))?,
        ));
    }
    if settings.engine.inbound_number.is_some() {
        add(Arc::new(
            app::gateway::delivery::inbound::InboundProvider::default(),
        ));
    }
    add(Arc::new(
        app::gateway::delivery::totp::TotpProvider::default(),
    ));
    if settings.console {
        tracing::warn!("the console provider is on: codes are kept in the dev inbox at /dev/inbox (development only)");
        providers.add_console(Arc::new(ConsoleProvider::default()));
    }
    for ignored in &settings.ignored {
        tracing::warn!(section = %ignored, "configuration section not used by this version of otpgate");
    }
    let tokens = TokenKeys::new(&keys.token_seeds, settings.root_url.clone())
        .ok_or_else(|| keys::KeyError::Corrupt("keys.toml".into(), "no token key".into()))?;
    let gateway = Gateway::new(
        store,
        keys.code_hasher,
        providers,
        clock,
        settings.engine.clone(),
        tokens,
    );
    for declared in &settings.apps {
        gateway.declare_app(declared).await?;
    }
    Ok(gateway)
}

/// Leptos' options for this server: the built site under `site_root`, output `otpgate`.
pub fn leptos_options(settings: &Settings) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name("otpgate")
        .site_root(settings.site_root.display().to_string())
        .site_pkg_dir("pkg")
        .site_addr(settings.address)
        .build()
}

/// Serves until `shutdown` resolves, finishing in-flight requests first.
pub use http::listen::serve;
