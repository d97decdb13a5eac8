//! Twilio Programmable Messaging: SMS and WhatsApp through the Messages REST API.
//!
//! One form POST to `{base_url}/2010-04-01/Accounts/{AccountSid}/Messages.json` with Basic
//! auth (account SID and auth token), `To`, `From` or `MessagingServiceSid`, `Body` and a
//! `StatusCallback` URL. The answer's `sid` is the message id its delivery receipts quote;
//! receipts are authenticated by `X-Twilio-Signature` (HMAC-SHA1 with the auth token).

use super::{
    net::NetPolicy, DeliveryError, OutgoingMessage, Provider, Receipt, ReceiptError, Sent,
    TemplateSet,
};
use crate::gateway::address::Channel;
use async_trait::async_trait;
use base64::{engine::general_purpose::STANDARD, Engine};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use std::time::Duration;

/// A configured Twilio account. `Debug` hides the auth token.
#[derive(Clone)]
pub struct TwilioSettings {
    pub id: String,
    /// SMS or WhatsApp.
    pub channel: Channel,
    pub account_sid: String,
    pub auth_token: String,
    /// The sending number (`+1415…`); for WhatsApp without the `whatsapp:` prefix.
    pub from: String,
    /// Sends through a Messaging Service instead of one number when set.
    pub messaging_service_sid: String,
    /// `https://api.twilio.com` unless pointed elsewhere (a test server, a proxy).
    pub base_url: String,
    /// The public URL Twilio posts receipts to; none asks for no receipts.
    pub status_callback: Option<String>,
    pub timeout: Duration,
    pub max_conns: usize,
    pub templates: TemplateSet,
    pub net: NetPolicy,
}

crate::debug_showing!(TwilioSettings {
    id,
    channel,
    account_sid,
    base_url
});

pub struct TwilioProvider {
    settings: TwilioSettings,
    client: reqwest::Client,
}

impl TwilioProvider {
    pub fn new(settings: TwilioSettings) -> Result<Self, DeliveryError> {
        settings.net.check_url(&settings.base_url)?;
        let client = settings.net.client(settings.timeout, settings.max_conns)?;
        Ok(Self { settings, client })
    }

    fn prefixed(&self, number: &str) -> String {
        match self.settings.channel {
            Channel::Whatsapp => format!("whatsapp:{number}"),
            _ => number.to_owned(),
        }
    }
}

/// Twilio's request signature: base64(HMAC-SHA1(auth token, URL followed by each POST
/// parameter's name and value, sorted by name)).
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).expect("any key length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    STANDARD.encode(mac.finalize().into_bytes())
}

impl TwilioProvider {
    /// Checks `X-Twilio-Signature` and the account, then gives access to the fields.
    fn authentic<'a>(
        &self,
        url: &str,
        headers: &http::HeaderMap,
        form: &'a [(String, String)],
    ) -> Result<impl Fn(&str) -> Option<String> + 'a, ReceiptError> {
        let given = headers
            .get("x-twilio-signature")
            .and_then(|v| v.to_str().ok())
            .ok_or(ReceiptError::Unauthenticated)?;
        let expected = signature(&self.settings.auth_token, url, form);
        let same: bool =
            subtle::ConstantTimeEq::ct_eq(given.as_bytes(), expected.as_bytes()).into();
        if !same {
            return Err(ReceiptError::Unauthenticated);
        }
        let field = |name: &str| {
            form.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty())
        };
        if field("AccountSid").as_deref() != Some(self.settings.account_sid.as_str()) {
            return Err(ReceiptError::Malformed("AccountSid"));
        }
        Ok(field)
    }
}

#[async_trait]
impl Provider for TwilioProvider {
    super::settings_accessors!();

    async fn send(&self, message: &OutgoingMessage) -> Result<Sent, DeliveryError> {
        let s = &self.settings;
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            s.base_url.trim_end_matches('/'),
            s.account_sid
        );
        let mut form = vec![
            ("To", self.prefixed(message.to.as_str())),
            ("Body", message.text.clone()),
        ];
        if s.messaging_service_sid.is_empty() {
            form.push(("From", self.prefixed(&s.from)));
        } else {
            form.push(("MessagingServiceSid", s.messaging_service_sid.clone()));
        }
        if let Some(callback) = &s.status_callback {
            form.push(("StatusCallback", callback.clone()));
        }
        let response = self
            .client
            .post(url)
            .basic_auth(&s.account_sid, Some(&s.auth_token))
            .form(&form)
            .send()
            .await
            .map_err(super::transport_error)?;
        let outcome = super::status_outcome("twilio", &response);
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        if let Err(e) = outcome {
            // Twilio explains refusals with a numeric code (21211: invalid To, ...).
            let code = body.get("code").and_then(|c| c.as_i64());
            return Err(match (e, code) {
                (DeliveryError::Rejected(m), Some(code)) => {
                    DeliveryError::Rejected(format!("{m} (error {code})"))
                }
                (e, _) => e,
            });
        }
        Ok(Sent {
            message_id: body.get("sid").and_then(|v| v.as_str()).map(str::to_owned),
        })
    }

    fn parse_receipt(
        &self,
        url: &str,
        headers: &http::HeaderMap,
        form: &[(String, String)],
    ) -> Result<Receipt, ReceiptError> {
        let field = self.authentic(url, headers, form)?;
        let message_id = field("MessageSid")
            .or_else(|| field("SmsSid"))
            .ok_or(ReceiptError::Malformed("MessageSid"))?;
        let status = field("MessageStatus")
            .or_else(|| field("SmsStatus"))
            .ok_or(ReceiptError::Malformed("MessageStatus"))?
            .to_ascii_lowercase();
        if status.len() > 32 || !status.chars().all(|c| c.is_ascii_alphabetic()) {
            return Err(ReceiptError::Malformed("MessageStatus"));
        }
        Ok(Receipt {
            message_id,
            status,
            error_code: field("ErrorCode"),
        })
    }

    fn parse_inbound(
        &self,
        url: &str,
        headers: &http::HeaderMap,
        form: &[(String, String)],
    ) -> Result<super::inbound::InboundSms, ReceiptError> {
        let field = self.authentic(url, headers, form)?;
        let get = |name: &'static str| field(name).ok_or(ReceiptError::Malformed(name));
        Ok(super::inbound::InboundSms {
            message_id: get("MessageSid")?,
            from: get("From")?,
            to: field("To").unwrap_or_default(),
            body: field("Body").unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example from Twilio's webhook security documentation.
    #[test]
    fn signatures_match_twilios_example() {
        let params: Vec<(String, String)> = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(
            signature(
                "12345",
                "https://mycompany.com/myapp.php?foo=1&bar=2",
                &params
            ),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        );
    }
}
