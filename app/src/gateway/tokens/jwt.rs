//! Verification tokens: short-lived JWTs signed with Ed25519 (`alg: EdDSA`, nothing else).
//!
//! The newest key signs; every configured key is published in the JWKS, so a new key can be
//! put in front while tokens signed with the previous one stay valid until they expire.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::fmt;

/// The `typ` claim of a verification token.
pub const TOKEN_TYPE: &str = "otpgate.verification";
/// The longest lifetime a token may have.
pub const MAX_TOKEN_TTL_SECS: i64 = 300;

/// What a token asserts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub address: String,
    pub channel: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    pub typ: String,
}

/// Why a token was refused. Deliberately coarse: callers learn only that it is not valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token")]
    Malformed,
    #[error("unsupported algorithm")]
    Algorithm,
    #[error("unknown signing key")]
    UnknownKey,
    #[error("bad signature")]
    Signature,
    #[error("token expired")]
    Expired,
    #[error("token not for this audience")]
    Audience,
    #[error("wrong token type or issuer")]
    Type,
}

struct Key {
    kid: String,
    signing: SigningKey,
}

/// Signs and verifies tokens. `Debug` shows key ids only.
pub struct TokenKeys {
    keys: Vec<Key>,
    issuer: String,
}

impl fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenKeys")
            .field(
                "kids",
                &self.keys.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl TokenKeys {
    /// Keys from 32-byte seeds, newest first. `None` without a key.
    pub fn new(seeds: &[[u8; 32]], issuer: impl Into<String>) -> Option<Self> {
        let keys: Vec<Key> = seeds
            .iter()
            .map(|seed| {
                let signing = SigningKey::from_bytes(seed);
                // A key id derived from the public key: stable, and reveals nothing.
                let digest = Sha256::digest(signing.verifying_key().as_bytes());
                Key {
                    kid: b64(&digest[..12]),
                    signing,
                }
            })
            .collect();
        (!keys.is_empty()).then(|| Self {
            keys,
            issuer: issuer.into(),
        })
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Signs `claims` with the newest key.
    pub fn sign(&self, claims: &Claims) -> String {
        let key = &self.keys[0];
        let header = json!({ "alg": "EdDSA", "typ": "JWT", "kid": key.kid });
        let signing_input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(&serde_json::to_vec(claims).expect("claims serialise"))
        );
        let signature = key.signing.sign(signing_input.as_bytes());
        format!("{signing_input}.{}", b64(&signature.to_bytes()))
    }

    /// Verifies signature, algorithm, issuer, type, audience and expiry (at `now`, seconds).
    pub fn verify(&self, token: &str, audience: &str, now: i64) -> Result<Claims, TokenError> {
        let mut parts = token.split('.');
        let (Some(h), Some(c), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let header: Value = URL_SAFE_NO_PAD
            .decode(h)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(TokenError::Malformed)?;
        if header.get("alg").and_then(Value::as_str) != Some("EdDSA") {
            return Err(TokenError::Algorithm);
        }
        let kid = header
            .get("kid")
            .and_then(Value::as_str)
            .ok_or(TokenError::UnknownKey)?;
        let key = self
            .keys
            .iter()
            .find(|k| k.kid == kid)
            .ok_or(TokenError::UnknownKey)?;
        let sig_bytes: [u8; 64] = URL_SAFE_NO_PAD
            .decode(s)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(TokenError::Malformed)?;
        key.signing
            .verifying_key()
            .verify_strict(
                format!("{h}.{c}").as_bytes(),
                &Signature::from_bytes(&sig_bytes),
            )
            .map_err(|_| TokenError::Signature)?;
        let claims: Claims = URL_SAFE_NO_PAD
            .decode(c)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(TokenError::Malformed)?;
        if claims.typ != TOKEN_TYPE || claims.iss != self.issuer {
            return Err(TokenError::Type);
        }
        if claims.aud != audience {
            return Err(TokenError::Audience);
        }
        if claims.exp <= now || claims.exp - claims.iat > MAX_TOKEN_TTL_SECS {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }

    /// The public keys as a JSON Web Key Set.
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = self
            .keys
            .iter()
            .map(|k| {
                let public: VerifyingKey = k.signing.verifying_key();
                json!({ "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": k.kid, "x": b64(public.as_bytes()) })
            })
            .collect();
        json!({ "keys": keys })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(now: i64) -> Claims {
        Claims {
            iss: "http://127.0.0.1:3000".into(),
            aud: "demo".into(),
            sub: "john-0001".into(),
            address: "john@example.com".into(),
            channel: "email".into(),
            iat: now,
            exp: now + 120,
            jti: "j1".into(),
            typ: TOKEN_TYPE.into(),
        }
    }

    fn keys(seeds: &[u8]) -> TokenKeys {
        let seeds: Vec<[u8; 32]> = seeds.iter().map(|s| [*s; 32]).collect();
        TokenKeys::new(&seeds, "http://127.0.0.1:3000").unwrap()
    }

    #[test]
    fn a_signed_token_verifies_for_its_audience_until_it_expires() {
        let k = keys(&[1]);
        let token = k.sign(&claims(1000));
        assert_eq!(k.verify(&token, "demo", 1000).unwrap(), claims(1000));
        assert_eq!(k.verify(&token, "other", 1000), Err(TokenError::Audience));
        assert_eq!(k.verify(&token, "demo", 1120), Err(TokenError::Expired));
    }

    #[test]
    fn none_and_other_algorithms_are_refused() {
        let k = keys(&[1]);
        let token = k.sign(&claims(1000));
        let body = token.split('.').nth(1).unwrap();
        for alg in ["none", "HS256", "RS256", "ES256"] {
            let header = b64(json!({ "alg": alg, "typ": "JWT", "kid": k.keys[0].kid })
                .to_string()
                .as_bytes());
            for sig in ["", "AAAA"] {
                let forged = format!("{header}.{body}.{sig}");
                assert_eq!(
                    k.verify(&forged, "demo", 1000),
                    Err(TokenError::Algorithm),
                    "{alg}"
                );
            }
        }
    }

    #[test]
    fn tampered_claims_or_foreign_keys_fail() {
        let k = keys(&[1]);
        let token = k.sign(&claims(1000));
        let mut forged_claims = claims(1000);
        forged_claims.address = "mallory@example.com".into();
        let parts: Vec<&str> = token.split('.').collect();
        let tampered = format!(
            "{}.{}.{}",
            parts[0],
            b64(&serde_json::to_vec(&forged_claims).unwrap()),
            parts[2]
        );
        assert_eq!(
            k.verify(&tampered, "demo", 1000),
            Err(TokenError::Signature)
        );
        assert_eq!(
            keys(&[2]).verify(&token, "demo", 1000),
            Err(TokenError::UnknownKey)
        );
        assert_eq!(k.verify("a.b", "demo", 1000), Err(TokenError::Malformed));
    }

    #[test]
    fn a_rotated_key_set_still_accepts_tokens_of_the_previous_key() {
        let old = keys(&[1]);
        let token = old.sign(&claims(1000));
        let rotated = keys(&[2, 1]);
        assert!(rotated.verify(&token, "demo", 1000).is_ok());
        assert_eq!(rotated.jwks()["keys"].as_array().unwrap().len(), 2);
        let fresh = rotated.sign(&claims(1000));
        assert!(rotated.verify(&fresh, "demo", 1000).is_ok());
        assert_eq!(
            old.verify(&fresh, "demo", 1000),
            Err(TokenError::UnknownKey)
        );
    }

    #[test]
    fn lifetimes_over_five_minutes_are_refused() {
        let k = keys(&[1]);
        let mut long = claims(1000);
        long.exp = 1000 + 301;
        assert_eq!(
            k.verify(&k.sign(&long), "demo", 1000),
            Err(TokenError::Expired)
        );
    }
}
