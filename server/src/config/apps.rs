//! `[auth.<name>]`: the apps the config file declares, checked into
//! [`DeclaredApp`]s (secret, redirect and embed allow-lists, pages' look, failover routes).

use super::{invalid, ConfigError};
use app::gateway::{address::Channel, secret::ApiSecret, AppPages, DeclaredApp, RouteRule};
use app::model::Namespace;
use serde::Deserialize;

#[derive(Deserialize)]
pub(super) struct AuthEntry {
    pub(super) namespace: String,
    pub(super) secret: String,
    // otpgate's own keys.
    pub(super) name: Option<String>,
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
    /// Failover: `[[auth.<name>.routes]]` with `channel`, optional `prefix`, `providers`.
    #[serde(default)]
    pub(super) routes: Vec<RouteEntry>,
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
    for url in &entry.redirect_urls {
        if !(url.starts_with("https://") || url.starts_with("http://"))
            || url.chars().any(char::is_control)
        {
            return Err(invalid(
                format!("auth.{name}.redirect_urls"),
                format!("{url:?} is not an http(s) URL"),
            ));
        }
    }
    for origin in &entry.embed_origins {
        let valid = is_origin(origin);
        if !valid {
            return Err(invalid(
                format!("auth.{name}.embed_origins"),
                format!("{origin:?} is not an origin like https://shop.example"),
            ));
        }
    }
    let mut routes = Vec::new();
    for (i, r) in entry.routes.into_iter().enumerate() {
        let key = format!("auth.{name}.routes[{i}]");
        let channel = Channel::parse(&r.channel)
            .ok_or_else(|| invalid(&key, "channel: use email, sms, whatsapp, voice or other"))?;
        if r.providers.is_empty() {
            return Err(invalid(&key, "providers: name at least one"));
        }
        let country_code = r
            .prefix
            .strip_prefix('+')
            .is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()));
        if !r.prefix.is_empty() && !country_code {
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
    Ok(DeclaredApp {
        namespace: ns,
        secret,
        name: entry.name,
        echo_code: entry.echo_otp,
        redirect_urls: entry.redirect_urls,
        pages: AppPages {
            embed_origins: entry.embed_origins,
            locale: match entry.locale {
                Some(tag) if app::i18n::Lang::from_tag(&tag).is_none() => {
                    return Err(invalid(
                        format!("auth.{name}.locale"),
                        format!(
                            "{tag:?}: the pages speak {}",
                            app::i18n::Lang::all()
                                .iter()
                                .map(|l| l.tag())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ))
                }
                other => other,
            },
            logo_url: match entry
                .logo_url
                .or_else(|| default_logo.map(str::to_owned))
                .filter(|url| !url.is_empty())
            {
                Some(url) if !is_image_url(&url) => {
                    return Err(invalid(
                        format!("auth.{name}.logo_url"),
                        format!("{url:?}: use an https URL or a path such as /static/logo.svg"),
                    ))
                }
                other => other,
            },
            accent_color: match entry.accent_color {
                Some(colour) if !is_hex_colour(&colour) => {
                    return Err(invalid(
                        format!("auth.{name}.accent_color"),
                        format!("{colour:?}: write a colour as #rrggbb"),
                    ))
                }
                other => other.map(|c| c.to_ascii_lowercase()),
            },
            country: match entry.country.map(|c| c.to_ascii_uppercase()) {
                Some(region)
                    if !app::gateway::address::dialling_codes()
                        .iter()
                        .any(|d| d.region == region) =>
                {
                    return Err(invalid(
                        format!("auth.{name}.country"),
                        format!("{region:?}: write a country code such as IN or DE"),
                    ))
                }
                other => other,
            },
            fallbacks: entry.fallbacks,
        },
        routes,
    })
}

/// `scheme://host[:port]`, nothing more: what a browser reports as an origin.
fn is_origin(origin: &str) -> bool {
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
fn is_image_url(url: &str) -> bool {
    (url.starts_with("https://") || (url.starts_with('/') && !url.starts_with("//")))
        && url.len() <= 2048
        && !url
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>'))
}

/// `#rrggbb`.
fn is_hex_colour(colour: &str) -> bool {
    colour
        .strip_prefix('#')
        .is_some_and(|hex| hex.len() == 6 && hex.chars().all(|c| c.is_ascii_hexdigit()))
}
