//! An app's own message templates as its tenant edits them: per channel and language,
//! compiled by the same minijinja code the outbox renders with (a broken one is refused
//! with its part, line and reason), previewed with sample values, and audited.

use crate::gateway::{
    address::Channel,
    clock::human_duration,
    delivery::{MessageTemplate, Rendered, TemplateVars},
    error::EngineError,
    handle::Gateway,
    store::{AppRecord, AppTemplate},
    tenants::Session,
};

/// The longest subject, text body and HTML body a template may have, in bytes.
const MAX_SUBJECT: usize = 200;
const MAX_TEXT: usize = 2000;
const MAX_HTML: usize = 65_536;

/// A template as typed in the dashboard, before it is checked.
#[derive(Debug, Clone, Default)]
pub struct TemplateDraft {
    pub channel: String,
    /// A language tag (`de`, `pt-BR`) or empty for every language.
    pub locale: String,
    pub subject: String,
    pub body: String,
    /// Empty: no HTML part.
    pub html: String,
}

impl TemplateDraft {
    /// The channel, the language and the compiled template; the first problem otherwise.
    fn compile(&self) -> Result<(Channel, String, MessageTemplate), EngineError> {
        let channel = Channel::parse(self.channel.trim()).ok_or_else(|| {
            EngineError::invalid("channel", "must be email, sms, whatsapp, voice or other")
        })?;
        let locale = self.locale.trim().to_owned();
        if !locale.is_empty() && crate::i18n::Lang::from_tag(&locale).is_none() {
            return Err(EngineError::invalid(
                "language",
                format!("{locale:?} is not one the pages and messages speak"),
            ));
        }
        if self.body.trim().is_empty() {
            return Err(EngineError::invalid("text", "must not be empty"));
        }
        for (field, text, max) in [
            ("subject", &self.subject, MAX_SUBJECT),
            ("text", &self.body, MAX_TEXT),
            ("HTML", &self.html, MAX_HTML),
        ] {
            if text.len() > max {
                return Err(EngineError::invalid(
                    field,
                    format!("is longer than {max} bytes"),
                ));
            }
        }
        let html = Some(self.html.as_str()).filter(|h| !h.trim().is_empty());
        let template = MessageTemplate::new(&self.subject, &self.body, html)
            .map_err(|e| EngineError::invalid("template", format!("does not compile: {e}")))?;
        Ok((channel, locale, template))
    }
}

impl Gateway {
    /// One of the tenant's apps and its templates (every member).
    pub async fn app_templates(
        &self,
        session: &Session,
        namespace: &str,
    ) -> Result<(AppRecord, Vec<AppTemplate>), EngineError> {
        let app = self.tenant_app(session, namespace).await?;
        let templates = self.store().app_templates(app.app_id).await?;
        Ok((app, templates))
    }

    /// `draft` rendered with sample values, as a message of `app` would read; refused as
    /// saving would refuse it. Changes nothing.
    pub async fn preview_template(
        &self,
        session: &Session,
        namespace: &str,
        draft: &TemplateDraft,
    ) -> Result<Rendered, EngineError> {
        let app = self.tenant_app(session, namespace).await?;
        let (channel, _, template) = draft.compile()?;
        let to = match channel {
            Channel::Email => "someone@example.com",
            Channel::Other => "someone",
            _ => "+15005550006",
        };
        let code = "123456";
        let url = format!(
            "{}/otp/{}/sample-id",
            self.settings().root_url,
            app.namespace
        );
        let ttl = app
            .settings
            .ttl_secs
            .unwrap_or(self.settings().default_ttl_secs);
        Ok(template.render(&TemplateVars {
            to,
            namespace: &app.namespace,
            app_name: &app.name,
            channel: channel.label(),
            otp: code,
            otp_url: &url,
            otp_link: &format!("{url}?code={code}"),
            otp_ttl: &human_duration(ttl),
        }))
    }

    /// Saves `draft` as the app's template for its channel and language (owners and
    /// developers); a template that does not compile is refused and nothing changes.
    pub async fn save_app_template(
        &self,
        session: &Session,
        namespace: &str,
        draft: &TemplateDraft,
        ip: &str,
    ) -> Result<AppTemplate, EngineError> {
        let app = self.managed_app(session, namespace).await?;
        let (channel, locale, _) = draft.compile()?;
        let html = Some(draft.html.clone()).filter(|h| !h.trim().is_empty());
        let template = AppTemplate {
            app_id: app.app_id,
            channel: channel.as_str().to_owned(),
            locale,
            subject: draft.subject.clone(),
            body: draft.body.clone(),
            html,
            updated_at: self.now_ms(),
        };
        self.store().put_app_template(&template).await?;
        let detail = serde_json::json!({
            "namespace": app.namespace, "channel": template.channel, "language": template.locale,
        });
        self.audit_by(session, "template_saved", detail, ip).await?;
        Ok(template)
    }

    /// Removes one of the app's templates (owners and developers); its messages go back
    /// to the providers' wording.
    pub async fn delete_app_template(
        &self,
        session: &Session,
        namespace: &str,
        channel: &str,
        locale: &str,
        ip: &str,
    ) -> Result<(), EngineError> {
        let app = self.managed_app(session, namespace).await?;
        if !self
            .store()
            .delete_app_template(app.app_id, channel, locale)
            .await?
        {
            return Err(EngineError::NotFound);
        }
        let detail = serde_json::json!({
            "namespace": app.namespace, "channel": channel, "language": locale,
        });
        self.audit_by(session, "template_deleted", detail, ip).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_template_names_its_part_and_line() {
        let draft = TemplateDraft {
            channel: "sms".into(),
            body: "Your code:\n{{ OTP }\n".into(),
            ..TemplateDraft::default()
        };
        match draft.compile() {
            Err(EngineError::InvalidInput { field, reason }) => {
                assert_eq!(field, "template");
                assert!(
                    reason.contains("body.txt") && reason.contains(":2"),
                    "{reason}"
                );
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
    }
}
