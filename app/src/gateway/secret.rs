//! App API secrets: generated with 256 random bits, stored only as argon2id hashes.

use argon2::{
    password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Argon2,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use rand::{rngs::OsRng, TryRngCore};
use std::fmt;

/// Implements `Debug` for a type holding secrets, showing only the fields named (the
/// others, which may hold keys or passwords, are left out and marked with `..`):
/// `debug_showing!(TwilioSettings { id, channel, account_sid, base_url });`.
#[macro_export]
macro_rules! debug_showing {
    ($type:ident { $($field:ident),* $(,)? }) => {
        impl ::std::fmt::Debug for $type {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct(stringify!($type))
                    $(.field(stringify!($field), &self.$field))*
                    .finish_non_exhaustive()
            }
        }
    };
}

/// An app's API secret in plaintext. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiSecret(String);

impl fmt::Debug for ApiSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiSecret(<redacted>)")
    }
}

/// Why a secret was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("a secret must be 8 to 256 characters")]
    Length,
    #[error("a secret must not contain control characters")]
    ControlCharacter,
}

impl ApiSecret {
    /// Parses a secret chosen by an operator (e.g. from an otpgateway config file).
    pub fn parse(raw: &str) -> Result<Self, SecretError> {
        if !(8..=256).contains(&raw.len()) {
            return Err(SecretError::Length);
        }
        if raw.chars().any(char::is_control) {
            return Err(SecretError::ControlCharacter);
        }
        Ok(Self(raw.to_owned()))
    }

    /// A fresh secret: 32 bytes from the OS CSPRNG, base64url (43 characters).
    pub fn generate() -> Self {
        Self(URL_SAFE_NO_PAD.encode(random_bytes::<32>()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The argon2id PHC string to store. CPU-heavy: call it off the async executor.
    pub fn hash(&self) -> String {
        let salt = SaltString::encode_b64(&random_bytes::<16>()).expect("16 bytes is a valid salt");
        Argon2::default()
            .hash_password(self.0.as_bytes(), &salt)
            .expect("argon2 with default parameters cannot fail")
            .to_string()
    }

    /// Checks against a stored PHC string. CPU-heavy: call it off the async executor.
    pub fn verify(&self, phc: &str) -> bool {
        PasswordHash::new(phc)
            .map(|h| {
                Argon2::default()
                    .verify_password(self.0.as_bytes(), &h)
                    .is_ok()
            })
            .unwrap_or(false)
    }
}

/// `N` bytes from the OS CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    OsRng
        .try_fill_bytes(&mut out)
        .expect("the OS CSPRNG is available");
    out
}

/// `bytes` as lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// A random identifier with 128 bits of entropy, base64url (22 characters).
pub fn random_id() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<16>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_two_lowercase_digits_a_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa0, 0xff, 0x5c]), "000fa0ff5c");
        assert_eq!(hex(&[]), "");
    }

    #[test]
    fn a_generated_secret_verifies_against_its_hash_only() {
        let secret = ApiSecret::generate();
        assert_eq!(secret.expose().len(), 43);
        let phc = secret.hash();
        assert!(phc.starts_with("$argon2id$"));
        assert!(!phc.contains(secret.expose()));
        assert!(secret.verify(&phc));
        assert!(!ApiSecret::generate().verify(&phc));
        assert!(!secret.verify("not a hash"));
    }

    #[test]
    fn operator_secrets_are_bounded() {
        assert!(ApiSecret::parse("mySecretToken").is_ok());
        assert_eq!(ApiSecret::parse("short"), Err(SecretError::Length));
        assert_eq!(
            ApiSecret::parse("tab\tsecret"),
            Err(SecretError::ControlCharacter)
        );
        assert!(!format!("{:?}", ApiSecret::parse("mySecretToken").unwrap()).contains("my"));
    }

    #[test]
    fn random_ids_are_22_url_safe_characters_and_distinct() {
        let a = random_id();
        assert_eq!(a.len(), 22);
        assert!(crate::model::VerificationId::parse(&a).is_ok());
        assert_ne!(a, random_id());
    }
}
