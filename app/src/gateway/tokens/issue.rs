//! Proof of a verification: the signed token a verified verification earns, accepted
//! once by its app; the redirect that carries it; the keys that verify it (JWKS).

use crate::gateway::{
    error::EngineError,
    handle::Gateway,
    intent::Intent,
    secret::random_id,
    store::{AppRecord, VerificationRecord},
    tokens::jwt::{Claims, MAX_TOKEN_TTL_SECS, TOKEN_TYPE},
};

const BINDING_LABEL: &str = "otpgate/session-binding/v1";

/// What a confirmation says it is about to do: the token must name exactly this (an
/// action or payload hash the token names and the caller does not is a mismatch too).
#[derive(Debug, Clone, Copy, Default)]
pub struct Expected<'a> {
    pub address: Option<&'a str>,
    pub action: Option<&'a str>,
    pub payload_hash: Option<&'a str>,
}

impl Gateway {
    /// The keyed digest of a session binding, as a verification stores it (hex): bound to
    /// the app and the verification's id, so it says nothing about the session elsewhere.
    pub(crate) fn binding_digest(&self, namespace: &str, public_id: &str, binding: &str) -> String {
        let mac = self
            .hasher()
            .derive(BINDING_LABEL, &[namespace, public_id, binding]);
        crate::gateway::secret::hex(&mac)
    }

    /// Whether `presented` satisfies the verification's binding: always, for one that is
    /// not bound; for a bound one only the same value (compared in constant time, under
    /// every key).
    pub(crate) fn presents_binding(
        &self,
        namespace: &str,
        record: &VerificationRecord,
        presented: Option<&str>,
    ) -> bool {
        // An intent that does not parse binds to nothing that could be presented.
        let Some(intent) = Intent::from_column(&record.intent) else {
            return false;
        };
        let Some(stored) = intent.binding else {
            return true;
        };
        let Some(presented) = presented else {
            return false;
        };
        let Some(stored) = hex_bytes(&stored) else {
            return false;
        };
        self.hasher().verify_derived(
            BINDING_LABEL,
            &[namespace, &record.public_id, presented],
            &stored,
        )
    }

    /// The public keys that verify tokens (JWKS).
    pub fn jwks(&self) -> serde_json::Value {
        self.inner.tokens.jwks()
    }

    /// A signed token saying that `record` was verified, for its app only.
    pub fn issue_token(&self, app: &AppRecord, record: &VerificationRecord) -> String {
        let now = self.inner.clock.now_ms() / 1000;
        let intent = Intent::from_column(&record.intent).unwrap_or_default();
        self.inner.tokens.sign(&Claims {
            iss: self.inner.tokens.issuer().to_owned(),
            aud: app.namespace.clone(),
            sub: record.public_id.clone(),
            address: record.address.clone(),
            channel: record.channel.clone(),
            iat: now,
            exp: now + self.inner.settings.token_ttl_secs.min(MAX_TOKEN_TTL_SECS),
            jti: random_id(),
            typ: TOKEN_TYPE.to_owned(),
            act: intent.action,
            payload_hash: intent.payload_hash,
        })
    }

    /// Accepts a verification token once: valid signature, this app's audience, unexpired,
    /// the expected address if one is given, exactly the action and payload hash the
    /// caller names, and a `jti` never confirmed before. A mismatch does not use it up.
    pub async fn confirm_token(
        &self,
        app: &AppRecord,
        token: &str,
        expected: Expected<'_>,
    ) -> Result<Claims, EngineError> {
        let now = self.inner.clock.now_ms();
        let claims = self
            .inner
            .tokens
            .verify(token, &app.namespace, now / 1000)
            .map_err(EngineError::InvalidToken)?;
        if let Some(address) = expected.address {
            if !address.trim().eq_ignore_ascii_case(&claims.address) {
                return Err(EngineError::TokenMismatch);
            }
        }
        if claims.act.as_deref() != expected.action
            || claims.payload_hash.as_deref() != expected.payload_hash
        {
            return Err(EngineError::ActionMismatch);
        }
        if !self
            .inner
            .store
            .use_token(&claims.jti, app.app_id, claims.exp * 1000, now)
            .await?
        {
            return Err(EngineError::TokenReused);
        }
        // For the verification's timeline and the app's event webhooks. The token is
        // confirmed already: a failure here is logged, not the integrator's problem.
        let store = &self.inner.store;
        match store.find_verification(app.app_id, &claims.sub).await {
            Ok(Some(v)) => {
                if let Err(e) = store
                    .record_event(v.verification_id, "token_confirmed", "{}", now)
                    .await
                {
                    tracing::error!(error = ?e, "could not record a token confirmation");
                }
            }
            Ok(None) => {}
            Err(e) => tracing::error!(error = ?e, "could not record a token confirmation"),
        }
        Ok(claims)
    }

    /// `redirect_url?verification_token=…&state=…&id=…`, keeping the URL's own query.
    pub(crate) fn redirect_target(&self, app: &AppRecord, record: &VerificationRecord) -> String {
        let token = self.issue_token(app, record);
        let mut query = vec![
            ("verification_token", token.as_str()),
            ("id", &record.public_id),
        ];
        if !record.state.is_empty() {
            query.push(("state", &record.state));
        }
        let encoded = serde_urlencoded::to_string(&query).expect("strings encode");
        let (base, fragment) = match record.redirect_url.split_once('#') {
            Some((b, f)) => (b, Some(f)),
            None => (record.redirect_url.as_str(), None),
        };
        let sep = if base.contains('?') { '&' } else { '?' };
        match fragment {
            Some(f) => format!("{base}{sep}{encoded}#{f}"),
            None => format!("{base}{sep}{encoded}"),
        }
    }
}

/// Bytes of a hex string; `None` when it is not one.
fn hex_bytes(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}
