//! The hosted pages' languages: one folder of Fluent files each
//! (`app/locales/<tag>/pages.ftl`; English, German, Spanish, French, Hindi and Arabic
//! today), read on the server by `words.rs`. A language is added by adding its folder.
//!
//! A page picks its language from `?lang=`, then the verification's locale, then the
//! app's default, then the browser's `Accept-Language`, then English. `{}` in a text is
//! filled by [`fill`].

mod texts;
#[cfg(feature = "ssr")]
mod words;

pub use texts::Texts;

/// The region of the first language tag in an `Accept-Language` header that names one
/// (`de-AT,de;q=0.9` → `AT`), for the phone number picker.
pub fn region_of(accept_language: &str) -> Option<String> {
    accept_language.split(',').find_map(|part| {
        let tag = part.split(';').next()?.trim();
        let region = tag.split(['-', '_']).nth(1)?;
        (region.len() == 2 && region.bytes().all(|b| b.is_ascii_alphabetic()))
            .then(|| region.to_ascii_uppercase())
    })
}

/// A language of the hosted pages: the tag of one of the folders under `app/locales/`
/// (on the server, only those; in the browser, whatever the page's seed names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lang(&'static str);

/// Languages written right to left, by their language subtag.
const RIGHT_TO_LEFT: [&str; 9] = ["ar", "dv", "fa", "he", "ps", "sd", "ug", "ur", "yi"];

impl Default for Lang {
    fn default() -> Self {
        Lang::EN
    }
}

impl Lang {
    /// English, the fallback: its file holds every message.
    pub const EN: Lang = Lang("en");

    /// The BCP 47 tag, for `<html lang>`.
    pub fn tag(self) -> &'static str {
        self.0
    }

    /// `rtl` for a language written right to left, `ltr` otherwise.
    pub fn dir(self) -> &'static str {
        if RIGHT_TO_LEFT.contains(&self.0) {
            "rtl"
        } else {
            "ltr"
        }
    }

    /// The language subtag of `de`, `de-AT` or `pt_BR`, lower-cased.
    fn primary(tag: &str) -> Option<String> {
        let language = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        (!language.is_empty()).then_some(language)
    }

    /// The language the seed of a page names (the server wrote it, so it is one the pages
    /// speak); made once per page load.
    #[cfg(not(feature = "ssr"))]
    pub fn from_tag(tag: &str) -> Option<Lang> {
        Lang::primary(tag).map(|language| Lang(Box::leak(language.into_boxed_str())))
    }
}

impl serde::Serialize for Lang {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Lang {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let tag = String::deserialize(deserializer)?;
        Lang::from_tag(&tag).ok_or_else(|| serde::de::Error::custom("not a language of the pages"))
    }
}

/// Replaces each `{}` in order with `values`.
pub fn fill(text: &str, values: &[&str]) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    for value in values {
        match rest.split_once("{}") {
            Some((before, after)) => {
                out.push_str(before);
                out.push_str(value);
                rest = after;
            }
            None => break,
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "ssr")]
    #[test]
    fn languages_come_from_tags_and_accept_language() {
        let lang = |tag| Lang::from_tag(tag).unwrap();
        assert_eq!(Lang::from_tag("de-AT"), Some(lang("de")));
        assert_eq!(Lang::from_tag("AR").map(Lang::tag), Some("ar"));
        assert_eq!(Lang::from_tag("pt-BR"), None);
        assert_eq!(
            Lang::from_accept_language("pt-BR,pt;q=0.9,fr;q=0.8,en;q=0.7"),
            Some(lang("fr"))
        );
        assert_eq!(Lang::from_accept_language("en;q=0.5, hi"), Some(lang("hi")));
        assert_eq!(Lang::from_accept_language("de;q=0"), None);
        assert_eq!(Lang::from_accept_language(""), None);
        assert_eq!(lang("ar").dir(), "rtl");
        assert_eq!(lang("hi").dir(), "ltr");
    }

    #[test]
    fn the_phone_picker_takes_the_first_region_the_browser_names() {
        assert_eq!(region_of("de-AT,de;q=0.9"), Some("AT".into()));
        assert_eq!(region_of("fr, en_gb;q=0.5"), Some("GB".into()));
        assert_eq!(region_of("en, fr"), None);
        assert_eq!(region_of("zh-Hant-TW"), None);
        assert_eq!(region_of(""), None);
    }

    #[test]
    fn placeholders_are_filled_in_order() {
        assert_eq!(
            fill("We sent a code to {}.", &["jo**@example.com"]),
            "We sent a code to jo**@example.com."
        );
        assert_eq!(fill("{} and {}", &["a"]), "a and {}");
    }

    #[cfg(feature = "ssr")]
    #[test]
    fn every_placeholder_text_has_one_placeholder_in_every_language() {
        for &lang in Lang::all() {
            let t = lang.texts();
            for text in [
                t.sent_to,
                t.expires_in,
                t.send_new_in,
                t.waiting,
                t.attempts_left,
                t.incorrect,
                t.resent,
                t.sent,
                t.page_title,
            ] {
                assert_eq!(text.matches("{}").count(), 1, "{lang:?}: {text}");
            }
        }
    }
}
