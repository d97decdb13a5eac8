//! `[webhooks.<name>]`: otpgateway's webhook relays, with otpgate's `channel` and
//! Standard Webhooks `signing_secret`.

use super::{delivery, invalid, signing_key, ConfigError, DurationValue};
use app::gateway::delivery::{NetPolicy, WebhookSettings};
use serde::Deserialize;
use std::{path::PathBuf, time::Duration};

#[derive(Deserialize)]
#[serde(default)]
pub(super) struct WebhookSection {
    pub(super) enabled: bool,
    pub(super) url: String,
    pub(super) username: String,
    pub(super) password: String,
    pub(super) subject: Option<String>,
    pub(super) template: Option<PathBuf>,
    pub(super) max_address_len: usize,
    pub(super) max_conns: usize,
    pub(super) timeout: Option<DurationValue>,
    pub(super) request_timeout: Option<DurationValue>,
    // otpgate's own keys.
    /// `email`, `sms`, `whatsapp`, `voice` or `other` (the default): how addresses are checked.
    pub(super) channel: String,
    /// A Standard Webhooks secret (`whsec_` + base64) to sign each request with.
    pub(super) signing_secret: Option<String>,
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

app::debug_showing!(WebhookSection { url });

pub(super) fn webhook_settings(
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
