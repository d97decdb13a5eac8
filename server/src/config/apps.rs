//! `[auth.<name>]`: the apps the config file declares, checked into
//! [`DeclaredApp`]s (secret, redirect and embed allow-lists, pages' look, failover routes).

use super::{invalid, ConfigError};
use app::gateway::{
    address::Channel,
    code::Alphabet,
    secret::ApiSecret,
    settings::{check_redirect_urls, is_number_prefix, AppSettings, TestAddress},
    AppPages, DeclaredApp, RouteRule,
};
use app::model::Namespace;
use serde::Deserialize;

#[derive(Deserialize)]
pub(super) struct AuthEntry {
    pub(super) namespace: String,
    pub(super) secret: String,
    // otpgate's own keys.
    pub(super) name: Option<String>,
    /// The tenant (its id, as `otpgate tenant create` prints it) whose dashboard shows
    /// the app, read-only.
    pub(super) tenant: Option<i64>,
    #[serde(default)]
    pub(super) echo_otp: bool,
    #[serde(default)]
    pub(super) redirect_urls: Vec<String>,
    /// Sites that may frame the hosted page (the `otp.js` modal), as exact origins.
    #[serde(default)]
    pub(super) embed_origins: Vec<String>,
    /// The hosted pages' language when a verification names none.
    pub(super) locale: Option<String>,
    /// The app's logo above its hosted pages (otherwise `[app] logo_url`).
    pub(super) logo_url: Option<String>,
    /// The colour of the hosted pages' buttons, `#rrggbb`.
    pub(super) accent_color: Option<String>,
    /// The country the phone number picker starts on (ISO 3166, e.g. `IN`).
    pub(super) country: Option<String>,
    /// Providers the hosted page offers when the code does not arrive, in order.
    #[serde(default)]
    pub(super) fallbacks: Vec<String>,
    /// The code's lifetime when a request names none (`"5m"`, or seconds).
    pub(super) ttl: Option<super::DurationValue>,
    pub(super) max_attempts: Option<u32>,
    pub(super) max_sends: Option<u32>,
    pub(super) code_length: Option<u32>,
    /// `digits` or `alphanumeric`.
    pub(super) code_alphabet: Option<String>,
    /// The channels its verifications may use; none: all.
    #[serde(default)]
    pub(super) channels: Vec<String>,
    /// The number prefixes (`+91`) its phone numbers must start with; none: any.
    #[serde(default)]
    pub(super) prefixes: Vec<String>,
    /// Every message to the dev inbox instead of out.
    #[serde(default)]
    pub(super) test_mode: bool,
    /// Test addresses and their fixed codes: `{ "+15005550006" = "123456" }`.
    #[serde(default)]
    pub(super) test_addresses: std::collections::BTreeMap<String, String>,
    /// Failover: `[[auth.<name>.routes]]` with `channel`, optional `prefix`, `providers`.
    #[serde(default)]
    pub(super) routes: Vec<RouteEntry>,
    /// The fraud guard: `countries`, `blocked_countries`, `daily_budget`,
    /// `monthly_budget` and `[auth.<name>.prices.<provider>]`.
    #[serde(flatten)]
    pub(super) guard: super::guard::GuardLists,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RouteEntry {
    pub(super) channel: String,
    #[serde(default)]
    pub(super) prefix: String,
    pub(super) providers: Vec<String>,
}

app::debug_showing!(AuthEntry { namespace });

/// One `[auth.<name>]` entry, checked; `default_logo` is `[app] logo_url`.
pub(super) fn declared_app(
    name: &str,
    entry: AuthEntry,
    default_logo: Option<&str>,
) -> Result<DeclaredApp, ConfigError> {
    let ns = Namespace::parse(&entry.namespace)
        .map_err(|e| invalid(format!("auth.{name}.namespace"), e.to_string()))?;
    let secret = ApiSecret::parse(&entry.secret)
        .map_err(|e| invalid(format!("auth.{name}.secret"), e.to_string()))?;
    let mut routes = Vec::new();
    for (i, r) in entry.routes.into_iter().enumerate() {
        let key = format!("auth.{name}.routes[{i}]");
        let channel = Channel::parse(&r.channel)
            .ok_or_else(|| invalid(&key, "channel: use email, sms, whatsapp, voice or other"))?;
        if r.providers.is_empty() {
            return Err(invalid(&key, "providers: name at least one"));
        }
        if !r.prefix.is_empty() && !is_number_prefix(&r.prefix) {
            return Err(invalid(
                &key,
                "prefix: write a country code such as \"+91\"",
            ));
        }
        routes.push(RouteRule {
            channel,
            prefix: r.prefix,
            providers: r.providers,
        });
    }
    let key = |k: &str| format!("auth.{name}.{k}");
    let ttl_secs = match &entry.ttl {
        Some(ttl) => Some(ttl.resolve(&key("ttl"))?.as_secs()),
        None => None,
    };
    let code_alphabet = match entry.code_alphabet.as_deref() {
        Some(raw) => Some(
            Alphabet::parse(raw)
                .ok_or_else(|| invalid(key("code_alphabet"), "use digits or alphanumeric"))?,
        ),
        None => None,
    };
    let mut channels = Vec::new();
    for raw in &entry.channels {
        channels.push(Channel::parse(raw).ok_or_else(|| {
            invalid(
                key("channels"),
                format!("{raw:?}: use email, sms, whatsapp, voice or other"),
            )
        })?);
    }
    let settings = AppSettings {
        ttl_secs,
        max_attempts: entry.max_attempts,
        max_sends: entry.max_sends,
        code_length: entry.code_length,
        code_alphabet,
        channels,
        prefixes: entry.prefixes,
        test_mode: entry.test_mode,
        test_addresses: entry
            .test_addresses
            .into_iter()
            .map(|(address, code)| TestAddress { address, code })
            .collect(),
        pages: AppPages {
            embed_origins: entry.embed_origins,
            locale: entry.locale,
            logo_url: entry
                .logo_url
                .or_else(|| default_logo.map(str::to_owned))
                .filter(|url| !url.is_empty()),
            accent_color: entry.accent_color.map(|c| c.to_ascii_lowercase()),
            country: entry.country.map(|c| c.to_ascii_uppercase()),
            fallbacks: entry.fallbacks,
        },
        routes,
        guard: super::guard::app_guard(&format!("auth.{name}"), &entry.guard)?,
    };
    check_redirect_urls(&entry.redirect_urls)
        .and_then(|()| settings.check())
        .map_err(|e| {
            // The file writes the lifetime as `ttl`, a duration.
            let k = if e.key == "ttl_secs" { "ttl" } else { e.key };
            invalid(key(k), e.reason)
        })?;
    Ok(DeclaredApp {
        namespace: ns,
        secret,
        name: entry.name,
        echo_code: entry.echo_otp,
        redirect_urls: entry.redirect_urls,
        settings,
        tenant: entry.tenant,
    })
}
