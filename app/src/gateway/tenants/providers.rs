//! An app's own providers as its tenant manages them: added and changed from the kinds in
//! [`catalogue`], checked by building them (the network policy included) before anything
//! is stored, their secret fields sealed and never shown again, a test message on demand,
//! and every change audited without a value of a secret.

use crate::gateway::{
    delivery::{
        catalogue::{self, KindSpec},
        inbound::INBOUND_PROVIDER,
        DeliveryError, Sent, DEV_INBOX,
    },
    error::EngineError,
    handle::Gateway,
    limits::{self, Limit},
    store::{AppProvider, AppRecord, DevMessage},
    tenants::Session,
};
use std::collections::BTreeMap;

/// Test messages one app may send per hour.
pub const TESTS_PER_HOUR: Limit = Limit::new(20, 60 * 60);

/// The longest value a field may hold, in bytes.
const MAX_FIELD: usize = 4096;

/// A provider as the dashboard lists it: its plain fields, and only the names of the
/// secret ones that are set.
#[derive(Debug, Clone)]
pub struct ProviderListing {
    pub id: String,
    pub kind: &'static KindSpec,
    pub fields: BTreeMap<String, String>,
    pub secrets_set: Vec<&'static str>,
    pub updated_at: i64,
    /// Why it cannot be built now (its secrets sealed with a key no longer held, a URL
    /// the network policy now refuses); `None` when it works.
    pub broken: Option<String>,
}

/// A provider as its form sends it, secrets included (empty secret: keep the stored one).
#[derive(Debug, Clone, Default)]
pub struct ProviderDraft {
    pub id: String,
    pub kind: String,
    pub values: BTreeMap<String, String>,
}

/// A provider id as tenants may choose it: 1–40 of `a-z 0-9 _ -`, starting with a letter
/// or digit, and not a name the server keeps for itself.
fn provider_id(raw: &str) -> Result<String, EngineError> {
    let id = raw.trim();
    let well_formed = (1..=40).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !well_formed {
        return Err(EngineError::invalid(
            "id",
            "must be 1 to 40 lower-case letters, digits, _ or -",
        ));
    }
    if id == DEV_INBOX || id == INBOUND_PROVIDER {
        return Err(EngineError::invalid("id", "is a name the server keeps"));
    }
    Ok(id.to_owned())
}

impl Gateway {
    /// A stored provider as listed; `built`: it is among the app's built providers, so it
    /// works and is not built again to say why not.
    fn listing(&self, row: &AppProvider, built: bool) -> Option<ProviderListing> {
        let kind = catalogue::kind(&row.kind)?;
        let book = &self.inner.providers;
        let secrets = book.open(row);
        let secrets_set = kind
            .fields
            .iter()
            .filter(|f| f.secret)
            .filter(|f| {
                secrets
                    .as_ref()
                    .and_then(|s| s.get(f.name))
                    .is_some_and(|v| !v.is_empty())
            })
            .map(|f| f.name)
            .collect();
        Some(ProviderListing {
            id: row.provider_id.clone(),
            kind,
            fields: row.fields.clone(),
            secrets_set,
            updated_at: row.updated_at,
            broken: (!built)
                .then(|| book.build(row).err())
                .flatten()
                .map(|e| format!("{}: {}", e.field, e.reason)),
        })
    }

    /// One of the tenant's apps and its own providers (every member; secrets never).
    pub async fn app_providers(
        &self,
        session: &Session,
        namespace: &str,
    ) -> Result<(AppRecord, Vec<ProviderListing>), EngineError> {
        let app = self.tenant_app(session, namespace).await?;
        let rows = self.store().app_providers(app.app_id).await?;
        let built = self
            .inner
            .providers
            .own(app.app_id, app.providers_rev)
            .await?;
        let listed = rows
            .iter()
            .filter_map(|row| self.listing(row, built.contains_key(&row.provider_id)))
            .collect();
        Ok((app, listed))
    }

    /// Adds a provider to the app or changes one (owners and developers). The values are
    /// checked by building the provider; any refusal names the field and changes nothing.
    /// A secret field left empty keeps its stored value.
    pub async fn save_app_provider(
        &self,
        session: &Session,
        namespace: &str,
        draft: &ProviderDraft,
        ip: &str,
    ) -> Result<ProviderListing, EngineError> {
        let app = self.managed_app(session, namespace).await?;
        let id = provider_id(&draft.id)?;
        let kind = catalogue::kind(draft.kind.trim())
            .ok_or_else(|| EngineError::invalid("kind", "is not one of the provider kinds"))?;
        let stored = self
            .store()
            .app_providers(app.app_id)
            .await?
            .into_iter()
            .find(|p| p.provider_id == id);
        let book = &self.inner.providers;
        let kept = stored
            .as_ref()
            .filter(|p| p.kind == kind.name)
            .and_then(|p| book.open(p))
            .unwrap_or_default();
        let mut fields = BTreeMap::new();
        let mut secrets = BTreeMap::new();
        for f in kind.fields {
            let given = draft
                .values
                .get(f.name)
                .map(|v| v.trim())
                .unwrap_or_default();
            if given.len() > MAX_FIELD {
                return Err(EngineError::invalid(
                    f.name,
                    format!("is longer than {MAX_FIELD} bytes"),
                ));
            }
            if f.secret {
                let value = match given {
                    "" => kept.get(f.name).cloned().unwrap_or_default(),
                    v => v.to_owned(),
                };
                secrets.insert(f.name.to_owned(), value);
            } else {
                fields.insert(f.name.to_owned(), given.to_owned());
            }
        }
        book.build_draft(&id, kind.name, &fields, &secrets)
            .map_err(|e| EngineError::invalid(e.field, e.reason))?;
        let now = self.now_ms();
        let changed: Vec<&str> = match &stored {
            Some(old) if old.kind == kind.name => kind
                .fields
                .iter()
                .filter(|f| {
                    if f.secret {
                        kept.get(f.name) != secrets.get(f.name)
                    } else {
                        old.fields.get(f.name) != fields.get(f.name)
                    }
                })
                .map(|f| f.name)
                .collect(),
            _ => kind.fields.iter().map(|f| f.name).collect(),
        };
        let row = AppProvider {
            app_id: app.app_id,
            sealed: book.seal(app.app_id, &id, &secrets),
            provider_id: id,
            kind: kind.name.to_owned(),
            fields,
            created_at: stored.as_ref().map_or(now, |s| s.created_at),
            updated_at: now,
        };
        self.store().put_app_provider(&row).await?;
        let detail = serde_json::json!({
            "namespace": app.namespace, "provider": row.provider_id, "kind": row.kind,
            "changed": changed, "added": stored.is_none(),
        });
        self.audit_by(session, "provider_saved", detail, ip).await?;
        // Built from these very values above.
        self.listing(&row, true)
            .ok_or_else(|| EngineError::invalid("kind", "is not one of the provider kinds"))
    }

    /// Removes one of the app's providers (owners and developers); refused while the
    /// app's routes or fallbacks name it.
    pub async fn delete_app_provider(
        &self,
        session: &Session,
        namespace: &str,
        id: &str,
        ip: &str,
    ) -> Result<(), EngineError> {
        let app = self.managed_app(session, namespace).await?;
        if let Some((key, _)) = app.settings.named_providers().find(|(_, p)| *p == id) {
            return Err(EngineError::invalid(
                "provider",
                format!("{id:?} is named in this app's {key}; take it out there first"),
            ));
        }
        if !self.store().delete_app_provider(app.app_id, id).await? {
            return Err(EngineError::NotFound);
        }
        let detail = serde_json::json!({ "namespace": app.namespace, "provider": id });
        self.audit_by(session, "provider_deleted", detail, ip).await
    }

    /// Sends one message through one of the app's own providers to `to` now, written by
    /// the app's templates with the sample code 123456 (owners and developers), and says
    /// how the provider answered. A dev inbox provider keeps it in the dev inbox.
    pub async fn test_app_provider(
        &self,
        session: &Session,
        namespace: &str,
        id: &str,
        to: &str,
        ip: &str,
    ) -> Result<Result<Sent, DeliveryError>, EngineError> {
        let app = self.managed_app(session, namespace).await?;
        let own = self
            .inner
            .providers
            .own(app.app_id, app.providers_rev)
            .await?;
        let provider = own.get(id).cloned().ok_or(EngineError::NotFound)?;
        let address = provider.parse_address(to)?;
        let key = limits::key("provider_test", app.app_id, "app");
        self.limit(key, Some(TESTS_PER_HOUR)).await?;
        let message = self
            .sample_message(&app, provider.as_ref(), address)
            .await?;
        let outcome = if provider.keeps_messages() {
            let kept = DevMessage {
                dev_message_id: 0,
                app_id: app.app_id,
                public_id: "test".into(),
                provider: id.to_owned(),
                channel: provider.channel().as_str().into(),
                address: message.to.to_string(),
                subject: message.subject.clone(),
                body: message.text.clone(),
                created_at: self.now_ms(),
            };
            let n = self.store().capture_message(&kept).await?;
            Ok(Sent {
                message_id: Some(format!("dev-{n}")),
            })
        } else {
            let timeout = provider.timeout();
            tokio::time::timeout(timeout, provider.send(&message))
                .await
                .unwrap_or_else(|_| {
                    Err(DeliveryError::Unavailable(format!(
                        "no answer within {timeout:?}"
                    )))
                })
        };
        let detail = serde_json::json!({
            "namespace": app.namespace, "provider": id, "to": message.to.masked(),
            "ok": outcome.is_ok(),
        });
        self.audit_by(session, "provider_tested", detail, ip)
            .await?;
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_short_plain_names_the_server_does_not_keep() {
        assert_eq!(provider_id(" my-sms_2 ").unwrap(), "my-sms_2");
        for bad in [
            "",
            "Upper",
            "-lead",
            "sp ace",
            "dev_inbox",
            "inbound_sms",
            &"a".repeat(41),
        ] {
            assert!(provider_id(bad).is_err(), "{bad:?}");
        }
    }
}
