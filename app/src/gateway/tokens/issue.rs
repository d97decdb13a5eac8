//! Proof of a verification: the signed token a verified verification earns, accepted
//! once by its app; the redirect that carries it; the keys that verify it (JWKS).

use crate::gateway::{
    error::EngineError,
    handle::Gateway,
    secret::random_id,
    store::{AppRecord, VerificationRecord},
    tokens::jwt::{Claims, MAX_TOKEN_TTL_SECS, TOKEN_TYPE},
};

impl Gateway {
    /// The public keys that verify tokens (JWKS).
    pub fn jwks(&self) -> serde_json::Value {
        self.inner.tokens.jwks()
    }

    /// A signed token saying that `record` was verified, for its app only.
    pub fn issue_token(&self, app: &AppRecord, record: &VerificationRecord) -> String {
        let now = self.inner.clock.now_ms() / 1000;
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
        })
    }

    /// Accepts a verification token once: valid signature, this app's audience, unexpired,
    /// the expected address if one is given, and a `jti` never confirmed before.
    pub async fn confirm_token(
        &self,
        app: &AppRecord,
        token: &str,
        expected_address: Option<&str>,
    ) -> Result<Claims, EngineError> {
        let now = self.inner.clock.now_ms();
        let claims = self
            .inner
            .tokens
            .verify(token, &app.namespace, now / 1000)
            .map_err(EngineError::InvalidToken)?;
        if let Some(expected) = expected_address {
            if !expected.trim().eq_ignore_ascii_case(&claims.address) {
                return Err(EngineError::TokenMismatch);
            }
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
