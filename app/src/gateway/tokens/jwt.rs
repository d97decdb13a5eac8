//! Verification tokens: short-lived JWTs signed with Ed25519 (`alg: EdDSA`, nothing else),
//! checked by `jsonwebtoken` with the algorithm pinned. They are signed here with the key
//! kept ready (the library would decode the key and derive its public half again for every
//! token: half of what signing one cost).
//!
//! The newest key signs; every configured key is published in the JWKS, so a new key can be
//! put in front while tokens signed with the previous one stay valid until they expire.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use ed25519_dalek::{Signer, SigningKey};
use jsonwebtoken::{errors::ErrorKind, Algorithm, DecodingKey, Validation};
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
    /// The action the verification was started for (verify-then-act), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<String>,
    /// The hash of that action's payload, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_hash: Option<String>,
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
    /// The raw public key, as the JWKS publishes it.
    public: [u8; 32],
    signing: SigningKey,
    /// The encoded JOSE header of every token this key signs.
    header: String,
    decoding: DecodingKey,
}

/// Signs and verifies tokens. `Debug` shows key ids only.
pub struct TokenKeys {
    keys: Vec<Key>,
    issuer: String,
    validation: Validation,
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
                let public = signing.verifying_key().to_bytes();
                // A key id derived from the public key: stable, and reveals nothing.
                let kid = b64(&Sha256::digest(public)[..12]);
                let header = json!({ "typ": "JWT", "alg": "EdDSA", "kid": kid });
                Key {
                    header: b64(header.to_string().as_bytes()),
                    kid,
                    public,
                    signing,
                    decoding: DecodingKey::from_ed_der(&public),
                }
            })
            .collect();
        let issuer = issuer.into();
        // EdDSA only; the issuer is checked here, the audience per call, and the expiry
        // against the engine's clock (which tests move), so not by the library.
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[issuer.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.validate_exp = false;
        validation.validate_aud = false;
        (!keys.is_empty()).then(|| Self {
            keys,
            issuer,
            validation,
        })
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Signs `claims` with the newest key.
    pub fn sign(&self, claims: &Claims) -> String {
        let key = &self.keys[0];
        let claims = serde_json::to_vec(claims).expect("claims serialise");
        // JWS compact serialisation: header.claims, then the signature of those bytes.
        let mut token = String::with_capacity(key.header.len() + claims.len() * 4 / 3 + 90);
        token.push_str(&key.header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&claims, &mut token);
        let signature = key.signing.sign(token.as_bytes());
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature.to_bytes(), &mut token);
        token
    }

    /// Verifies signature, algorithm, issuer, type, audience and expiry (at `now`, seconds).
    pub fn verify(&self, token: &str, audience: &str, now: i64) -> Result<Claims, TokenError> {
        // The header's algorithm is refused before anything else looks at the token, even
        // one the library cannot name (`none`).
        let header = header_of(token)?;
        if header.alg.as_str() != Some("EdDSA") {
            return Err(TokenError::Algorithm);
        }
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let key = self
            .keys
            .iter()
            .find(|k| k.kid == kid)
            .ok_or(TokenError::UnknownKey)?;
        let claims = jsonwebtoken::decode::<Claims>(token, &key.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature => TokenError::Signature,
                ErrorKind::InvalidAlgorithm => TokenError::Algorithm,
                ErrorKind::InvalidIssuer => TokenError::Type,
                _ => TokenError::Malformed,
            })?
            .claims;
        if claims.typ != TOKEN_TYPE {
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
                json!({ "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": k.kid, "x": b64(&k.public) })
            })
            .collect();
        json!({ "keys": keys })
    }
}

/// What the verifier reads from a token's header before handing it to the library.
#[derive(Deserialize)]
struct HeaderFields {
    /// Any JSON: whatever it is, only the string `EdDSA` passes.
    #[serde(default)]
    alg: Value,
    kid: Option<String>,
}

/// The header of a token of three segments; anything else is malformed.
fn header_of(token: &str) -> Result<HeaderFields, TokenError> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(TokenError::Malformed)
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
            act: None,
            payload_hash: None,
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
