//! `[providers.smtp]` (otpgateway's keys) and `[providers.console]`.

use super::{delivery, invalid, ConfigError, DurationValue};
use app::gateway::{
    address::Channel,
    delivery::{SmtpAuth, SmtpSettings, TlsMode},
};
use serde::Deserialize;
use std::{collections::BTreeMap, path::PathBuf, time::Duration};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct ProvidersSection {
    pub(super) smtp: Option<SmtpSection>,
    pub(super) console: Option<ConsoleSection>,
    #[serde(flatten)]
    pub(super) other: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct ConsoleSection {
    pub(super) enabled: Option<bool>,
}

#[derive(Deserialize)]
#[serde(default)]
pub(super) struct SmtpSection {
    pub(super) enabled: bool,
    pub(super) subject: Option<String>,
    pub(super) template: Option<PathBuf>,
    pub(super) from_email: String,
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) auth_protocol: String,
    pub(super) username: String,
    pub(super) password: String,
    pub(super) max_conns: u32,
    pub(super) timeout: Option<DurationValue>,
    pub(super) tls_type: String,
    pub(super) tls_skip_verify: bool,
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

app::debug_showing!(SmtpSection { host });

pub(super) fn smtp_settings(
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
        connect_to: None,
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
