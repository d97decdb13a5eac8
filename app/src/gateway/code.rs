//! One-time codes: generation from the OS CSPRNG, strict parsing, and keyed hashing.
//!
//! The plaintext code lives only in memory between generation and delivery. What is stored
//! is `HMAC-SHA256(key, namespace ‖ id ‖ code)`, so a code is bound to its app and
//! verification, and a database dump reveals nothing usable.

use hmac::{Hmac, Mac};
use rand::{rngs::OsRng, Rng, TryRngCore};
use sha2::Sha256;
use std::{fmt, sync::Arc};
use subtle::ConstantTimeEq;

/// Which characters a code is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Alphabet {
    /// `0-9`.
    Digits,
    /// `A-Z` and `2-9` without the look-alikes `I`, `O`, `0`, `1`; typed case-insensitively.
    Alphanumeric,
}

const ALNUM: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
const DIGITS: &[u8] = b"0123456789";

impl Alphabet {
    fn symbols(self) -> &'static [u8] {
        match self {
            Alphabet::Digits => DIGITS,
            Alphabet::Alphanumeric => ALNUM,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Alphabet::Digits => "digits",
            Alphabet::Alphanumeric => "alphanumeric",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "digits" => Some(Alphabet::Digits),
            "alphanumeric" => Some(Alphabet::Alphanumeric),
            _ => None,
        }
    }

    /// Whether `b` is one of the symbols generated codes are made of.
    pub fn admits(self, b: u8) -> bool {
        self.symbols().contains(&b)
    }

    /// Custom codes may use any ASCII letter or digit; generated ones use `symbols`.
    fn accepts(self, b: u8) -> bool {
        match self {
            Alphabet::Digits => b.is_ascii_digit(),
            Alphabet::Alphanumeric => b.is_ascii_alphanumeric(),
        }
    }
}

/// The shape of a verification's code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeSpec {
    pub length: u32,
    pub alphabet: Alphabet,
}

impl CodeSpec {
    pub const MIN_LEN: u32 = 4;
    pub const MAX_LEN: u32 = 16;

    pub fn new(length: u32, alphabet: Alphabet) -> Result<Self, CodeError> {
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&length) {
            return Err(CodeError::Length);
        }
        Ok(Self { length, alphabet })
    }
}

impl Default for CodeSpec {
    fn default() -> Self {
        Self {
            length: 6,
            alphabet: Alphabet::Digits,
        }
    }
}

/// Why a typed or custom code was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error("the code has the wrong length")]
    Length,
    #[error("the code contains characters outside its alphabet")]
    Alphabet,
}

/// A plaintext code. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct OtpCode(String);

impl fmt::Debug for OtpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OtpCode(<redacted>)")
    }
}

impl OtpCode {
    /// Inputs longer than this are refused before any other work.
    pub const MAX_INPUT_BYTES: usize = 64;

    /// Draws a fresh code from the OS CSPRNG. `random_range` rejects out-of-range samples,
    /// so every symbol is equally likely (no modulo bias).
    pub fn generate(spec: CodeSpec) -> Self {
        let symbols = spec.alphabet.symbols();
        let mut rng = OsRng.unwrap_err();
        let code = (0..spec.length)
            .map(|_| symbols[rng.random_range(0..symbols.len())] as char)
            .collect();
        Self(code)
    }

    /// Parses a code typed by a user (or sent by an integrator) against the verification's
    /// spec: exact length, only the alphabet's characters, nothing else.
    pub fn parse(raw: &str, spec: CodeSpec) -> Result<Self, CodeError> {
        if raw.len() > Self::MAX_INPUT_BYTES || raw.len() != spec.length as usize {
            return Err(CodeError::Length);
        }
        if !raw.bytes().all(|b| spec.alphabet.accepts(b)) {
            return Err(CodeError::Alphabet);
        }
        Ok(Self(raw.to_ascii_uppercase()))
    }

    /// Parses a code chosen by the integrator and derives its spec from it.
    pub fn parse_custom(raw: &str) -> Result<(Self, CodeSpec), CodeError> {
        let alphabet = if raw.bytes().all(|b| b.is_ascii_digit()) {
            Alphabet::Digits
        } else {
            Alphabet::Alphanumeric
        };
        let len = u32::try_from(raw.len()).map_err(|_| CodeError::Length)?;
        let spec = CodeSpec::new(len, alphabet)?;
        Ok((Self::parse(raw, spec)?, spec))
    }

    /// What an authenticator-app (`totp`) verification stores in place of a code, and
    /// what its check compares once the typed code matched its factor
    /// (`Gateway::totp_digests`). It has letters and a colon, so no code typed into a
    /// digits-only verification is ever equal to it.
    pub(crate) fn totp_accepted() -> Self {
        Self("totp:accepted".to_owned())
    }

    /// The plaintext, for rendering into a message. Callers must not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

type HmacSha256 = Hmac<Sha256>;

/// ChaCha20-Poly1305 under `key` with a random nonce and `aad` as associated data:
/// `nonce ‖ ciphertext`.
fn encrypt(key: &[u8; 32], aad: &str, plain: &[u8]) -> Vec<u8> {
    use chacha20poly1305::{
        aead::{Aead, KeyInit, Payload},
        ChaCha20Poly1305, Nonce,
    };
    let cipher = ChaCha20Poly1305::new(key.into());
    let nonce = crate::gateway::secret::random_bytes::<12>();
    let mut out = nonce.to_vec();
    let payload = Payload {
        msg: plain,
        aad: aad.as_bytes(),
    };
    out.extend(
        cipher
            .encrypt(Nonce::from_slice(&nonce), payload)
            .expect("encryption into a Vec cannot fail"),
    );
    out
}

/// Opens what [`encrypt`] made; `None` when the key, the associated data or the bytes differ.
fn decrypt(key: &[u8; 32], aad: &str, sealed: &[u8]) -> Option<Vec<u8>> {
    use chacha20poly1305::{
        aead::{Aead, KeyInit, Payload},
        ChaCha20Poly1305, Nonce,
    };
    if sealed.len() < 12 {
        return None;
    }
    let (nonce, ciphertext) = sealed.split_at(12);
    let payload = Payload {
        msg: ciphertext,
        aad: aad.as_bytes(),
    };
    ChaCha20Poly1305::new(key.into())
        .decrypt(Nonce::from_slice(nonce), payload)
        .ok()
}

/// A 32-byte HMAC key. `Debug` never shows it.
#[derive(Clone)]
pub struct CodeKey([u8; 32]);

impl CodeKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl fmt::Debug for CodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeKey(<redacted>)")
    }
}

/// Hashes codes with the first key and accepts a hash made with any key, so a new key can
/// be put in front while codes already sent keep verifying.
#[derive(Debug, Clone)]
pub struct CodeHasher {
    keys: Arc<[PreparedKey]>,
}

/// A key made ready once: its HMAC with the key already absorbed (cloned for each MAC,
/// which saves hashing the padded key every time) and the key it derives for sealing.
#[derive(Clone)]
struct PreparedKey {
    mac: HmacSha256,
    seal: [u8; 32],
}

impl PreparedKey {
    fn new(key: &CodeKey) -> Self {
        let mac = HmacSha256::new_from_slice(&key.0).expect("HMAC takes any key length");
        let mut derive = mac.clone();
        derive.update(b"otpgate/seal/v1");
        Self {
            seal: derive.finalize().into_bytes().into(),
            mac,
        }
    }
}

impl fmt::Debug for PreparedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PreparedKey(<redacted>)")
    }
}

impl CodeHasher {
    /// Needs at least one key.
    pub fn new(keys: Vec<CodeKey>) -> Option<Self> {
        (!keys.is_empty()).then(|| Self {
            keys: keys.iter().map(PreparedKey::new).collect(),
        })
    }

    fn digest(key: &PreparedKey, namespace: &str, id: &str, code: &OtpCode) -> [u8; 32] {
        let mut mac = key.mac.clone();
        // Length prefixes keep ("ab","c") and ("a","bc") apart.
        for part in [namespace.as_bytes(), id.as_bytes(), code.0.as_bytes()] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// The value to store for `code`.
    pub fn hash(&self, namespace: &str, id: &str, code: &OtpCode) -> Vec<u8> {
        Self::digest(&self.keys[0], namespace, id, code).to_vec()
    }

    /// The code encrypted for a later resend: ChaCha20-Poly1305 under a key derived from
    /// the newest HMAC key, bound to (namespace, id) as associated data. `nonce ‖ ciphertext`.
    pub fn seal(&self, namespace: &str, id: &str, code: &OtpCode) -> Vec<u8> {
        let aad = format!("{}:{namespace}:{id}", namespace.len());
        encrypt(&self.keys[0].seal, &aad, code.0.as_bytes())
    }

    /// Opens a sealed code with any key; `None` if it was not sealed for this (namespace, id).
    pub fn open(&self, namespace: &str, id: &str, sealed: &[u8]) -> Option<OtpCode> {
        let aad = format!("{}:{namespace}:{id}", namespace.len());
        self.keys.iter().find_map(|key| {
            let plain = decrypt(&key.seal, &aad, sealed)?;
            String::from_utf8(plain).ok().map(OtpCode)
        })
    }

    /// `plain` encrypted like [`seal`](Self::seal), under a key of its own for `purpose`
    /// (provider credentials, webhook secrets), bound to `binding` (the row it belongs to).
    pub fn seal_for(&self, purpose: &str, binding: &str, plain: &[u8]) -> Vec<u8> {
        let key = Self::label_mac(&self.keys[0], "otpgate/seal-for/v1", &[purpose]);
        encrypt(&key, binding, plain)
    }

    /// Opens what [`seal_for`](Self::seal_for) sealed, with any key; `None` when it was
    /// sealed for another purpose or binding, or with a key no longer held.
    pub fn open_for(&self, purpose: &str, binding: &str, sealed: &[u8]) -> Option<Vec<u8>> {
        self.keys.iter().find_map(|key| {
            let key = Self::label_mac(key, "otpgate/seal-for/v1", &[purpose]);
            decrypt(&key, binding, sealed)
        })
    }

    fn label_mac(key: &PreparedKey, label: &str, parts: &[&str]) -> [u8; 32] {
        let mut mac = key.mac.clone();
        for part in std::iter::once(label).chain(parts.iter().copied()) {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        mac.finalize().into_bytes().into()
    }

    /// A value derived from the newest key for `label` and `parts` (client tokens).
    pub fn derive(&self, label: &str, parts: &[&str]) -> [u8; 32] {
        Self::label_mac(&self.keys[0], label, parts)
    }

    /// The values derived for `label` and `parts` with every key, newest first (to find
    /// what was derived before a key rotation).
    pub fn derive_each(&self, label: &str, parts: &[&str]) -> Vec<[u8; 32]> {
        self.keys
            .iter()
            .map(|key| Self::label_mac(key, label, parts))
            .collect()
    }

    /// Whether `given` was derived for `label` and `parts` with any key; constant time.
    pub fn verify_derived(&self, label: &str, parts: &[&str], given: &[u8]) -> bool {
        let mut matched = subtle::Choice::from(0);
        for key in self.keys.iter() {
            matched |= Self::label_mac(key, label, parts).ct_eq(given);
        }
        matched.into()
    }

    /// Compares in constant time against every key, without stopping at the first match.
    pub fn verify(&self, namespace: &str, id: &str, code: &OtpCode, stored: &[u8]) -> bool {
        self.digests(namespace, id, code).matches(stored)
    }

    /// What `code` hashes to under each key, for [`CodeDigests::matches`] later (a check
    /// makes them before it takes the database's writer).
    pub fn digests(&self, namespace: &str, id: &str, code: &OtpCode) -> CodeDigests {
        CodeDigests(
            self.keys
                .iter()
                .map(|key| Self::digest(key, namespace, id, code))
                .collect(),
        )
    }
}

/// A given code's digest under each key. `Debug` never shows them.
#[derive(Clone)]
pub struct CodeDigests(Vec<[u8; 32]>);

impl fmt::Debug for CodeDigests {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeDigests(<redacted>)")
    }
}

impl CodeDigests {
    /// Whether `stored` is one of them; constant time, without stopping at the first match.
    pub fn matches(&self, stored: &[u8]) -> bool {
        let mut matched = subtle::Choice::from(0);
        for digest in &self.0 {
            matched |= digest.ct_eq(stored);
        }
        matched.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher(seeds: &[u8]) -> CodeHasher {
        CodeHasher::new(
            seeds
                .iter()
                .map(|s| CodeKey::from_bytes([*s; 32]))
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn generated_codes_have_the_requested_shape() {
        for _ in 0..200 {
            let code = OtpCode::generate(CodeSpec::default());
            assert_eq!(code.expose().len(), 6);
            assert!(code.expose().bytes().all(|b| b.is_ascii_digit()));
            let alnum = OtpCode::generate(CodeSpec::new(10, Alphabet::Alphanumeric).unwrap());
            assert!(alnum.expose().bytes().all(|b| ALNUM.contains(&b)));
        }
    }

    /// Chi-square over every digit position of 10^6 codes: with 9 degrees of freedom the
    /// statistic stays below 27.88 (p = 0.001) for a uniform source. Modulo bias on a byte
    /// (256 % 10 = 6) would push digits 0–5 up by 2.3 % and the statistic into the hundreds.
    #[test]
    fn a_million_codes_are_uniform_in_every_position() {
        let mut counts = [[0u64; 10]; 6];
        let n = 1_000_000;
        for _ in 0..n {
            let code = OtpCode::generate(CodeSpec::default());
            for (pos, b) in code.expose().bytes().enumerate() {
                counts[pos][(b - b'0') as usize] += 1;
            }
        }
        let expected = n as f64 / 10.0;
        for (pos, row) in counts.iter().enumerate() {
            let chi: f64 = row
                .iter()
                .map(|&c| (c as f64 - expected).powi(2) / expected)
                .sum();
            assert!(chi < 27.88, "position {pos}: chi-square {chi:.2}");
        }
    }

    #[test]
    fn parsing_is_strict_about_length_and_alphabet() {
        let spec = CodeSpec::default();
        assert!(OtpCode::parse("123456", spec).is_ok());
        for bad in [
            "", "true", "null", "[]", "12345", "1234567", "12345a", "123 456", "12345\0",
        ] {
            assert!(
                OtpCode::parse(bad, spec).is_err(),
                "{bad:?} must be refused"
            );
        }
        assert_eq!(
            OtpCode::parse(&"1".repeat(10_000), spec),
            Err(CodeError::Length)
        );
    }

    #[test]
    fn custom_codes_derive_their_spec() {
        let (code, spec) = OtpCode::parse_custom("123456").unwrap();
        assert_eq!(code.expose(), "123456");
        assert_eq!(spec, CodeSpec::default());
        let (code, spec) = OtpCode::parse_custom("ab12").unwrap();
        assert_eq!(code.expose(), "AB12");
        assert_eq!(spec.alphabet, Alphabet::Alphanumeric);
        assert!(OtpCode::parse_custom("123").is_err());
        assert!(OtpCode::parse_custom("12-34").is_err());
    }

    #[test]
    fn a_code_verifies_only_for_its_own_app_and_id() {
        let h = hasher(&[1]);
        let code = OtpCode::parse("123456", CodeSpec::default()).unwrap();
        let stored = h.hash("app", "id-1", &code);
        assert!(h.verify("app", "id-1", &code, &stored));
        assert!(!h.verify("app", "id-2", &code, &stored));
        assert!(!h.verify("other", "id-1", &code, &stored));
        let wrong = OtpCode::parse("123457", CodeSpec::default()).unwrap();
        assert!(!h.verify("app", "id-1", &wrong, &stored));
        assert!(!h.verify("app", "id-1", &code, &stored[..31]));
    }

    #[test]
    fn a_new_key_in_front_still_accepts_codes_hashed_with_the_old_one() {
        let code = OtpCode::generate(CodeSpec::default());
        let stored = hasher(&[1]).hash("app", "id", &code);
        let rotated = hasher(&[2, 1]);
        assert!(rotated.verify("app", "id", &code, &stored));
        assert_ne!(rotated.hash("app", "id", &code), stored);
        assert!(!hasher(&[2]).verify("app", "id", &code, &stored));
    }

    #[test]
    fn a_sealed_code_opens_only_for_its_own_app_and_id() {
        let h = hasher(&[1]);
        let code = OtpCode::generate(CodeSpec::default());
        let sealed = h.seal("app", "id", &code);
        assert!(!sealed.windows(6).any(|w| w == code.expose().as_bytes()));
        assert_eq!(h.open("app", "id", &sealed), Some(code.clone()));
        assert_eq!(h.open("app", "other", &sealed), None);
        assert_eq!(hasher(&[2, 1]).open("app", "id", &sealed), Some(code));
        assert_eq!(hasher(&[2]).open("app", "id", &sealed), None);
        assert_eq!(h.open("app", "id", &sealed[..8]), None);
    }

    #[test]
    fn sealed_credentials_open_only_for_their_purpose_and_row() {
        let h = hasher(&[1]);
        let sealed = h.seal_for("provider", "app:1:sms", b"token-abc");
        assert!(!sealed.windows(9).any(|w| w == b"token-abc"));
        assert_eq!(
            h.open_for("provider", "app:1:sms", &sealed).as_deref(),
            Some(&b"token-abc"[..])
        );
        assert_eq!(h.open_for("provider", "app:2:sms", &sealed), None);
        assert_eq!(h.open_for("webhook", "app:1:sms", &sealed), None);
        assert!(hasher(&[2, 1])
            .open_for("provider", "app:1:sms", &sealed)
            .is_some());
        assert_eq!(
            hasher(&[2]).open_for("provider", "app:1:sms", &sealed),
            None
        );
        // Not the key that seals codes.
        let code = OtpCode::parse("123456", CodeSpec::default()).unwrap();
        let code_sealed = h.seal("app", "id", &code);
        assert_eq!(h.open_for("provider", "2:app:id", &code_sealed), None);
    }

    /// The keys are made ready once; what they give must be what rows already stored
    /// were made with: HMAC-SHA256 under the key itself.
    #[test]
    fn prepared_keys_give_what_the_key_itself_gives() {
        let key = [9u8; 32];
        let h = hasher(&[9]);
        let code = OtpCode::parse("123456", CodeSpec::default()).unwrap();
        let mut mac = HmacSha256::new_from_slice(&key).unwrap();
        for part in [&b"app"[..], b"id-1", b"123456"] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        let expected: [u8; 32] = mac.finalize().into_bytes().into();
        assert_eq!(h.hash("app", "id-1", &code), expected.to_vec());
        let mut derive = HmacSha256::new_from_slice(&key).unwrap();
        derive.update(b"otpgate/seal/v1");
        let seal_key: [u8; 32] = derive.finalize().into_bytes().into();
        let sealed = encrypt(&seal_key, "3:app:id-1", b"123456");
        assert_eq!(h.open("app", "id-1", &sealed), Some(code.clone()));
        assert_eq!(
            decrypt(&seal_key, "3:app:id-1", &h.seal("app", "id-1", &code)).as_deref(),
            Some(&b"123456"[..])
        );
    }

    #[test]
    fn debug_output_never_shows_a_code_or_key() {
        let code = OtpCode::parse("987654", CodeSpec::default()).unwrap();
        assert!(!format!("{code:?}").contains("987654"));
        assert!(!format!("{:?}", hasher(&[7])).contains('7'));
    }
}
