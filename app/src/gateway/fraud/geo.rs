//! Geo permissions: the country a phone number belongs to, read from libphonenumber's
//! numbering plans (so `+1 876 …` is Jamaica, not the United States), and the lists of
//! countries an app accepts or refuses.

use serde::{Deserialize, Serialize};

/// The ISO 3166 country of a number in E.164 (`US`, `JM`, `IN`); `None` for numbers of
/// no country (`+800` freephone, `+882` networks) and anything unparsable. A number the
/// plans of a shared calling code do not place (an unassigned range) belongs to the
/// code's main country, as libphonenumber lists it first.
pub fn country_of(e164: &str) -> Option<String> {
    let number = phonenumber::parse(None, e164).ok()?;
    if let Some(id) = number.country().id() {
        return Some(id.as_ref().to_owned());
    }
    let regions = phonenumber::metadata::DATABASE.region(&number.country().code())?;
    regions
        .first()
        .filter(|r| is_country(r))
        .map(|r| (*r).to_owned())
}

/// Whether `code` names a country of the numbering plans (`IN`, `DE`).
pub fn is_country(code: &str) -> bool {
    code.len() == 2 && code.parse::<phonenumber::country::Id>().is_ok()
}

/// The block of 100 numbers `e164` falls in: the number without its last two digits
/// (`+4915112345678` → `+49151123456`). Sequential pumping walks through blocks.
pub fn block_of(e164: &str) -> Option<&str> {
    let digits = e164.strip_prefix('+')?;
    (digits.len() >= 8 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| &e164[..e164.len() - 2])
}

/// Which countries' numbers are accepted: an allow-list (empty: every country) and a
/// block-list that wins over it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GeoPolicy {
    pub allowed: Vec<String>,
    pub blocked: Vec<String>,
}

impl GeoPolicy {
    /// An app's policy over the server's: the app's allow-list replaces the server's
    /// when it has one; both block-lists apply.
    pub fn over(&self, server: &GeoPolicy) -> GeoPolicy {
        let allowed = if self.allowed.is_empty() {
            server.allowed.clone()
        } else {
            self.allowed.clone()
        };
        let mut blocked = server.blocked.clone();
        blocked.extend(self.blocked.iter().cloned());
        GeoPolicy { allowed, blocked }
    }

    /// Whether a number of `country` (`None`: of no country) may be sent to. A number of
    /// no country passes only when no allow-list is set.
    pub fn permits(&self, country: Option<&str>) -> bool {
        match country {
            Some(c) => {
                !self.blocked.iter().any(|b| b == c)
                    && (self.allowed.is_empty() || self.allowed.iter().any(|a| a == c))
            }
            None => self.allowed.is_empty(),
        }
    }

    /// The first entry that is not a country code, for a setting's error.
    pub fn invalid_entry(&self) -> Option<&str> {
        self.allowed
            .iter()
            .chain(&self.blocked)
            .map(String::as_str)
            .find(|c| !is_country(c))
    }

    /// Upper-cased, as lists are compared.
    pub fn normalised(mut self) -> Self {
        for c in self.allowed.iter_mut().chain(self.blocked.iter_mut()) {
            *c = c.trim().to_ascii_uppercase();
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countries_come_from_the_numbering_plan_not_the_calling_code() {
        assert_eq!(country_of("+14155550100").as_deref(), Some("US"));
        assert_eq!(country_of("+16135550100").as_deref(), Some("CA"));
        assert_eq!(country_of("+18765550100").as_deref(), Some("JM"));
        assert_eq!(country_of("+919876543210").as_deref(), Some("IN"));
        assert_eq!(country_of("+447400123456").as_deref(), Some("GB"));
        assert_eq!(country_of("+2348030000001").as_deref(), Some("NG"));
        assert_eq!(country_of("+80012345678"), None);
        assert_eq!(country_of("not a number"), None);
    }

    #[test]
    fn blocks_are_the_number_without_its_last_two_digits() {
        assert_eq!(block_of("+4915112345678"), Some("+49151123456"));
        assert_eq!(block_of("+123"), None);
        assert_eq!(block_of("a@b.test"), None);
    }

    #[test]
    fn the_block_list_wins_and_an_app_list_replaces_the_servers() {
        let server = GeoPolicy {
            allowed: vec!["US".into(), "CA".into()],
            blocked: vec!["JM".into()],
        };
        let own = GeoPolicy {
            allowed: vec![],
            blocked: vec!["CA".into()],
        };
        let p = own.over(&server);
        assert!(p.permits(Some("US")));
        assert!(!p.permits(Some("CA")), "blocked by the app");
        assert!(!p.permits(Some("IN")), "outside the server's allow-list");
        assert!(!p.permits(None), "no country, allow-list set");
        let own = GeoPolicy {
            allowed: vec!["IN".into(), "JM".into()],
            blocked: vec![],
        };
        let p = own.over(&server);
        assert!(p.permits(Some("IN")));
        assert!(!p.permits(Some("US")));
        assert!(
            !p.permits(Some("JM")),
            "the server's block-list still applies"
        );
        assert!(GeoPolicy::default().permits(None));
    }

    #[test]
    fn entries_must_be_countries() {
        let p = GeoPolicy {
            allowed: vec!["IN".into(), "+91".into()],
            blocked: vec![],
        };
        assert_eq!(p.invalid_entry(), Some("+91"));
        let p = GeoPolicy {
            allowed: vec!["in ".into()],
            blocked: vec![],
        }
        .normalised();
        assert_eq!(p.invalid_entry(), None);
    }
}
