//! Provider signatures computed here, independently of the server's code: what a real
//! Twilio or a Standard Webhooks sender would put on its requests.

use base64::{engine::general_purpose::STANDARD, Engine};
use hmac::{Hmac, Mac};

/// `X-Twilio-Signature` for a form posted to `url`: HMAC-SHA1 under the auth token over
/// the URL and then every field's name and value, sorted by name.
pub fn twilio(token: &str, url: &str, fields: &[(&str, &str)]) -> String {
    let mut sorted = fields.to_vec();
    sorted.sort();
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(url.as_bytes());
    for (k, v) in sorted {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    STANDARD.encode(mac.finalize().into_bytes())
}

/// `webhook-signature` per Standard Webhooks: `v1,` and the HMAC-SHA256 under the
/// base64 key of `{id}.{timestamp}.{payload}`.
pub fn standard_webhook(key_b64: &str, id: &str, timestamp: i64, payload: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&STANDARD.decode(key_b64).unwrap()).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(payload);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}
