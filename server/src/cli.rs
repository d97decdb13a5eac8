//! The command line: `otpgate [--config FILE] [serve | migrate | app create NAMESPACE |
//! tenant create --email … --name … | stats rebuild [--since DATE]]`.

use crate::{
    build_gateway,
    config::Settings,
    http::{AppState, Shared},
    leptos_options, open_store, StartError,
};
use app::{
    gateway::{
        clock::{utc_midnight, utc_timestamp, SystemClock},
        secret::ApiSecret,
    },
    model::Namespace,
};
use clap::{Parser, Subcommand};
use std::{path::PathBuf, sync::Arc};

#[derive(Debug, Parser)]
#[command(
    name = "otpgate",
    version,
    about = "Self-hosted OTP verification gateway"
)]
pub struct Cli {
    /// Settings file (an otpgateway config.toml works). Default: ./otpgate.toml if present.
    #[arg(long, global = true, env = "OTPGATE_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API and the hosted pages (the default).
    Serve,
    /// Create or update the database schema, then exit.
    Migrate,
    /// Manage apps.
    App {
        #[command(subcommand)]
        command: AppCommand,
    },
    /// Tenants: the organisations that manage apps in the dashboard.
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// The dashboard's stats rollups.
    Stats {
        #[command(subcommand)]
        command: StatsCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum StatsCommand {
    /// Recomputes the hourly rollups from the stored events. Hours before --since keep
    /// their rollups (their events may have been purged).
    Rebuild {
        /// The first day to recompute, YYYY-MM-DD (UTC). Default: every hour with events.
        #[arg(long)]
        since: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Makes a tenant and its first owner, and prints the owner's one-time password.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// Create an app and print its secret once.
    Create {
        namespace: String,
        /// Display name shown on hosted pages (default: the namespace).
        #[arg(long)]
        name: Option<String>,
        /// Use this secret instead of a generated one (8–256 characters).
        #[arg(long)]
        secret: Option<String>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Failed(String),
}

pub async fn run(cli: Cli) -> Result<(), CliError> {
    let settings = Settings::load(cli.config.as_deref(), |k| std::env::var(k).ok())
        .map_err(StartError::from)?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Migrate => {
            open_store(&settings).await?;
            println!("database is up to date");
            Ok(())
        }
        Command::Stats {
            command: StatsCommand::Rebuild { since },
        } => {
            let from = match since.as_deref() {
                None => 0,
                Some(date) => utc_midnight(date).ok_or_else(|| {
                    CliError::Usage(format!(
                        "--since: {date:?} is not a date such as 2026-01-31"
                    ))
                })?,
            };
            let store = open_store(&settings).await?;
            let rows = store
                .rebuild_stats(from)
                .await
                .map_err(|e| CliError::Failed(format!("cannot rebuild the stats: {e:?}")))?;
            let start = if from == 0 {
                "the first event".to_owned()
            } else {
                utc_timestamp(from)
            };
            println!("rebuilt {rows} rollup rows from {start}");
            Ok(())
        }
        Command::Tenant {
            command: TenantCommand::Create { email, name },
        } => {
            let gateway = build_gateway(&settings, Arc::new(SystemClock)).await?;
            match gateway.create_tenant(&name, &email).await {
                Ok(made) => {
                    let url = format!(
                        "{}/dashboard/sign-in",
                        settings.root_url.trim_end_matches('/')
                    );
                    println!(
                        "created tenant {} ({:?}) with owner {}",
                        made.tenant.tenant_id, made.tenant.name, made.owner.email
                    );
                    println!("password: {}", made.password.expose());
                    println!("(shown once; only its hash is stored) sign in at {url}");
                    Ok(())
                }
                Err(app::gateway::EngineError::InvalidInput { field, reason }) => {
                    Err(CliError::Usage(format!("--{field}: {reason}")))
                }
                Err(e) => Err(StartError::from(e).into()),
            }
        }
        Command::App {
            command:
                AppCommand::Create {
                    namespace,
                    name,
                    secret,
                },
        } => {
            let ns = Namespace::parse(&namespace)
                .map_err(|e| CliError::Usage(format!("namespace: {e}")))?;
            let secret = secret
                .map(|s| {
                    ApiSecret::parse(&s).map_err(|e| CliError::Usage(format!("--secret: {e}")))
                })
                .transpose()?;
            let gateway = build_gateway(&settings, Arc::new(SystemClock)).await?;
            let display = name.unwrap_or_else(|| ns.to_string());
            match gateway.create_app(&ns, &display, secret).await {
                Ok((app, secret)) => {
                    println!("created app {}", app.namespace);
                    println!("secret: {}", secret.expose());
                    println!("(shown once; only its hash is stored)");
                    Ok(())
                }
                Err(app::gateway::EngineError::Store(
                    app::gateway::store::StoreError::Conflict,
                )) => Err(CliError::Usage(format!(
                    "an app with namespace {ns} already exists"
                ))),
                Err(e) => Err(StartError::from(e).into()),
            }
        }
    }
}

async fn serve(settings: Settings) -> Result<(), CliError> {
    let gateway = build_gateway(&settings, Arc::new(SystemClock)).await?;
    let listener = tokio::net::TcpListener::bind(settings.address)
        .await
        .map_err(StartError::from)?;
    tracing::info!(address = %settings.address, root_url = %settings.root_url, "otpgate listening");
    let (stop_worker, worker_stop) = tokio::sync::watch::channel(false);
    let worker = gateway.start_delivery(settings.outbox.clone(), worker_stop);
    let upkeep = gateway.start_upkeep(stop_worker.subscribe());
    let live = gateway.start_live(
        std::time::Duration::from_millis(250),
        stop_worker.subscribe(),
    );
    let pkg = settings.site_root.join("pkg");
    match tokio::task::spawn_blocking(move || crate::assets::precompress(&pkg)).await {
        Ok(Ok(0)) => {}
        Ok(Ok(n)) => tracing::info!(files = n, "compressed the site's assets"),
        Ok(Err(e)) => tracing::warn!(error = %e, "assets are served uncompressed"),
        Err(e) => tracing::warn!(error = %e, "assets are served uncompressed"),
    }
    // Histogram samples are folded into their buckets between scrapes, so memory stays
    // flat however rarely Prometheus comes.
    let recorder = crate::http::metrics::recorder();
    let upkeep_metrics = tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            every.tick().await;
            recorder.run_upkeep();
        }
    });
    let state = AppState::new(Shared {
        gateway,
        leptos: leptos_options(&settings),
        metrics_token: settings.metrics_token.as_deref().map(Arc::from),
        http: Arc::new(settings.http.clone()),
    });
    let served = crate::serve(listener, state, shutdown_signal()).await;
    // Requests are done; let sends in flight finish and give back the rest.
    let _ = stop_worker.send(true);
    let _ = worker.await;
    let _ = live.await;
    let _ = upkeep.await;
    upkeep_metrics.abort();
    served.map_err(StartError::from)?;
    tracing::info!("otpgate stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
