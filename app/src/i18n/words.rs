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

/// Each language's texts, made from its Fluent file once.
static TEXTS: LazyLock<Vec<Texts>> = LazyLock::new(|| {
    let args = placeholder();
    Lang::ALL
        .iter()
        .map(|lang| {
            let id = lang.langid();
            Texts::from_lookup(|name| LOCALES.lookup_with_args(&id, name, &args))
        })
        .collect()
});

/// The one Fluent variable the pages' words use, `{ $value }`, left as `{}` for `fill`,
/// which the island runs too.
fn placeholder() -> HashMap<Cow<'static, str>, FluentValue<'static>> {
    HashMap::from([(Cow::Borrowed("value"), FluentValue::from("{}"))])
}

/// Each language's texts as the JSON object the code page's seed carries, made once.
static TEXTS_JSON: LazyLock<Vec<String>> = LazyLock::new(|| {
    Lang::ALL
        .iter()
        .map(|lang| serde_json::to_string(lang.texts()).expect("texts serialise"))
        .collect()
});

impl Lang {
    fn langid(self) -> LanguageIdentifier {
        self.tag().parse().expect("language tags parse")
    }

    fn index(self) -> usize {
        Lang::ALL
            .iter()
            .position(|l| *l == self)
            .expect("every language is in ALL")
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
        let available: Vec<LanguageIdentifier> = Lang::ALL.iter().map(|l| l.langid()).collect();
        let chosen = fluent_langneg::negotiate_languages(
            &requested,
            &available,
            None,
            fluent_langneg::NegotiationStrategy::Lookup,
        );
        let tag = chosen.first()?.to_string();
        Lang::from_tag(&tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_has_every_text() {
        let args = placeholder();
        for lang in Lang::ALL {
            let id = lang.langid();
            for name in Texts::NAMES {
                let text = LOCALES.lookup_single_language(&id, name, Some(&args));
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
            super::super::fill(Lang::En.texts().sent_to, &["jo**@example.com"]),
            "We sent a code to jo**@example.com."
        );
        assert_eq!(Lang::De.texts().loading, "Wird geladen…");
        assert!(
            !Lang::Ar.texts().sent_to.contains('\u{2068}'),
            "no isolation marks"
        );
    }
}
