//! The pages' words as the server reads them: every language folder under
//! `app/locales/` compiled into the binary by `fluent-templates`, and the browser's
//! `Accept-Language` (read with `accept-language`, q-values included) negotiated against
//! them with `fluent-langneg`. Server-only.

use super::{texts::Texts, Lang};
use fluent_templates::{fluent_bundle::FluentValue, LanguageIdentifier, Loader};
use std::{borrow::Cow, collections::HashMap, sync::LazyLock};

fluent_templates::static_loader! {
    static LOCALES = {
        locales: "./locales",
        fallback_language: "en",
        // `{}` placeholders go to the page as they are: no bidi isolation marks.
        customise: |bundle| bundle.set_use_isolating(false),
    };
}

/// The languages the pages speak: one per folder under `app/locales/`, English first.
static LANGUAGES: LazyLock<Vec<Lang>> = LazyLock::new(|| {
    let mut tags: Vec<String> = LOCALES.locales().map(|id| id.to_string()).collect();
    tags.sort_by_key(|tag| (tag != Lang::EN.tag(), tag.clone()));
    tags.into_iter()
        .map(|tag| match tag.as_str() {
            "en" => Lang::EN,
            _ => Lang(Box::leak(tag.into_boxed_str())),
        })
        .collect()
});

/// The same languages as Fluent identifiers, in the same order (lookups, negotiation).
static LANGUAGE_IDS: LazyLock<Vec<LanguageIdentifier>> = LazyLock::new(|| {
    LANGUAGES
        .iter()
        .map(|l| l.tag().parse().expect("language tags parse"))
        .collect()
});

/// Each language's texts, made from its Fluent file once, in the order of [`LANGUAGES`].
static TEXTS: LazyLock<Vec<Texts>> = LazyLock::new(|| {
    let args = placeholder();
    LANGUAGE_IDS
        .iter()
        .map(|id| Texts::from_lookup(|name| LOCALES.lookup_with_args(id, name, &args)))
        .collect()
});

/// The one Fluent variable the pages' words use, `{ $value }`, left as `{}` for `fill`,
/// which the island runs too.
fn placeholder() -> HashMap<Cow<'static, str>, FluentValue<'static>> {
    HashMap::from([(Cow::Borrowed("value"), FluentValue::from("{}"))])
}

/// Each language's texts as the JSON object the code page's seed carries, made once.
static TEXTS_JSON: LazyLock<Vec<String>> = LazyLock::new(|| {
    LANGUAGES
        .iter()
        .map(|lang| serde_json::to_string(lang.texts()).expect("texts serialise"))
        .collect()
});

impl Lang {
    /// Every language the pages speak, English first.
    pub fn all() -> &'static [Lang] {
        &LANGUAGES
    }

    /// `de`, `de-AT` or `pt_BR`, by its language; `None` when the pages do not speak it.
    pub fn from_tag(tag: &str) -> Option<Lang> {
        let language = Lang::primary(tag)?;
        LANGUAGES.iter().copied().find(|l| l.tag() == language)
    }

    fn index(self) -> usize {
        LANGUAGES
            .iter()
            .position(|l| *l == self)
            .expect("a language of the pages")
    }

    /// This language's words.
    pub fn texts(self) -> &'static Texts {
        &TEXTS[self.index()]
    }

    /// This language's words as a JSON object (`{"loading": "…", …}`).
    pub fn texts_json(self) -> &'static str {
        &TEXTS_JSON[self.index()]
    }

    /// The language an `Accept-Language` header prefers among those the pages speak, by
    /// its q-values; `None` when it names none of them.
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        let requested: Vec<LanguageIdentifier> = accept_language::parse_with_quality(header)
            .into_iter()
            .filter(|(_, quality)| *quality > 0.0)
            .filter_map(|(tag, _)| tag.parse().ok())
            .collect();
        let chosen = *fluent_langneg::negotiate_languages(
            &requested,
            &LANGUAGE_IDS,
            None,
            fluent_langneg::NegotiationStrategy::Lookup,
        )
        .first()?;
        let index = LANGUAGE_IDS.iter().position(|id| id == chosen)?;
        Some(LANGUAGES[index])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_has_every_text() {
        let args = placeholder();
        // The languages are the folders, nothing else.
        let folders = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/locales"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect::<std::collections::BTreeSet<_>>();
        let tags = Lang::all().iter().map(|l| l.tag().to_owned()).collect();
        assert_eq!(folders, tags);
        assert_eq!(Lang::all()[0], Lang::EN);
        for (lang, id) in Lang::all().iter().zip(LANGUAGE_IDS.iter()) {
            for name in Texts::NAMES {
                let text = LOCALES.lookup_single_language(id, name, Some(&args));
                assert!(
                    text.is_ok_and(|t| !t.trim().is_empty()),
                    "{lang:?} has no {name}"
                );
            }
        }
    }

    #[test]
    fn placeholders_reach_the_page_as_braces() {
        assert_eq!(
            super::super::fill(Lang::EN.texts().sent_to, &["jo**@example.com"]),
            "We sent a code to jo**@example.com."
        );
        let lang = |tag| Lang::from_tag(tag).unwrap();
        assert_eq!(lang("de").texts().loading, "Wird geladen…");
        assert!(
            !lang("ar").texts().sent_to.contains('\u{2068}'),
            "no isolation marks"
        );
        let json: serde_json::Value = serde_json::from_str(lang("fr").texts_json()).unwrap();
        assert_eq!(json["verify"], lang("fr").texts().verify);
    }
}
