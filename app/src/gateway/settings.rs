//! What the engine is told at start: limits and defaults for every app, and each app
//! declared in the config file (its secret, pages and failover routes).

use crate::gateway::{
    address::{dialling_codes, Channel},
    code::{Alphabet, CodeSpec, OtpCode},
    fraud::{
        geo::{is_country, GeoPolicy},
        money::{Budgets, Money, PriceRule},
        tally::PumpingSettings,
    },
    limits::LimitSettings,
    secret::ApiSecret,
};
use crate::model::Namespace;
use serde::{Deserialize, Serialize};

/// Limits and defaults that apply to every app unless a request narrows them.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Public base URL used in links, without a trailing slash.
    pub root_url: String,
    pub default_ttl_secs: u64,
    pub default_max_attempts: u32,
    pub default_max_sends: u32,
    pub code_spec: CodeSpec,
    pub limits: LimitSettings,
    /// Lifetime of a verification token, at most five minutes.
    pub token_ttl_secs: i64,
    /// The number people text codes to (inbound verification), E.164.
    pub inbound_number: Option<String>,
    /// The Standard Webhooks key that authenticates `POST /v1/inbound/generic`.
    pub inbound_signing_secret: Option<Vec<u8>>,
    /// Whether people may make a tenant for themselves at `/dashboard/sign-up`.
    pub self_signup: bool,
    /// Verifications (with their events) older than this many days are purged; the stats
    /// rollups stay. 0 keeps everything.
    pub retention_days: u32,
    /// The SMS fraud guard's server-wide defaults and the pumping detector.
    pub guard: GuardSettings,
}

/// The fraud guard's settings for every app: the countries and budgets an app without
/// its own gets, the price table, and the pumping detector's thresholds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GuardSettings {
    pub geo: GeoPolicy,
    pub budgets: Budgets,
    pub prices: Vec<PriceRule>,
    pub pumping: PumpingSettings,
}

impl EngineSettings {
    pub const MAX_TTL_SECS: u64 = 24 * 60 * 60;
    pub const MAX_ATTEMPTS: u32 = 10;
    pub const MAX_SENDS: u32 = 10;
    pub const MAX_EXTRA_BYTES: usize = 4096;
    pub const MAX_DESCRIPTION_CHARS: usize = 200;
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            root_url: "http://127.0.0.1:3000".into(),
            default_ttl_secs: 600,
            default_max_attempts: 5,
            default_max_sends: 5,
            code_spec: CodeSpec::default(),
            limits: LimitSettings::default(),
            token_ttl_secs: 120,
            inbound_number: None,
            inbound_signing_secret: None,
            self_signup: false,
            retention_days: 90,
            guard: GuardSettings::default(),
        }
    }
}

/// An app declared in the config file.
#[derive(Debug, Clone)]
pub struct DeclaredApp {
    pub namespace: Namespace,
    pub secret: ApiSecret,
    pub name: Option<String>,
    /// otpgateway's behaviour of returning the code in API answers (off unless asked for).
    pub echo_code: bool,
    pub redirect_urls: Vec<String>,
    /// Its defaults, limits and hosted pages' look.
    pub settings: AppSettings,
    /// The tenant whose dashboard shows it, read-only.
    pub tenant: Option<i64>,
}

/// What an app sets for itself, in the config file or the dashboard; stored with the app.
/// `None` and empty lists leave the engine's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AppSettings {
    /// The code's lifetime when a request names none.
    pub ttl_secs: Option<u64>,
    /// Wrong codes allowed when a request names no number.
    pub max_attempts: Option<u32>,
    /// Messages (the first and re-sends) when a request names no number.
    pub max_sends: Option<u32>,
    /// The generated code's length and alphabet.
    pub code_length: Option<u32>,
    pub code_alphabet: Option<Alphabet>,
    /// The channels its verifications may use; empty: every channel.
    pub channels: Vec<Channel>,
    /// The country codes (`+91`, or longer prefixes) its phone numbers must start with;
    /// empty: any.
    pub prefixes: Vec<String>,
    /// How its hosted pages look and who may frame them.
    pub pages: AppPages,
    /// Test mode: every message goes to the app's dev inbox instead of its provider.
    pub test_mode: bool,
    /// Addresses whose verifications get a fixed code and whose messages go to the dev
    /// inbox, never out (as Twilio's test numbers).
    pub test_addresses: Vec<TestAddress>,
    /// Failover routes: providers to try in order, per channel and number prefix.
    pub routes: Vec<RouteRule>,
    /// The fraud guard: countries, budgets and prices of its own.
    pub guard: AppGuard,
}

/// An app's own fraud-guard settings; empty ones leave the server's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AppGuard {
    /// Countries (ISO 3166) its phone numbers may belong to, and countries refused.
    pub countries: GeoPolicy,
    pub budgets: Budgets,
    /// Prices of its messages, before the server's table.
    pub prices: Vec<PriceRule>,
}

impl AppGuard {
    /// Checks the lists, prices and budgets; the first refusal.
    pub fn check(&self) -> Result<(), SettingError> {
        if let Some(entry) = self.countries.invalid_entry() {
            refuse(
                "countries",
                format!("{entry:?}: write a country code such as IN or DE"),
            )?;
        }
        check_prices(&self.prices).map_err(|reason| SettingError {
            key: "prices",
            reason,
        })?;
        for (key, budget) in [
            ("daily_budget", self.budgets.daily),
            ("monthly_budget", self.budgets.monthly),
        ] {
            if budget.is_some_and(|b| b > Money::MAX) {
                refuse(key, "must be at most 1000000")?;
            }
        }
        Ok(())
    }
}

/// Checks a price table: each rule names a provider and a country (or `*`), at most
/// once; the first refusal's reason.
pub fn check_prices(prices: &[PriceRule]) -> Result<(), String> {
    for (i, rule) in prices.iter().enumerate() {
        if rule.provider.is_empty() || rule.provider.len() > 64 {
            return Err(format!("{:?}: name a provider", rule.provider));
        }
        if rule.country != "*" && !is_country(&rule.country) {
            return Err(format!(
                "{:?}: write a country code such as IN, or * for any",
                rule.country
            ));
        }
        if rule.price > Money::MAX {
            return Err(format!("{}: at most 1000000", rule.price));
        }
        if prices[..i]
            .iter()
            .any(|o| o.provider == rule.provider && o.country == rule.country)
        {
            return Err(format!(
                "{} {} is priced twice",
                rule.provider, rule.country
            ));
        }
    }
    Ok(())
}

/// A test address and the code every verification started for it gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestAddress {
    /// As its provider writes it: `+15005550006`, `qa@example.com`.
    pub address: String,
    pub code: String,
}

/// Why an app setting was refused: the setting's key and a reason that names the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingError {
    pub key: &'static str,
    pub reason: String,
}

fn refuse(key: &'static str, reason: impl Into<String>) -> Result<(), SettingError> {
    Err(SettingError {
        key,
        reason: reason.into(),
    })
}

impl AppSettings {
    /// The shape of generated codes, from `default` with this app's choices.
    pub fn code_spec(&self, default: CodeSpec) -> CodeSpec {
        CodeSpec {
            length: self.code_length.unwrap_or(default.length),
            alphabet: self.code_alphabet.unwrap_or(default.alphabet),
        }
    }

    /// The fixed code of a test address; `address` as its provider parsed it.
    pub fn test_code(&self, address: &str) -> Option<&str> {
        self.test_addresses
            .iter()
            .find(|t| t.address.eq_ignore_ascii_case(address))
            .map(|t| t.code.as_str())
    }

    /// Whether a message to `address` stays in the dev inbox.
    pub fn captures(&self, address: &str) -> bool {
        self.test_mode || self.test_code(address).is_some()
    }

    /// Whether the app takes a verification on `channel` to `address`: its channel is
    /// allowed, and a phone number starts with one of its country codes.
    pub fn admits(&self, channel: Channel, address: Option<&str>) -> Result<(), AdmitError> {
        // The channels setting limits where messages go; an authenticator app is sent none.
        let sends = channel != Channel::Totp;
        if sends && !self.channels.is_empty() && !self.channels.contains(&channel) {
            return Err(AdmitError::Channel);
        }
        let foreign = |a: &str| !self.prefixes.iter().any(|p| a.starts_with(p.as_str()));
        if channel.is_phone() && !self.prefixes.is_empty() && address.is_some_and(foreign) {
            return Err(AdmitError::Region);
        }
        Ok(())
    }

    /// The providers the app names (failover routes, then "didn't get it?" fallbacks), with
    /// the setting that names each.
    pub fn named_providers(&self) -> impl Iterator<Item = (&'static str, &str)> {
        let routes = self.routes.iter().flat_map(|rule| rule.providers.iter());
        routes.map(|p| ("routes", p.as_str())).chain(
            self.pages
                .fallbacks
                .iter()
                .map(|p| ("fallbacks", p.as_str())),
        )
    }

    /// Checks every value against the bounds the engine keeps; the first refusal.
    pub fn check(&self) -> Result<(), SettingError> {
        let within = |value: Option<u64>, max: u64| value.is_none_or(|v| (1..=max).contains(&v));
        if !within(self.ttl_secs, EngineSettings::MAX_TTL_SECS) {
            refuse("ttl_secs", "must be 1 to 86400 seconds")?;
        }
        if !within(
            self.max_attempts.map(u64::from),
            EngineSettings::MAX_ATTEMPTS.into(),
        ) {
            refuse("max_attempts", "must be 1 to 10")?;
        }
        if !within(
            self.max_sends.map(u64::from),
            EngineSettings::MAX_SENDS.into(),
        ) {
            refuse("max_sends", "must be 1 to 10")?;
        }
        if self
            .code_length
            .is_some_and(|l| !(CodeSpec::MIN_LEN..=CodeSpec::MAX_LEN).contains(&l))
        {
            refuse("code_length", "must be 4 to 16 characters")?;
        }
        if let Some(prefix) = self.prefixes.iter().find(|p| !is_number_prefix(p)) {
            refuse(
                "prefixes",
                format!("{prefix:?}: write a country code such as \"+91\""),
            )?;
        }
        for rule in &self.routes {
            if rule.providers.is_empty() {
                refuse(
                    "routes",
                    format!("{}: name at least one provider", rule.channel.as_str()),
                )?;
            }
            if !rule.prefix.is_empty() && !is_number_prefix(&rule.prefix) {
                refuse(
                    "routes",
                    format!("{:?}: write a country code such as \"+91\"", rule.prefix),
                )?;
            }
        }
        if self.test_addresses.len() > MAX_TEST_ADDRESSES {
            refuse("test_addresses", "are at most 20")?;
        }
        for (i, t) in self.test_addresses.iter().enumerate() {
            let printable = !t.address.is_empty()
                && t.address.len() <= 254
                && !t
                    .address
                    .chars()
                    .any(|c| c.is_control() || c.is_whitespace());
            if !printable {
                refuse(
                    "test_addresses",
                    format!("{:?}: write an address, a space and its code", t.address),
                )?;
            }
            if OtpCode::parse_custom(&t.code).is_err() {
                refuse(
                    "test_addresses",
                    format!("{:?}: a code is 4 to 16 letters or digits", t.code),
                )?;
            }
            if self.test_addresses[..i]
                .iter()
                .any(|o| o.address.eq_ignore_ascii_case(&t.address))
            {
                refuse("test_addresses", format!("{:?} is listed twice", t.address))?;
            }
        }
        self.guard.check()?;
        self.pages.check()
    }
}

/// How many test addresses an app may list.
pub const MAX_TEST_ADDRESSES: usize = 20;

/// Why an app does not take a verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdmitError {
    /// The app does not use this channel.
    Channel,
    /// The phone number is outside the app's countries.
    Region,
}

impl AppPages {
    /// Checks the lists and the look; the first refusal. Fallback providers are checked
    /// where the providers are known.
    pub fn check(&self) -> Result<(), SettingError> {
        if let Some(origin) = self.embed_origins.iter().find(|o| !is_origin(o)) {
            refuse(
                "embed_origins",
                format!("{origin:?} is not an origin like https://shop.example"),
            )?;
        }
        if let Some(tag) = self
            .locale
            .as_deref()
            .filter(|t| crate::i18n::Lang::from_tag(t).is_none())
        {
            let spoken: Vec<_> = crate::i18n::Lang::all().iter().map(|l| l.tag()).collect();
            refuse(
                "locale",
                format!("{tag:?}: the pages speak {}", spoken.join(", ")),
            )?;
        }
        if let Some(url) = self.logo_url.as_deref().filter(|u| !is_image_url(u)) {
            refuse(
                "logo_url",
                format!("{url:?}: use an https URL or a path such as /static/logo.svg"),
            )?;
        }
        if let Some(colour) = self.accent_color.as_deref().filter(|c| !is_hex_colour(c)) {
            refuse(
                "accent_color",
                format!("{colour:?}: write a colour as #rrggbb"),
            )?;
        }
        if let Some(region) = self
            .country
            .as_deref()
            .filter(|r| !dialling_codes().iter().any(|d| d.region == *r))
        {
            refuse(
                "country",
                format!("{region:?}: write a country code such as IN or DE"),
            )?;
        }
        Ok(())
    }
}

/// Checks an app's redirect allow-list: exact http(s) URLs.
pub fn check_redirect_urls(urls: &[String]) -> Result<(), SettingError> {
    match urls.iter().find(|u| !is_redirect_url(u)) {
        Some(url) => refuse("redirect_urls", format!("{url:?} is not an http(s) URL")),
        None => Ok(()),
    }
}

fn is_redirect_url(url: &str) -> bool {
    (url.starts_with("https://") || url.starts_with("http://"))
        && url.len() <= 2048
        && !url.chars().any(|c| c.is_control() || c.is_whitespace())
}

/// The start of an E.164 number: `+` and 1 to 15 digits (a country code such as `+91`,
/// or more of the number).
pub fn is_number_prefix(prefix: &str) -> bool {
    prefix
        .strip_prefix('+')
        .is_some_and(|d| (1..=15).contains(&d.len()) && d.chars().all(|c| c.is_ascii_digit()))
}

/// `scheme://host[:port]`, nothing more: what a browser reports as an origin.
pub fn is_origin(origin: &str) -> bool {
    let Some((scheme, rest)) = origin.split_once("://") else {
        return false;
    };
    matches!(scheme, "https" | "http")
        && !rest.is_empty()
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
}

/// An https URL, or a path on this server (`/static/logo.svg`), that can sit in an `src`
/// attribute as it is. Plain http is refused: the pages' CSP loads images over https only.
pub fn is_image_url(url: &str) -> bool {
    (url.starts_with("https://") || (url.starts_with('/') && !url.starts_with("//")))
        && url.len() <= 2048
        && !url
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>'))
}

/// `#rrggbb`.
pub fn is_hex_colour(colour: &str) -> bool {
    colour
        .strip_prefix('#')
        .is_some_and(|hex| hex.len() == 6 && hex.chars().all(|c| c.is_ascii_hexdigit()))
}

/// An app's hosted-page settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AppPages {
    /// Exact origins that may frame the hosted page (the embed modal).
    pub embed_origins: Vec<String>,
    /// The hosted pages' language when the verification names none (`de`, `ar`, ...).
    pub locale: Option<String>,
    /// The app's logo (an https URL or a path on this server), shown above every page.
    pub logo_url: Option<String>,
    /// The colour of the pages' buttons and focus rings, `#rrggbb`.
    pub accent_color: Option<String>,
    /// The country the phone number picker starts on (ISO 3166, e.g. `IN`).
    pub country: Option<String>,
    /// Providers the page offers when the code does not arrive ("didn't get it?"), in
    /// order; the verification's own provider is left out. Empty: no offer.
    pub fallbacks: Vec<String>,
}

/// One failover rule of an app: for `channel` (and, for phone numbers, addresses starting
/// with `prefix`), try `providers` in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteRule {
    pub channel: Channel,
    /// `+91`, `+1`, ... or empty for every address.
    pub prefix: String,
    pub providers: Vec<String>,
}

/// The providers to try for one message: the matching rule's order when it names the
/// requested provider, otherwise the requested provider first and the rule's after it.
/// The longest matching prefix wins.
pub fn route_for(
    rules: &[RouteRule],
    requested: &str,
    channel: Channel,
    address: &str,
) -> Vec<String> {
    let rule = rules
        .iter()
        .filter(|r| r.channel == channel && address.starts_with(&r.prefix))
        .max_by_key(|r| r.prefix.len());
    let mut route = vec![requested.to_owned()];
    if let Some(rule) = rule {
        if rule.providers.iter().any(|p| p == requested) {
            route.clone_from(&rule.providers);
        } else {
            route.extend(rule.providers.iter().cloned());
        }
    }
    let mut seen = std::collections::HashSet::new();
    route.retain(|p| seen.insert(p.clone()));
    route
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_pick_the_longest_prefix_and_keep_the_requested_provider() {
        let rule = |channel, prefix: &str, providers: &[&str]| RouteRule {
            channel,
            prefix: prefix.into(),
            providers: providers.iter().map(|p| p.to_string()).collect(),
        };
        let rules = [
            rule(Channel::Sms, "", &["twilio", "gateway"]),
            rule(Channel::Sms, "+91", &["kaleyra_sms", "twilio"]),
            rule(Channel::Email, "", &["smtp", "relay"]),
        ];
        let route = |p: &str, c, a: &str| route_for(&rules, p, c, a);
        // The requested provider is in the matching rule: the rule's order.
        assert_eq!(
            route("twilio", Channel::Sms, "+919876543210"),
            ["kaleyra_sms", "twilio"]
        );
        assert_eq!(
            route("twilio", Channel::Sms, "+14155550100"),
            ["twilio", "gateway"]
        );
        // It is not: first, then the rule's providers.
        assert_eq!(
            route("other", Channel::Sms, "+14155550100"),
            ["other", "twilio", "gateway"]
        );
        // Channels do not mix; no rule means the requested provider alone.
        assert_eq!(
            route("smtp", Channel::Email, "a@b.example"),
            ["smtp", "relay"]
        );
        assert_eq!(route("relay", Channel::Whatsapp, "+14155550100"), ["relay"]);
        assert_eq!(
            route_for(&[], "smtp", Channel::Email, "a@b.example"),
            ["smtp"]
        );
    }
}
