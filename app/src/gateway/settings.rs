//! What the engine is told at start: limits and defaults for every app, and each app
//! declared in the config file (its secret, pages and failover routes).

use crate::gateway::{address::Channel, code::CodeSpec, limits::LimitSettings, secret::ApiSecret};
use crate::model::Namespace;

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
    /// How the app's hosted pages look and who may frame them.
    pub pages: AppPages,
    /// Failover routes: providers to try in order, per channel and number prefix.
    pub routes: Vec<RouteRule>,
}

/// An app's hosted-page settings, as the config file declares them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
#[derive(Debug, Clone, PartialEq, Eq)]
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
