//! One verification's timeline as its tenant reads it: every event in order with its
//! detail (events never hold a code), and each event webhook message sent for it.

use crate::gateway::{
    error::EngineError,
    handle::Gateway,
    store::{AppRecord, VerificationRecord},
    tenants::Session,
};

/// A verification and what happened to it, oldest first.
#[derive(Debug, Clone)]
pub struct Timeline {
    pub app: AppRecord,
    pub record: VerificationRecord,
    pub lines: Vec<TimelineLine>,
}

/// One line: an event (`created`, `sent`, `attempt`, …) or `webhook` (a message posted
/// to one of the app's endpoints), when, and its detail as name and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineLine {
    pub at: i64,
    pub what: String,
    pub detail: Vec<(String, String)>,
}

/// A JSON object's members as text (strings without their quotes); nulls left out.
fn members(detail: &str) -> Vec<(String, String)> {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str(detail) else {
        return Vec::new();
    };
    map.into_iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => (k, s),
            other => (k, other.to_string()),
        })
        .collect()
}

impl Gateway {
    /// The timeline of verification `id` of one of the tenant's apps (every member).
    pub async fn verification_timeline(
        &self,
        session: &Session,
        namespace: &str,
        id: &str,
    ) -> Result<Timeline, EngineError> {
        let app = self.tenant_app(session, namespace).await?;
        let record = self
            .store()
            .find_verification(app.app_id, id.trim())
            .await?
            .ok_or(EngineError::NotFound)?;
        let store = self.store();
        let mut lines: Vec<TimelineLine> = store
            .timeline(record.verification_id)
            .await?
            .into_iter()
            .map(|e| TimelineLine {
                at: e.created_at,
                what: e.kind,
                detail: members(&e.detail),
            })
            .collect();
        for m in store.webhook_messages_of(record.verification_id).await? {
            let answer = match (m.last_status, m.last_error) {
                (_, Some(error)) => error,
                (Some(status), None) => status.to_string(),
                (None, None) => "not tried yet".to_owned(),
            };
            lines.push(TimelineLine {
                at: m.updated_at,
                what: "webhook".into(),
                detail: vec![
                    ("event".into(), m.event_type.unwrap_or_default()),
                    ("endpoint".into(), m.url),
                    ("status".into(), m.status),
                    ("tries".into(), m.attempts.to_string()),
                    ("answer".into(), answer),
                ],
            });
        }
        // Stable: an event and the webhook message it caused keep their order.
        lines.sort_by_key(|l| l.at);
        Ok(Timeline { app, record, lines })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_read_as_names_and_plain_values() {
        assert_eq!(
            members(r#"{"provider":"sms","attempt":2,"message_id":null}"#),
            vec![
                ("attempt".to_owned(), "2".to_owned()),
                ("provider".to_owned(), "sms".to_owned())
            ]
        );
        assert!(members("not json").is_empty());
    }
}
