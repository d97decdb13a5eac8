//! Inbound (reverse) verification: the hosted page shows a code and a QR `SMSTO:` link to
//! the app's number; the person texts the code; the provider's inbound webhook brings the
//! message here; the sender's number and the code together verify.
//!
//! Inbound codes are ten characters from a 32-letter alphabet (50 bits), generated, never
//! chosen by the caller, and indexed by an HMAC of the code alone so that an SMS finds its
//! verification without a search. Each provider message id is handled once.

use crate::gateway::{
    address::{Address, Channel},
    code::{Alphabet, OtpCode},
    delivery::{
        inbound::{INBOUND_LENGTH, INBOUND_PROVIDER},
        verify_signed_request,
    },
    error::EngineError,
    handle::Gateway,
    store::{AppRecord, VerificationRecord},
};
use crate::model::{InboundView, Status};

pub use crate::gateway::delivery::inbound::InboundSms;

const INBOUND_LABEL: &str = "otpgate/inbound/v1";

/// The ten-character codes an SMS body may carry: whole words, or all its letters and
/// digits run together (`ABCD-EFGH-JK`).
fn candidates(body: &str) -> Vec<String> {
    let upper = body.to_ascii_uppercase();
    let fits = |w: &str| {
        w.len() == INBOUND_LENGTH as usize && w.bytes().all(|b| Alphabet::Alphanumeric.admits(b))
    };
    let mut out: Vec<String> = upper
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| fits(w))
        .map(str::to_owned)
        .collect();
    let joined: String = upper.chars().filter(char::is_ascii_alphanumeric).collect();
    if fits(&joined) && !out.contains(&joined) {
        out.push(joined);
    }
    out.truncate(4);
    out
}

impl Gateway {
    pub(crate) fn inbound_key(&self, code: &OtpCode) -> Vec<u8> {
        self.hasher()
            .derive(INBOUND_LABEL, &[code.expose()])
            .to_vec()
    }

    /// The QR page data of an open inbound verification.
    pub(crate) fn inbound_view(
        &self,
        app: &AppRecord,
        record: &VerificationRecord,
    ) -> Option<InboundView> {
        if record.provider != INBOUND_PROVIDER || record.status != Status::Pending {
            return None;
        }
        let number = self.settings().inbound_number.clone()?;
        let code = self.hasher().open(
            &app.namespace,
            &record.public_id,
            record.code_sealed.as_deref()?,
        )?;
        let code = code.expose().to_owned();
        let qr_svg = crate::gateway::qr::svg(&format!("SMSTO:{number}:{code}"))?;
        Some(InboundView {
            sms_link: format!("sms:{number}?body={code}"),
            number,
            code,
            qr_svg,
        })
    }

    /// Authenticates and parses an inbound webhook: `generic` is JSON
    /// `{"id", "from", "to", "body"}` signed per Standard Webhooks with the configured key;
    /// any other id names a provider that parses its own format (Twilio's form, signed
    /// with `X-Twilio-Signature`). Then handles the message.
    pub async fn receive_inbound_request(
        &self,
        provider_id: &str,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<bool, EngineError> {
        let sms = if provider_id == "generic" {
            let key = self
                .settings()
                .inbound_signing_secret
                .as_deref()
                .ok_or(EngineError::UnknownProvider)?;
            verify_signed_request(key, headers, body, self.now_ms() / 1000)?;
            #[derive(serde::Deserialize)]
            struct Generic {
                id: String,
                from: String,
                #[serde(default)]
                to: String,
                body: String,
            }
            let g: Generic = serde_json::from_slice(body)
                .map_err(|_| EngineError::invalid("body", "expected {id, from, to, body}"))?;
            if g.id.is_empty() || g.id.len() > 128 {
                return Err(EngineError::invalid("id", "must be 1 to 128 characters"));
            }
            InboundSms {
                message_id: g.id,
                from: g.from,
                to: g.to,
                body: g.body,
            }
        } else {
            let provider = self.server_provider(provider_id)?;
            let form: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
                .map_err(|_| EngineError::invalid("body", "expected a form"))?;
            let url = format!("{}/v1/inbound/{provider_id}", self.settings().root_url);
            provider.parse_inbound(&url, headers, &form)?
        };
        if sms.body.len() > 2048 {
            return Err(EngineError::invalid("body", "is too long"));
        }
        self.receive_inbound(provider_id, &sms).await
    }

    /// Handles an SMS that reached the app's number. `Ok(true)` when it verified a
    /// verification; `Ok(false)` for a repeat, a message without a matching open code, or
    /// a sender other than the verification's address.
    pub async fn receive_inbound(
        &self,
        provider: &str,
        sms: &InboundSms,
    ) -> Result<bool, EngineError> {
        let store = self.store();
        let now = self.now_ms();
        if !store
            .claim_inbound_message(provider, &sms.message_id, now)
            .await?
        {
            return Ok(false);
        }
        let Ok(from) = Address::parse(Channel::Sms, &sms.from) else {
            return Ok(false);
        };
        for candidate in candidates(&sms.body) {
            let Ok((code, _)) = OtpCode::parse_custom(&candidate) else {
                continue;
            };
            let Some((namespace, record)) =
                store.find_inbound(&self.inbound_key(&code), now).await?
            else {
                continue;
            };
            let id = record.verification_id;
            // The sender's number must be of a country the app accepts.
            let app = store.find_app(&namespace).await?;
            if let Some(Err(EngineError::CountryNotAllowed { country })) =
                app.map(|app| self.admit_country(&app, from.as_str()))
            {
                let detail = serde_json::json!({
                    "reason": "country_not_allowed",
                    "country": country,
                })
                .to_string();
                store
                    .record_event(id, "inbound_refused", &detail, now)
                    .await?;
                return Ok(false);
            }
            if !store.set_inbound_sender(id, from.as_str(), now).await? {
                let detail = serde_json::json!({ "reason": "another sender" }).to_string();
                store
                    .record_event(id, "inbound_refused", &detail, now)
                    .await?;
                tracing::warn!(
                    namespace,
                    "inbound code from a number other than the verification's"
                );
                return Ok(false);
            }
            if store.consume(id, false, now).await? {
                let detail = serde_json::json!({
                    "via": provider,
                    "after_ms": now - record.created_at,
                    "wrong": 0,
                })
                .to_string();
                store.record_event(id, "verified", &detail, now).await?;
                return Ok(true);
            }
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_found_in_words_or_run_together() {
        assert_eq!(candidates("ABCDEFGH23"), ["ABCDEFGH23"]);
        assert_eq!(candidates("my code: abcdefgh23 thanks"), ["ABCDEFGH23"]);
        assert_eq!(candidates("ABCD-EFGH-23"), ["ABCDEFGH23"]);
        assert!(candidates("hello").is_empty());
        assert!(
            candidates("ABCDEFGHI1").is_empty(),
            "I and 1 are not in the alphabet"
        );
        assert!(candidates(&"AB ".repeat(1000)).len() <= 4);
    }
}
