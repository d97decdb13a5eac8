//! `otpgate`: a self-hosted OTP verification gateway.

use clap::Parser;
use tracing_subscriber::EnvFilter;

/// Every request allocates and frees on whichever worker thread runs it; mimalloc's
/// per-thread free lists cost less than glibc's arenas there and give memory back.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    // `OTPGATE_LOG_FORMAT=json`: one JSON object a line, with the request's span (its
    // request id, method and route) on every line logged while serving it.
    if std::env::var("OTPGATE_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        logs.json()
            .with_current_span(true)
            .with_span_list(false)
            .init();
    } else {
        logs.init();
    }
    match otpgate::cli::run(otpgate::cli::Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("otpgate: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
