//! Apps' own message templates as the worker uses them: read once for each revision of an
//! app's templates (`app.templates_rev`, which every template write moves in its
//! transaction and every claim carries) and compiled once, not read and compiled again
//! for every message.

use crate::gateway::{
    delivery::MessageTemplate,
    store::{pick_template, AppTemplate},
};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
};

/// One app's templates at one revision, each compiled (`None`: it no longer compiles).
#[derive(Debug)]
pub(super) struct AppTemplates {
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

/// The compiled templates of each app, at the revision last seen.
#[derive(Debug, Default)]
pub(crate) struct TemplateBook {
    by_app: Mutex<HashMap<i64, (i64, Arc<AppTemplates>)>>,
}

impl TemplateBook {
    fn lock(&self) -> MutexGuard<'_, HashMap<i64, (i64, Arc<AppTemplates>)>> {
        // Each critical section is one map operation: nothing is left half done.
        self.by_app.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// App `app_id`'s templates if they were read at revision `rev`.
    pub(super) fn get(&self, app_id: i64, rev: i64) -> Option<Arc<AppTemplates>> {
        self.lock()
            .get(&app_id)
            .filter(|(kept, _)| *kept == rev)
            .map(|(_, templates)| templates.clone())
    }

    /// Keeps `templates`, read after a claim that saw revision `rev`.
    pub(super) fn keep(&self, app_id: i64, rev: i64, templates: Arc<AppTemplates>) {
        self.lock().insert(app_id, (rev, templates));
    }
}
