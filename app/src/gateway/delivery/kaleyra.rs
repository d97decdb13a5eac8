//! Kaleyra SMS and WhatsApp, with otpgateway's `[providers.kaleyra_sms]` and
//! `[providers.kaleyra_whatsapp]` keys.
//!
//! A form POST to `{base_url}/v1/{sid}/messages` with an `api-key` header. SMS sends
//! `type=OTP`, the sender and the body, plus India's DLT registration (`entity_id`,
//! `template_id`) when configured; WhatsApp sends an approved template with the code as its
//! one parameter. Numbers without a country code get `default_phone_code`.

use super::{net::NetPolicy, DeliveryError, OutgoingMessage, Provider, Sent, TemplateSet};
use crate::gateway::address::{Address, AddressError, Channel};
use async_trait::async_trait;
use std::time::Duration;

/// A configured Kaleyra account. `Debug` hides the API key.
#[derive(Clone)]
pub struct KaleyraSettings {
    /// `kaleyra_sms` or `kaleyra_whatsapp`.
    pub id: String,
    pub channel: Channel,
    pub api_key: String,
    pub sid: String,
    pub sender: String,
    pub sms_entity_id: String,
    pub sms_template_id: String,
    /// Prefixed to numbers given without `+` or `00`, e.g. `+91`.
    pub default_phone_code: String,
    /// The approved WhatsApp template.
    pub template_name: String,
    /// `https://api.kaleyra.io` unless pointed elsewhere.
    pub base_url: String,
    pub timeout: Duration,
    pub max_conns: usize,
    pub templates: TemplateSet,
    pub net: NetPolicy,
}

crate::debug_showing!(KaleyraSettings { id, sid, sender });

pub struct KaleyraProvider {
    settings: KaleyraSettings,
    client: reqwest::Client,
}

impl KaleyraProvider {
    pub fn new(settings: KaleyraSettings) -> Result<Self, DeliveryError> {
        if settings.api_key.is_empty() || settings.sender.is_empty() {
            return Err(DeliveryError::Rejected(format!(
                "{}: api_key and sender are required",
                settings.id
            )));
        }
        settings.net.check_url(&settings.base_url)?;
        let client = settings.net.client(settings.timeout, settings.max_conns)?;
        Ok(Self { settings, client })
    }
}

#[async_trait]
impl Provider for KaleyraProvider {
    super::settings_accessors!();

    /// Accepts national numbers too, completing them with the default country code.
    fn parse_address(&self, raw: &str) -> Result<Address, AddressError> {
        let raw = raw.trim();
        let full = if raw.starts_with('+') {
            raw.to_owned()
        } else if let Some(rest) = raw.strip_prefix("00") {
            format!("+{rest}")
        } else {
            format!("{}{raw}", self.settings.default_phone_code)
        };
        Address::parse(self.channel(), &full)
    }

    async fn send(&self, message: &OutgoingMessage) -> Result<Sent, DeliveryError> {
        let s = &self.settings;
        let url = format!("{}/v1/{}/messages", s.base_url.trim_end_matches('/'), s.sid);
        let mut form: Vec<(&str, String)> = vec![("to", message.to.as_str().to_owned())];
        if s.channel == Channel::Whatsapp {
            form.extend([
                ("type", "template".to_owned()),
                ("channel", "whatsapp".to_owned()),
                ("from", s.sender.clone()),
                ("template_name", s.template_name.clone()),
                ("params", format!("\"{}\"", message.meta.code.expose())),
            ]);
        } else {
            form.extend([
                ("type", "OTP".to_owned()),
                ("sender", s.sender.clone()),
                ("body", message.text.clone()),
            ]);
            if !s.sms_entity_id.is_empty() {
                form.push(("entity_id", s.sms_entity_id.clone()));
            }
            if !s.sms_template_id.is_empty() {
                form.push(("template_id", s.sms_template_id.clone()));
            }
        }
        let response = self
            .client
            .post(url)
            .header("api-key", &s.api_key)
            .form(&form)
            .send()
            .await
            .map_err(super::transport_error)?;
        super::status_outcome(&s.id, &response)?;
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        let message_id = ["/id", "/data/0/message_id", "/data/0/id"]
            .iter()
            .find_map(|p| body.pointer(p).and_then(|v| v.as_str()))
            .map(str::to_owned);
        Ok(Sent { message_id })
    }
}
