//! `[app]` defaults for every verification, `[limits]` and `[inbound]`: what the engine
//! is told at start.

use super::{invalid, signing_key, ConfigError, DurationValue};
use app::gateway::{address::Channel, code::CodeSpec, EngineSettings};
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct AppSection {
    pub(super) address: Option<String>,
    pub(super) server_timeout: Option<DurationValue>,
    pub(super) enable_debug_logs: bool,
    pub(super) otp_ttl: Option<DurationValue>,
    pub(super) otp_max_attempts: Option<u32>,
    pub(super) otp_max_generate: Option<u32>,
    pub(super) otp_max_resends: Option<u32>,
    pub(super) root_url: Option<String>,
    pub(super) logo_url: Option<String>,
    pub(super) favicon_url: Option<String>,
    // otpgate's own keys.
    pub(super) environment: Option<String>,
    pub(super) data_dir: Option<PathBuf>,
    pub(super) database_url: Option<String>,
    /// Reverse proxies whose `X-Forwarded-For` is believed.
    pub(super) trusted_proxies: Option<Vec<String>>,
    /// The largest request body, in bytes.
    pub(super) max_body_size: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct LimitsSection {
    /// `false` turns off the per-IP and per-app request limits (load tests, or limits
    /// enforced in front of otpgate). Per-address and per-verification limits always apply.
    pub(super) caller_limits: Option<bool>,
    /// Seconds between two sends of one verification (default 30).
    pub(super) resend_cooldown: Option<u64>,
}

/// `[inbound]`: inbound (reverse) verification by SMS.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct InboundSection {
    /// The number people text their code to, in international format.
    pub(super) number: Option<String>,
    /// `whsec_…`: authenticates `POST /v1/inbound/generic`.
    pub(super) signing_secret: Option<String>,
}

/// The engine's limits and defaults from `[app]` and `[limits]`.
pub(super) fn engine_settings(
    app: &AppSection,
    limits: &LimitsSection,
    root_url: &str,
) -> Result<EngineSettings, ConfigError> {
    let mut engine = EngineSettings {
        root_url: root_url.to_owned(),
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
    // otpgateway has two names for the re-sends allowed after the first send; the smaller
    // one wins. The engine counts sends, the first included.
    let resends = [app.otp_max_generate, app.otp_max_resends];
    if let Some(n) = resends.into_iter().flatten().min() {
        let most = EngineSettings::MAX_SENDS - 1;
        if !(1..=most).contains(&n) {
            return Err(invalid(
                "app.otp_max_generate",
                format!("must be between 1 and {most}"),
            ));
        }
        engine.default_max_sends = n + 1;
    }
    engine.code_spec = CodeSpec::default();
    if limits.caller_limits == Some(false) {
        engine.limits = engine.limits.without_caller_limits();
    }
    if let Some(secs) = limits.resend_cooldown {
        engine.limits.resend_cooldown_secs = i64::try_from(secs.min(3600)).expect("bounded above");
    }
    Ok(engine)
}

/// `[inbound]`: the number people text codes to and the key of the generic webhook.
pub(super) fn inbound_settings(
    inbound: &InboundSection,
    engine: &mut EngineSettings,
) -> Result<(), ConfigError> {
    if let Some(number) = &inbound.number {
        let parsed = app::gateway::address::Address::parse(Channel::Sms, number)
            .map_err(|e| invalid("inbound.number", e.to_string()))?;
        engine.inbound_number = Some(parsed.to_string());
    }
    if let Some(secret) = &inbound.signing_secret {
        engine.inbound_signing_secret = Some(signing_key(secret, "inbound.signing_secret")?);
    }
    Ok(())
}
