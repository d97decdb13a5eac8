//! An app's own message templates as its tenant edits them: per channel and language,
//! compiled by the same minijinja code the outbox renders with (a broken one is refused
//! with its part, line and reason), previewed with sample values, and audited.

use crate::gateway::{
    address::{Address, Channel},
    clock::human_duration,
    code::{CodeSpec, OtpCode},
    delivery::{MessageMeta, MessageTemplate, OutgoingMessage, Provider, Rendered, TemplateVars},
    error::EngineError,
    handle::Gateway,
    store::{pick_template, AppRecord, AppTemplate},
    tenants::Session,
};

/// The code previews and test messages show.
const SAMPLE_CODE: &str = "123456";

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
        Ok(self.with_sample(&app, channel, to, |vars| template.render(vars)))
    }

    /// Calls `f` with the values a sample message of `app` on `channel` to `to` has.
    fn with_sample<R>(
        &self,
        app: &AppRecord,
        channel: Channel,
        to: &str,
        f: impl FnOnce(&TemplateVars<'_>) -> R,
    ) -> R {
        let url = format!(
            "{}/otp/{}/sample-id",
            self.settings().root_url,
            app.namespace
        );
        f(&TemplateVars {
            to,
            namespace: &app.namespace,
            app_name: &app.name,
            channel: channel.label(),
            otp: SAMPLE_CODE,
            otp_url: &url,
            otp_link: &format!("{url}?code={SAMPLE_CODE}"),
            otp_ttl: &human_duration(self.sample_ttl(app)),
        })
    }

    fn sample_ttl(&self, app: &AppRecord) -> u64 {
        app.settings
            .ttl_secs
            .unwrap_or(self.settings().default_ttl_secs)
    }

    /// A message of `app` through `provider` to `to` with the sample code, written as the
    /// outbox would write it (the app's own template first).
    pub(crate) async fn sample_message(
        &self,
        app: &AppRecord,
        provider: &dyn Provider,
        to: Address,
    ) -> Result<OutgoingMessage, EngineError> {
        let channel = provider.channel();
        let locale = app.settings.pages.locale.clone().unwrap_or_default();
        let templates = self.store().app_templates(app.app_id).await?;
        let own = pick_template(&templates, channel.as_str(), &locale)
            .and_then(|t| MessageTemplate::new(&t.subject, &t.body, t.html.as_deref()).ok());
        let rendered = self.with_sample(app, channel, to.as_str(), |vars| {
            provider
                .templates()
                .render_with(own.as_ref(), &locale, vars)
        });
        let code = OtpCode::parse(SAMPLE_CODE, CodeSpec::default())
            .expect("the sample code is a valid code");
        let s = self.settings();
        Ok(OutgoingMessage {
            to,
            subject: rendered.subject,
            text: rendered.text,
            html: rendered.html,
            meta: MessageMeta {
                namespace: app.namespace.clone(),
                id: "test".into(),
                provider: provider.id().to_owned(),
                code,
                channel_description: String::new(),
                address_description: String::new(),
                extra: "{}".into(),
                attempts: 0,
                max_attempts: app.settings.max_attempts.unwrap_or(s.default_max_attempts),
                sends: 1,
                max_sends: app.settings.max_sends.unwrap_or(s.default_max_sends),
                ttl_secs: self.sample_ttl(app),
            },
        })
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
