//! Apps' own message templates as the worker uses them: read and compiled once for each
//! revision of an app's templates (`app.templates_rev`, carried by every claim; see
//! `revisions.rs`), not for every message.

use crate::gateway::{
    delivery::MessageTemplate,
    revisions::ByRevision,
    store::{pick_template, AppTemplate},
};

/// One app's templates at one revision, each compiled (`None`: it no longer compiles).
#[derive(Debug, Default)]
pub(crate) struct AppTemplates {
    stored: Vec<AppTemplate>,
    compiled: Vec<Option<MessageTemplate>>,
}

impl AppTemplates {
    pub(super) fn compile(stored: Vec<AppTemplate>) -> Self {
        let compiled = stored
            .iter()
            .map(
                |t| match MessageTemplate::new(&t.subject, &t.body, t.html.as_deref()) {
                    Ok(compiled) => Some(compiled),
                    Err(e) => {
                        // Templates are checked when saved; this one was broken since.
                        tracing::error!(error = %e, channel = %t.channel, locale = %t.locale,
                        "an app's stored template does not compile; using the provider's");
                        None
                    }
                },
            )
            .collect();
        Self { stored, compiled }
    }

    /// The template for `channel` and `locale` (`pick_template`), if the app has one that
    /// compiles.
    pub(super) fn pick(&self, channel: &str, locale: &str) -> Option<&MessageTemplate> {
        let picked = pick_template(&self.stored, channel, locale)?;
        let at = self.stored.iter().position(|t| std::ptr::eq(t, picked))?;
        self.compiled[at].as_ref()
    }
}

/// Each app's compiled templates, by `templates_rev`.
pub(crate) type TemplateBook = ByRevision<AppTemplates>;
