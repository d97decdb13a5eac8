//! The hosted pages' languages: English, German, Spanish, French, Hindi and Arabic. The
//! words are Fluent files (`app/locales/<tag>/pages.ftl`), read on the server by
//! `words.rs`.
//!
//! A page picks its language from `?lang=`, then the verification's locale, then the
//! app's default, then the browser's `Accept-Language`, then English. `{}` in a text is
//! filled by [`fill`].

mod texts;
#[cfg(feature = "ssr")]
mod words;

pub use texts::Texts;

use serde::{Deserialize, Serialize};

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

/// A language of the hosted pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    En,
    De,
    Es,
    Fr,
    Hi,
    Ar,
}

impl Lang {
    pub const ALL: [Lang; 6] = [Lang::En, Lang::De, Lang::Es, Lang::Fr, Lang::Hi, Lang::Ar];

    /// The BCP 47 tag, for `<html lang>`.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::De => "de",
            Lang::Es => "es",
            Lang::Fr => "fr",
            Lang::Hi => "hi",
            Lang::Ar => "ar",
        }
    }

    /// `rtl` for Arabic, `ltr` otherwise.
    pub fn dir(self) -> &'static str {
        if self == Lang::Ar {
            "rtl"
        } else {
            "ltr"
        }
    }

    /// A tag such as `de`, `de-AT` or `pt-BR`, by its language; `None` when not offered.
    pub fn from_tag(tag: &str) -> Option<Lang> {
        let language = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        Lang::ALL.into_iter().find(|l| l.tag() == language)
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
        assert_eq!(Lang::from_tag("de-AT"), Some(Lang::De));
        assert_eq!(Lang::from_tag("AR"), Some(Lang::Ar));
        assert_eq!(Lang::from_tag("pt-BR"), None);
        assert_eq!(
            Lang::from_accept_language("pt-BR,pt;q=0.9,fr;q=0.8,en;q=0.7"),
            Some(Lang::Fr)
        );
        assert_eq!(Lang::from_accept_language("en;q=0.5, hi"), Some(Lang::Hi));
        assert_eq!(Lang::from_accept_language("de;q=0"), None);
        assert_eq!(Lang::from_accept_language(""), None);
        assert_eq!(Lang::Ar.dir(), "rtl");
        assert_eq!(Lang::Hi.dir(), "ltr");
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
        for lang in Lang::ALL {
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
