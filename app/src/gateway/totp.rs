//! Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP): the codes an
//! authenticator app shows, the window a check accepts, and the `otpauth://` URI that
//! enrols a secret. Values only: no storage, no clock of its own.

use hmac::{Hmac, Mac};
use std::fmt;
use subtle::ConstantTimeEq;

/// The HMAC behind the codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Sha1,
    Sha256,
    Sha512,
}

impl Algorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
            Algorithm::Sha512 => "SHA512",
        }
    }

    /// `SHA1`, `sha-256`, ...: case and a dash after `SHA` do not matter.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.to_ascii_uppercase().replace('-', "").as_str() {
            "SHA1" => Some(Algorithm::Sha1),
            "SHA256" => Some(Algorithm::Sha256),
            "SHA512" => Some(Algorithm::Sha512),
            _ => None,
        }
    }
}

/// How a factor's codes are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TotpParams {
    pub algorithm: Algorithm,
    /// 6 or 8.
    pub digits: u32,
    /// Seconds per step.
    pub period: u32,
}

impl Default for TotpParams {
    /// What every authenticator app reads: SHA-1, 6 digits, 30 s.
    fn default() -> Self {
        Self {
            algorithm: Algorithm::Sha1,
            digits: 6,
            period: 30,
        }
    }
}

/// Why parameters were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamsError {
    #[error("algorithm must be SHA1, SHA256 or SHA512")]
    Algorithm,
    #[error("digits must be 6 or 8")]
    Digits,
    #[error("period must be between 15 and 120 seconds")]
    Period,
}

impl TotpParams {
    /// Checks each value given, the rest defaulted.
    pub fn new(
        algorithm: Option<&str>,
        digits: Option<u32>,
        period: Option<u32>,
    ) -> Result<Self, ParamsError> {
        let d = Self::default();
        let algorithm = match algorithm {
            None => d.algorithm,
            Some(raw) => Algorithm::parse(raw).ok_or(ParamsError::Algorithm)?,
        };
        let digits = digits.unwrap_or(d.digits);
        if digits != 6 && digits != 8 {
            return Err(ParamsError::Digits);
        }
        let period = period.unwrap_or(d.period);
        if !(15..=120).contains(&period) {
            return Err(ParamsError::Period);
        }
        Ok(Self {
            algorithm,
            digits,
            period,
        })
    }

    /// The step that `unix_secs` falls in.
    pub fn step_at(&self, unix_secs: i64) -> i64 {
        unix_secs.div_euclid(i64::from(self.period))
    }
}

/// A new factor's id: `fa_` and 128 random bits.
pub fn new_factor_id() -> String {
    format!("fa_{}", crate::gateway::secret::random_id())
}

/// Whether `raw` has the shape of a factor's id (`fa_` and up to 61 base64url characters).
pub fn is_factor_id(raw: &str) -> bool {
    raw.strip_prefix("fa_").is_some_and(|rest| {
        (1..=61).contains(&rest.len())
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// The steps on either side of the current one that a check accepts (clock drift).
pub const DRIFT_STEPS: i64 = 1;

/// The bytes of a TOTP secret (≥ 20 bytes when otpgate makes it). `Debug` never shows them.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret(Vec<u8>);

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(<redacted>)")
    }
}

impl TotpSecret {
    /// Bytes of a new secret: 160 bits, as RFC 4226 recommends for SHA-1.
    pub const LEN: usize = 20;

    /// A new random secret.
    pub fn generate() -> Self {
        Self(crate::gateway::secret::random_bytes::<{ Self::LEN }>().to_vec())
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The secret as authenticator apps take it: RFC 4648 base32, no padding.
    pub fn base32(&self) -> String {
        base32(&self.0)
    }

    /// The code for `step` (RFC 4226's dynamic truncation), `digits` long with leading
    /// zeros.
    pub fn code_at(&self, params: &TotpParams, step: i64) -> String {
        let counter = step.to_be_bytes();
        let mac: Vec<u8> = match params.algorithm {
            Algorithm::Sha1 => hmac_of::<Hmac<sha1::Sha1>>(&self.0, &counter),
            Algorithm::Sha256 => hmac_of::<Hmac<sha2::Sha256>>(&self.0, &counter),
            Algorithm::Sha512 => hmac_of::<Hmac<sha2::Sha512>>(&self.0, &counter),
        };
        let offset = usize::from(mac[mac.len() - 1] & 0x0f);
        let binary = u32::from_be_bytes([
            mac[offset] & 0x7f,
            mac[offset + 1],
            mac[offset + 2],
            mac[offset + 3],
        ]);
        let value = binary % 10u32.pow(params.digits);
        format!("{value:0width$}", width = params.digits as usize)
    }

    /// The step within [`DRIFT_STEPS`] of `unix_secs` whose code is `code`, if any, and only
    /// a step after `after` (the last step accepted: a step is accepted once). Every step of
    /// the window is compared, in constant time, whatever matched.
    pub fn matching_step(
        &self,
        params: &TotpParams,
        code: &str,
        unix_secs: i64,
        after: Option<i64>,
    ) -> Option<i64> {
        let now = params.step_at(unix_secs);
        let mut found = None;
        for step in now - DRIFT_STEPS..=now + DRIFT_STEPS {
            let expected = self.code_at(params, step);
            let same: bool = expected.as_bytes().ct_eq(code.as_bytes()).into();
            if same && after.is_none_or(|last| step > last) && found.is_none() {
                found = Some(step);
            }
        }
        found
    }

    /// What a page shows to enrol this secret: the URI as a QR code, and the key in groups
    /// of four, as authenticator apps show a key.
    pub fn enrolment(
        &self,
        params: &TotpParams,
        issuer: &str,
        label: &str,
    ) -> crate::model::EnrolmentView {
        let uri = self.uri(params, issuer, label);
        let secret = self
            .base32()
            .as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        crate::model::EnrolmentView {
            qr_svg: crate::gateway::qr::svg(&uri).unwrap_or_default(),
            uri,
            secret,
        }
    }

    /// `otpauth://totp/Issuer:label?secret=…&issuer=…&algorithm=…&digits=…&period=…`
    /// (Google Authenticator's key URI format).
    pub fn uri(&self, params: &TotpParams, issuer: &str, label: &str) -> String {
        let path = if issuer.is_empty() {
            escape(label)
        } else {
            format!("{}:{}", escape(issuer), escape(label))
        };
        let mut uri = format!("otpauth://totp/{path}?secret={}", self.base32());
        if !issuer.is_empty() {
            uri.push_str(&format!("&issuer={}", escape(issuer)));
        }
        uri.push_str(&format!(
            "&algorithm={}&digits={}&period={}",
            params.algorithm.as_str(),
            params.digits,
            params.period
        ));
        uri
    }
}

fn hmac_of<M: Mac + hmac::digest::KeyInit>(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = <M as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// RFC 4648 base32 without padding.
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// Percent-encodes everything but unreserved characters (RFC 3986), for the URI's label
/// and issuer.
fn escape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(algorithm: Algorithm, digits: u32) -> TotpParams {
        TotpParams {
            algorithm,
            digits,
            period: 30,
        }
    }

    /// RFC 6238, appendix B: the seeds are the ASCII of "12345678901234567890" repeated
    /// to the hash's size.
    fn rfc_secret(algorithm: Algorithm) -> TotpSecret {
        let seed = b"12345678901234567890";
        let len = match algorithm {
            Algorithm::Sha1 => 20,
            Algorithm::Sha256 => 32,
            Algorithm::Sha512 => 64,
        };
        TotpSecret::from_bytes(seed.iter().copied().cycle().take(len).collect())
    }

    #[test]
    fn rfc_6238_appendix_b_vectors() {
        let table: [(i64, &str, &str, &str); 6] = [
            (59, "94287082", "46119246", "90693936"),
            (1111111109, "07081804", "68084774", "25091201"),
            (1111111111, "14050471", "67062674", "99943326"),
            (1234567890, "89005924", "91819424", "93441116"),
            (2000000000, "69279037", "90698825", "38618901"),
            (20000000000, "65353130", "77737706", "47863826"),
        ];
        for (time, sha1, sha256, sha512) in table {
            for (algorithm, expected) in [
                (Algorithm::Sha1, sha1),
                (Algorithm::Sha256, sha256),
                (Algorithm::Sha512, sha512),
            ] {
                let p = params(algorithm, 8);
                let secret = rfc_secret(algorithm);
                assert_eq!(
                    secret.code_at(&p, p.step_at(time)),
                    expected,
                    "{algorithm:?} at {time}"
                );
                // Six digits are the last six of the same value.
                let six = params(algorithm, 6);
                assert_eq!(secret.code_at(&six, six.step_at(time)), expected[2..]);
            }
        }
    }

    #[test]
    fn the_window_is_one_step_either_side_and_its_edges_are_exact() {
        let p = TotpParams::default();
        let secret = rfc_secret(Algorithm::Sha1);
        // 59 s is the last second of step 1.
        let code_of = |step| secret.code_at(&p, step);
        assert_eq!(secret.matching_step(&p, &code_of(1), 59, None), Some(1));
        // Step 0's code is one step old at 59 s, two steps old at 60 s.
        assert_eq!(secret.matching_step(&p, &code_of(0), 59, None), Some(0));
        assert_eq!(secret.matching_step(&p, &code_of(0), 60, None), None);
        // Step 3's code is one step early at 60 s (step 2), too early at 59 s.
        assert_eq!(secret.matching_step(&p, &code_of(3), 60, None), Some(3));
        assert_eq!(secret.matching_step(&p, &code_of(3), 59, None), None);
        assert_eq!(secret.matching_step(&p, "000000x", 59, None), None);
        assert_eq!(secret.matching_step(&p, "", 59, None), None);
    }

    #[test]
    fn a_step_accepted_once_is_never_accepted_again() {
        let p = TotpParams::default();
        let secret = TotpSecret::generate();
        let now = 1_700_000_000;
        let step = p.step_at(now);
        let code = secret.code_at(&p, step);
        assert_eq!(secret.matching_step(&p, &code, now, None), Some(step));
        assert_eq!(secret.matching_step(&p, &code, now, Some(step)), None);
        assert_eq!(secret.matching_step(&p, &code, now + 29, Some(step)), None);
        // An older step's code is refused once a later step was accepted.
        let previous = secret.code_at(&p, step - 1);
        assert_eq!(secret.matching_step(&p, &previous, now, Some(step)), None);
        // The next step's code is still good.
        let next = secret.code_at(&p, step + 1);
        assert_eq!(
            secret.matching_step(&p, &next, now + 30, Some(step)),
            Some(step + 1)
        );
    }

    #[test]
    fn base32_matches_rfc_4648() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32(plain.as_bytes()), encoded);
        }
        assert_eq!(TotpSecret::generate().base32().len(), 32);
    }

    #[test]
    fn uris_escape_their_label_and_name_every_parameter() {
        let secret = TotpSecret::from_bytes(b"foobar".to_vec());
        let p = TotpParams::new(Some("sha-256"), Some(8), Some(60)).unwrap();
        assert_eq!(
            secret.uri(&p, "Acme Bank", "ana@example.com"),
            "otpauth://totp/Acme%20Bank:ana%40example.com?secret=MZXW6YTBOI&issuer=Acme%20Bank\
             &algorithm=SHA256&digits=8&period=60"
        );
    }

    #[test]
    fn parameters_are_checked() {
        assert_eq!(TotpParams::new(None, None, None), Ok(TotpParams::default()));
        assert_eq!(
            TotpParams::new(Some("md5"), None, None),
            Err(ParamsError::Algorithm)
        );
        assert_eq!(
            TotpParams::new(None, Some(7), None),
            Err(ParamsError::Digits)
        );
        assert_eq!(
            TotpParams::new(None, None, Some(5)),
            Err(ParamsError::Period)
        );
        assert!(format!("{:?}", TotpSecret::generate()).contains("redacted"));
    }
}
