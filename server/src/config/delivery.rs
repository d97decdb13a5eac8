//! Delivery settings: the `[delivery]` worker and network policy, `[templates.<channel>]`,
//! and the providers beyond SMTP and webhooks (`twilio`, `http_sms`, `kaleyra_*`).
//!
//! Provider sections live under `[providers.<id>]`. otpgateway's `kaleyra_sms` and
//! `kaleyra_whatsapp` keep their names; any other id names its kind with `type`
//! (`"twilio"` or `"http_sms"`), so several accounts of one kind can sit side by side.

use super::{invalid, ConfigError, DurationValue};
use app::gateway::{
    address::Channel,
    delivery::{
        HttpSmsBody, HttpSmsSettings, KaleyraSettings, MessageTemplate, NetPolicy, TemplateSet,
        TwilioSettings,
    },
    outbox::OutboxSettings,
};
use serde::Deserialize;
use std::{collections::BTreeMap, path::Path, time::Duration};

/// `[delivery]`: the outbox worker's pace and where outbound HTTP may go.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct DeliverySection {
    poll_interval: Option<DurationValue>,
    lease: Option<DurationValue>,
    retry_base: Option<DurationValue>,
    retry_max: Option<DurationValue>,
    concurrency: Option<usize>,
    breaker_failures: Option<u32>,
    breaker_cooldown: Option<DurationValue>,
    shutdown_grace: Option<DurationValue>,
    /// Lets providers reach 127.0.0.0/8 and ::1 (off: SSRF protection).
    allow_loopback: bool,
    /// Lets providers reach private networks (off: SSRF protection).
    allow_private_networks: bool,
    /// Ends SMS with the WebOTP line `@<host> #<code>`.
    pub(super) webotp: bool,
}

impl DeliverySection {
    pub(super) fn net(&self) -> NetPolicy {
        NetPolicy {
            allow_loopback: self.allow_loopback,
            allow_private: self.allow_private_networks,
        }
    }

    pub(super) fn outbox(&self) -> Result<OutboxSettings, ConfigError> {
        let mut s = OutboxSettings::default();
        let set = |target: &mut Duration, value: &Option<DurationValue>, key: &str| {
            if let Some(v) = value {
                let d = v.resolve(&format!("delivery.{key}"))?;
                if d.is_zero() {
                    return Err(invalid(format!("delivery.{key}"), "must be above zero"));
                }
                *target = d;
            }
            Ok::<_, ConfigError>(())
        };
        set(&mut s.poll_interval, &self.poll_interval, "poll_interval")?;
        set(&mut s.lease, &self.lease, "lease")?;
        set(&mut s.retry_base, &self.retry_base, "retry_base")?;
        set(&mut s.retry_max, &self.retry_max, "retry_max")?;
        set(
            &mut s.breaker_cooldown,
            &self.breaker_cooldown,
            "breaker_cooldown",
        )?;
        set(
            &mut s.shutdown_grace,
            &self.shutdown_grace,
            "shutdown_grace",
        )?;
        if let Some(n) = self.concurrency {
            if !(1..=1024).contains(&n) {
                return Err(invalid(
                    "delivery.concurrency",
                    "must be between 1 and 1024",
                ));
            }
            s.concurrency = n;
        }
        if let Some(n) = self.breaker_failures {
            if n == 0 {
                return Err(invalid("delivery.breaker_failures", "must be at least 1"));
            }
            s.breaker_failures = n;
        }
        if s.retry_max < s.retry_base {
            return Err(invalid(
                "delivery.retry_max",
                "must not be below retry_base",
            ));
        }
        Ok(s)
    }
}

/// One template: inline text or a file, per part.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct TemplateParts {
    subject: Option<String>,
    text: Option<String>,
    text_file: Option<std::path::PathBuf>,
    html: Option<String>,
    html_file: Option<std::path::PathBuf>,
}

/// `[templates.<channel>]`: the channel's default, and `[templates.<channel>.locales.<tag>]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct ChannelTemplates {
    #[serde(flatten)]
    parts: TemplateParts,
    locales: BTreeMap<String, TemplateParts>,
}

fn read(base_dir: &Path, path: &Path, key: &str) -> Result<String, ConfigError> {
    let full = base_dir.join(path);
    std::fs::read_to_string(&full)
        .map_err(|e| invalid(key, format!("cannot read {}: {e}", full.display())))
}

impl TemplateParts {
    fn is_empty(&self) -> bool {
        self.subject.is_none()
            && self.text.is_none()
            && self.text_file.is_none()
            && self.html.is_none()
            && self.html_file.is_none()
    }

    /// Applies the parts given over `base`.
    fn apply(
        &self,
        mut base: MessageTemplate,
        base_dir: &Path,
        key: &str,
    ) -> Result<MessageTemplate, ConfigError> {
        let bad = |e: app::gateway::delivery::TemplateError| invalid(key, e.to_string());
        if let Some(subject) = &self.subject {
            base = base.with_subject(subject).map_err(bad)?;
        }
        let text = match (&self.text, &self.text_file) {
            (Some(t), _) => Some(t.clone()),
            (None, Some(p)) => Some(read(base_dir, p, key)?),
            _ => None,
        };
        if let Some(text) = text {
            base = base.with_text(&text).map_err(bad)?;
        }
        let html = match (&self.html, &self.html_file) {
            (Some(t), _) => Some(t.clone()),
            (None, Some(p)) => Some(read(base_dir, p, key)?),
            _ => None,
        };
        if let Some(html) = html {
            base = base.with_html(&html).map_err(bad)?;
        }
        Ok(base)
    }
}

/// Builds the templates a provider on `channel` uses, most specific last: the built-in
/// set, then `[templates.<channel>]`, then the provider's own otpgateway keys
/// (`subject`, and `template` as the body: HTML for e-mail, text otherwise).
pub(super) struct TemplateSources<'a> {
    pub channels: &'a BTreeMap<String, ChannelTemplates>,
    pub base_dir: &'a Path,
    pub webotp_host: Option<String>,
}

impl TemplateSources<'_> {
    pub(super) fn build(
        &self,
        channel: Channel,
        provider_key: &str,
        subject: Option<&str>,
        template_file: Option<&Path>,
    ) -> Result<TemplateSet, ConfigError> {
        let mut set = if channel == Channel::Email {
            TemplateSet::default_email()
        } else {
            TemplateSet::default_sms()
        };
        if let Some(ct) = self.channels.get(channel.as_str()) {
            let key = format!("templates.{}", channel.as_str());
            if !ct.parts.is_empty() {
                let t = ct
                    .parts
                    .apply(set.default_template().clone(), self.base_dir, &key)?;
                set.replace_default(t);
            }
            for (tag, parts) in &ct.locales {
                let t = parts.apply(
                    set.default_template().clone(),
                    self.base_dir,
                    &format!("{key}.locales.{tag}"),
                )?;
                set.set_locale(tag, t);
            }
        }
        let own_subject = subject.filter(|s| !s.is_empty());
        let own_body = match template_file.filter(|p| !p.as_os_str().is_empty()) {
            None => None,
            Some(p) => match std::fs::read_to_string(self.base_dir.join(p)) {
                Ok(text) => Some(text),
                Err(e) => {
                    // otpgateway's sample config names files that may not exist; keep
                    // starting, as it would, with the built-in text.
                    tracing::warn!(path = %p.display(), error = %e, "{provider_key}.template not readable; using the built-in one");
                    None
                }
            },
        };
        if own_subject.is_some() || own_body.is_some() {
            let key = format!("{provider_key}.template");
            let bad = |e: app::gateway::delivery::TemplateError| invalid(&key, e.to_string());
            let mut t = set.default_template().clone();
            if let Some(s) = own_subject {
                t = t.with_subject(s).map_err(bad)?;
            }
            if let Some(body) = own_body {
                t = if channel == Channel::Email {
                    t.with_html(&body).map_err(bad)?
                } else {
                    t.with_text(&body).map_err(bad)?
                };
            }
            set.replace_default(t);
        }
        if matches!(channel, Channel::Sms) {
            set.set_webotp_host(self.webotp_host.clone());
        }
        Ok(set)
    }
}

fn timeout_of(
    timeout: &Option<DurationValue>,
    request_timeout: &Option<DurationValue>,
    key: &str,
) -> Result<Duration, ConfigError> {
    match request_timeout.as_ref().or(timeout.as_ref()) {
        Some(t) => t.resolve(key),
        None => Ok(Duration::from_secs(10)),
    }
}

fn http_url(url: &str, key: &str) -> Result<(), ConfigError> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(())
    } else {
        Err(invalid(key, "must be an http:// or https:// URL"))
    }
}

/// `[providers.kaleyra_sms]` / `[providers.kaleyra_whatsapp]`, otpgateway's keys.
#[derive(Deserialize)]
#[serde(default)]
struct KaleyraSection {
    enabled: bool,
    subject: Option<String>,
    template: Option<std::path::PathBuf>,
    sender: String,
    sid: String,
    api_key: String,
    sms_entity_id: String,
    sms_template_id: String,
    default_phone_code: String,
    template_name: String,
    max_conns: usize,
    timeout: Option<DurationValue>,
    request_timeout: Option<DurationValue>,
    // otpgate's own key.
    base_url: String,
}

impl Default for KaleyraSection {
    fn default() -> Self {
        Self {
            enabled: false,
            subject: None,
            template: None,
            sender: String::new(),
            sid: String::new(),
            api_key: String::new(),
            sms_entity_id: String::new(),
            sms_template_id: String::new(),
            default_phone_code: String::new(),
            template_name: String::new(),
            max_conns: 10,
            timeout: None,
            request_timeout: None,
            base_url: "https://api.kaleyra.io".into(),
        }
    }
}

/// `[providers.<id>]` with `type = "twilio"`.
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct TwilioSection {
    #[serde(rename = "type")]
    kind: String,
    enabled: bool,
    channel: String,
    account_sid: String,
    auth_token: String,
    from: String,
    messaging_service_sid: String,
    base_url: String,
    /// Asks Twilio for delivery receipts at `/v1/providers/<id>/status`.
    status_callback: bool,
    subject: Option<String>,
    template: Option<std::path::PathBuf>,
    max_conns: usize,
    timeout: Option<DurationValue>,
}

impl Default for TwilioSection {
    fn default() -> Self {
        Self {
            kind: String::new(),
            enabled: true,
            channel: "sms".into(),
            account_sid: String::new(),
            auth_token: String::new(),
            from: String::new(),
            messaging_service_sid: String::new(),
            base_url: "https://api.twilio.com".into(),
            status_callback: true,
            subject: None,
            template: None,
            max_conns: 10,
            timeout: None,
        }
    }
}

/// `[providers.<id>]` with `type = "http_sms"`.
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct HttpSmsSection {
    #[serde(rename = "type")]
    kind: String,
    enabled: bool,
    channel: String,
    method: String,
    url: String,
    query: BTreeMap<String, String>,
    form: BTreeMap<String, String>,
    json: BTreeMap<String, String>,
    headers: BTreeMap<String, String>,
    success_status: Vec<u16>,
    success_contains: Option<String>,
    message_id_pointer: Option<String>,
    subject: Option<String>,
    template: Option<std::path::PathBuf>,
    max_conns: usize,
    timeout: Option<DurationValue>,
}

impl Default for HttpSmsSection {
    fn default() -> Self {
        Self {
            kind: String::new(),
            enabled: true,
            channel: "sms".into(),
            method: "POST".into(),
            url: String::new(),
            query: BTreeMap::new(),
            form: BTreeMap::new(),
            json: BTreeMap::new(),
            headers: BTreeMap::new(),
            success_status: Vec::new(),
            success_contains: None,
            message_id_pointer: None,
            subject: None,
            template: None,
            max_conns: 10,
            timeout: None,
        }
    }
}

/// The HTTP providers found under `[providers]`.
#[derive(Debug, Default)]
pub struct HttpProviders {
    pub twilio: Vec<TwilioSettings>,
    pub http_sms: Vec<HttpSmsSettings>,
    pub kaleyra: Vec<KaleyraSettings>,
}

fn phone_channel(raw: &str, key: &str, allowed: &[Channel]) -> Result<Channel, ConfigError> {
    Channel::parse(raw)
        .filter(|c| allowed.contains(c))
        .ok_or_else(|| {
            let names: Vec<&str> = allowed.iter().map(|c| c.as_str()).collect();
            invalid(key, format!("{raw:?}: use {}", names.join(" or ")))
        })
}

fn pairs(map: BTreeMap<String, String>) -> Vec<(String, String)> {
    map.into_iter().collect()
}

/// Reads every `[providers.<id>]` section other than `smtp` and `console`. Sections of an
/// unknown kind come back in `ignored`; disabled ones are skipped.
pub(super) fn http_providers(
    sections: BTreeMap<String, toml::Value>,
    templates: &TemplateSources<'_>,
    net: NetPolicy,
    root_url: &str,
    ignored: &mut Vec<String>,
) -> Result<HttpProviders, ConfigError> {
    let mut out = HttpProviders::default();
    for (id, value) in sections {
        let key = format!("providers.{id}");
        if id == app::gateway::delivery::DEV_INBOX {
            return Err(invalid(
                &key,
                "this name is the dev inbox's; choose another",
            ));
        }
        let kind = value
            .get("type")
            .and_then(|t| t.as_str())
            .map(str::to_owned)
            .unwrap_or_else(|| id.clone());
        let parse_err = |e: toml::de::Error| invalid(&key, e.message().to_owned());
        match kind.as_str() {
            "kaleyra_sms" | "kaleyra_whatsapp" => {
                let s: KaleyraSection = value.try_into().map_err(parse_err)?;
                if !s.enabled {
                    continue;
                }
                let channel = if kind == "kaleyra_sms" {
                    Channel::Sms
                } else {
                    Channel::Whatsapp
                };
                http_url(&s.base_url, &format!("{key}.base_url"))?;
                out.kaleyra.push(KaleyraSettings {
                    templates: templates.build(
                        channel,
                        &key,
                        s.subject.as_deref(),
                        s.template.as_deref(),
                    )?,
                    id,
                    channel,
                    api_key: s.api_key,
                    sid: s.sid,
                    sender: s.sender,
                    sms_entity_id: s.sms_entity_id,
                    sms_template_id: s.sms_template_id,
                    default_phone_code: s.default_phone_code,
                    template_name: s.template_name,
                    base_url: s.base_url,
                    timeout: timeout_of(&s.timeout, &s.request_timeout, &format!("{key}.timeout"))?,
                    max_conns: s.max_conns,
                    net,
                });
            }
            "twilio" => {
                let s: TwilioSection = value.try_into().map_err(parse_err)?;
                if !s.enabled {
                    continue;
                }
                let channel = phone_channel(
                    &s.channel,
                    &format!("{key}.channel"),
                    &[Channel::Sms, Channel::Whatsapp],
                )?;
                if s.account_sid.is_empty() || s.auth_token.is_empty() {
                    return Err(invalid(&key, "account_sid and auth_token are required"));
                }
                if s.from.is_empty() && s.messaging_service_sid.is_empty() {
                    return Err(invalid(&key, "set from or messaging_service_sid"));
                }
                http_url(&s.base_url, &format!("{key}.base_url"))?;
                out.twilio.push(TwilioSettings {
                    templates: templates.build(
                        channel,
                        &key,
                        s.subject.as_deref(),
                        s.template.as_deref(),
                    )?,
                    status_callback: s
                        .status_callback
                        .then(|| format!("{root_url}/v1/providers/{id}/status")),
                    id,
                    channel,
                    account_sid: s.account_sid,
                    auth_token: s.auth_token,
                    from: s.from,
                    messaging_service_sid: s.messaging_service_sid,
                    base_url: s.base_url,
                    timeout: timeout_of(&s.timeout, &None, &format!("{key}.timeout"))?,
                    max_conns: s.max_conns,
                    net,
                });
            }
            "http_sms" => {
                let s: HttpSmsSection = value.try_into().map_err(parse_err)?;
                if !s.enabled {
                    continue;
                }
                let channel = phone_channel(
                    &s.channel,
                    &format!("{key}.channel"),
                    &[
                        Channel::Sms,
                        Channel::Whatsapp,
                        Channel::Voice,
                        Channel::Other,
                    ],
                )?;
                http_url(&s.url, &format!("{key}.url"))?;
                let method = match s.method.to_ascii_uppercase().as_str() {
                    "GET" => http::Method::GET,
                    "POST" => http::Method::POST,
                    "PUT" => http::Method::PUT,
                    other => {
                        return Err(invalid(
                            format!("{key}.method"),
                            format!("{other:?}: use GET, POST or PUT"),
                        ))
                    }
                };
                let body = match (s.form.is_empty(), s.json.is_empty()) {
                    (true, true) => HttpSmsBody::None,
                    (false, true) => HttpSmsBody::Form(pairs(s.form)),
                    (true, false) => HttpSmsBody::Json(pairs(s.json)),
                    (false, false) => {
                        return Err(invalid(&key, "set form or json, not both"));
                    }
                };
                out.http_sms.push(HttpSmsSettings {
                    templates: templates.build(
                        channel,
                        &key,
                        s.subject.as_deref(),
                        s.template.as_deref(),
                    )?,
                    id,
                    channel,
                    method,
                    url: s.url,
                    query: pairs(s.query),
                    body,
                    headers: pairs(s.headers),
                    password: String::new(),
                    success_status: s.success_status,
                    success_contains: s.success_contains.filter(|s| !s.is_empty()),
                    message_id_pointer: s.message_id_pointer.filter(|s| !s.is_empty()),
                    timeout: timeout_of(&s.timeout, &None, &format!("{key}.timeout"))?,
                    max_conns: s.max_conns,
                    net,
                });
            }
            _ => ignored.push(key),
        }
    }
    Ok(out)
}
