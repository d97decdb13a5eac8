//! An app's settings form: the stored settings as the form's fields, and the fields sent
//! back read into settings (numbers, lists one per line or space, ticked channels).

use app::{
    dashboard::{SettingsDefaults, SettingsFields},
    gateway::{
        address::Channel,
        code::Alphabet,
        fraud::{
            geo::GeoPolicy,
            money::{Budgets, Money, PriceRule},
        },
        settings::{AppGuard, AppPages, AppSettings, RouteRule, TestAddress},
        store::AppRecord,
        EngineError, Gateway,
    },
    i18n::Lang,
};

/// The fields showing `app`'s stored settings.
pub fn fields_of(app: &AppRecord) -> SettingsFields {
    let s = &app.settings;
    let number = |n: Option<u64>| n.map(|n| n.to_string()).unwrap_or_default();
    let ticked = |c: Channel| s.channels.contains(&c).then(|| "on".to_owned());
    SettingsFields {
        ttl_secs: number(s.ttl_secs),
        max_attempts: number(s.max_attempts.map(u64::from)),
        max_sends: number(s.max_sends.map(u64::from)),
        code_length: number(s.code_length.map(u64::from)),
        code_alphabet: s
            .code_alphabet
            .map(|a| a.as_str().to_owned())
            .unwrap_or_default(),
        channel_email: ticked(Channel::Email),
        channel_sms: ticked(Channel::Sms),
        channel_whatsapp: ticked(Channel::Whatsapp),
        channel_voice: ticked(Channel::Voice),
        channel_other: ticked(Channel::Other),
        prefixes: s.prefixes.join(" "),
        locale: s.pages.locale.clone().unwrap_or_default(),
        logo_url: s.pages.logo_url.clone().unwrap_or_default(),
        accent_color: s.pages.accent_color.clone().unwrap_or_default(),
        country: s.pages.country.clone().unwrap_or_default(),
        fallbacks: s.pages.fallbacks.join(" "),
        redirect_urls: app.redirect_urls.join("\n"),
        embed_origins: s.pages.embed_origins.join("\n"),
        test_mode: s.test_mode.then(|| "on".to_owned()),
        test_addresses: s
            .test_addresses
            .iter()
            .map(|t| format!("{} {}", t.address, t.code))
            .collect::<Vec<_>>()
            .join("\n"),
        routes: s
            .routes
            .iter()
            .map(|r| {
                let mut words = vec![r.channel.as_str().to_owned()];
                words.extend(Some(r.prefix.clone()).filter(|p| !p.is_empty()));
                words.extend(r.providers.iter().cloned());
                words.join(" ")
            })
            .collect::<Vec<_>>()
            .join("\n"),
        countries: s.guard.countries.allowed.join(" "),
        blocked_countries: s.guard.countries.blocked.join(" "),
        daily_budget: s
            .guard
            .budgets
            .daily
            .map(|m| m.to_string())
            .unwrap_or_default(),
        monthly_budget: s
            .guard
            .budgets
            .monthly
            .map(|m| m.to_string())
            .unwrap_or_default(),
        prices: s
            .guard
            .prices
            .iter()
            .map(|p| format!("{} {} {}", p.provider, p.country, p.price))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

/// What an empty field falls back to on this server; `providers` are those the app may
/// name.
pub fn defaults(gw: &Gateway, providers: Vec<String>) -> SettingsDefaults {
    let s = gw.settings();
    SettingsDefaults {
        ttl_secs: s.default_ttl_secs,
        max_attempts: s.default_max_attempts,
        max_sends: s.default_max_sends,
        code_length: s.code_spec.length,
        code_alphabet: s.code_spec.alphabet.as_str(),
        locales: Lang::all().iter().map(|l| l.tag()).collect(),
        providers,
    }
}

/// The settings and redirect allow-list the fields ask for. Only their form is checked
/// here (a number is a number); the gateway checks the values.
pub fn read(fields: &SettingsFields) -> Result<(AppSettings, Vec<String>), EngineError> {
    let ticked = [
        (&fields.channel_email, Channel::Email),
        (&fields.channel_sms, Channel::Sms),
        (&fields.channel_whatsapp, Channel::Whatsapp),
        (&fields.channel_voice, Channel::Voice),
        (&fields.channel_other, Channel::Other),
    ];
    let settings = AppSettings {
        ttl_secs: number("ttl_secs", &fields.ttl_secs)?,
        max_attempts: number("max_attempts", &fields.max_attempts)?,
        max_sends: number("max_sends", &fields.max_sends)?,
        code_length: number("code_length", &fields.code_length)?,
        code_alphabet: match fields.code_alphabet.trim() {
            "" => None,
            raw => Some(Alphabet::parse(raw).ok_or_else(|| {
                EngineError::invalid("code_alphabet", "must be digits or alphanumeric")
            })?),
        },
        channels: ticked
            .into_iter()
            .filter(|(on, _)| on.is_some())
            .map(|(_, channel)| channel)
            .collect(),
        prefixes: words(&fields.prefixes),
        pages: AppPages {
            embed_origins: words(&fields.embed_origins),
            locale: optional(&fields.locale),
            logo_url: optional(&fields.logo_url),
            accent_color: optional(&fields.accent_color).map(|c| c.to_ascii_lowercase()),
            country: optional(&fields.country).map(|c| c.to_ascii_uppercase()),
            fallbacks: words(&fields.fallbacks),
        },
        test_mode: fields.test_mode.is_some(),
        test_addresses: fields
            .test_addresses
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(test_address)
            .collect(),
        routes: fields
            .routes
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(route)
            .collect::<Result<_, _>>()?,
        guard: AppGuard {
            countries: GeoPolicy {
                allowed: words(&fields.countries),
                blocked: words(&fields.blocked_countries),
            }
            .normalised(),
            budgets: Budgets {
                daily: amount("daily_budget", &fields.daily_budget)?,
                monthly: amount("monthly_budget", &fields.monthly_budget)?,
            },
            prices: fields
                .prices
                .lines()
                .filter(|line| !line.trim().is_empty())
                .map(price)
                .collect::<Result<_, _>>()?,
        },
    };
    Ok((settings, words(&fields.redirect_urls)))
}

/// An empty field is `None`; otherwise a whole number.
fn number<T: std::str::FromStr>(key: &'static str, raw: &str) -> Result<Option<T>, EngineError> {
    match raw.trim() {
        "" => Ok(None),
        raw => raw
            .parse()
            .map(Some)
            .map_err(|_| EngineError::invalid(key, format!("{raw:?} is not a whole number"))),
    }
}

/// An empty field is `None`; otherwise an amount such as `12.50`.
fn amount(key: &'static str, raw: &str) -> Result<Option<Money>, EngineError> {
    match raw.trim() {
        "" => Ok(None),
        raw => Money::parse(raw).map(Some).ok_or_else(|| {
            EngineError::invalid(key, format!("{raw:?}: write an amount such as 12.50"))
        }),
    }
}

/// `provider country price`.
fn price(line: &str) -> Result<PriceRule, EngineError> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let refused = || {
        EngineError::invalid(
            "prices",
            format!(
                "{:?}: write a provider, a country code or *, and a price",
                line.trim()
            ),
        )
    };
    let [provider, country, price] = words[..] else {
        return Err(refused());
    };
    Ok(PriceRule {
        provider: provider.to_owned(),
        country: if country == "*" {
            country.to_owned()
        } else {
            country.to_ascii_uppercase()
        },
        price: Money::parse(price).ok_or_else(refused)?,
    })
}

/// `channel [prefix] provider…`.
fn route(line: &str) -> Result<RouteRule, EngineError> {
    let mut words = line.split_whitespace().peekable();
    let first = words.next().unwrap_or_default();
    let channel = Channel::parse(first).ok_or_else(|| {
        EngineError::invalid(
            "routes",
            format!("{first:?}: a rule starts with email, sms, whatsapp, voice or other"),
        )
    })?;
    let prefix = words
        .next_if(|w| w.starts_with('+'))
        .unwrap_or_default()
        .to_owned();
    Ok(RouteRule {
        channel,
        prefix,
        providers: words.map(str::to_owned).collect(),
    })
}

/// `address code`; a line without a code keeps an empty one, which the gateway refuses.
fn test_address(line: &str) -> TestAddress {
    let (address, code) = line.rsplit_once(char::is_whitespace).unwrap_or((line, ""));
    TestAddress {
        address: address.trim().to_owned(),
        code: code.trim().to_owned(),
    }
}

fn optional(raw: &str) -> Option<String> {
    Some(raw.trim().to_owned()).filter(|v| !v.is_empty())
}

/// Entries separated by spaces, commas or new lines, without repeats.
fn words(raw: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in raw.split(|c: char| c.is_whitespace() || c == ',') {
        if !word.is_empty() && !out.iter().any(|w| w == word) {
            out.push(word.to_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_read_back_into_the_settings_they_show() {
        let app = AppRecord {
            redirect_urls: vec!["https://shop.example/done".into()],
            settings: AppSettings {
                ttl_secs: Some(300),
                max_attempts: Some(3),
                code_length: Some(8),
                code_alphabet: Some(Alphabet::Alphanumeric),
                channels: vec![Channel::Email, Channel::Sms],
                prefixes: vec!["+91".into(), "+44".into()],
                pages: AppPages {
                    embed_origins: vec!["https://shop.example".into()],
                    locale: Some("de".into()),
                    accent_color: Some("#0a7f5c".into()),
                    fallbacks: vec!["console".into()],
                    ..AppPages::default()
                },
                test_mode: true,
                routes: vec![RouteRule {
                    channel: Channel::Sms,
                    prefix: "+91".into(),
                    providers: vec!["console".into(), "gateway".into()],
                }],
                test_addresses: vec![TestAddress {
                    address: "+15005550006".into(),
                    code: "424242".into(),
                }],
                guard: AppGuard {
                    countries: GeoPolicy {
                        allowed: vec!["IN".into(), "GB".into()],
                        blocked: vec!["JM".into()],
                    },
                    budgets: Budgets {
                        daily: Some(Money(12_500_000)),
                        monthly: None,
                    },
                    prices: vec![PriceRule {
                        provider: "gateway".into(),
                        country: "*".into(),
                        price: Money(50_000),
                    }],
                },
                ..AppSettings::default()
            },
            ..AppRecord::default()
        };
        let (settings, urls) = read(&fields_of(&app)).unwrap();
        assert_eq!(settings, app.settings);
        assert_eq!(urls, app.redirect_urls);
    }

    #[test]
    fn words_split_on_spaces_commas_and_lines_once_each() {
        assert_eq!(words(" +91, +44\n+91 "), ["+91", "+44"]);
        assert!(words(" \n ").is_empty());
    }

    #[test]
    fn a_number_field_says_which_value_is_not_a_number() {
        let fields = SettingsFields {
            max_sends: "three".into(),
            ..SettingsFields::default()
        };
        match read(&fields) {
            Err(EngineError::InvalidInput { field, reason }) => {
                assert_eq!(field, "max_sends");
                assert!(reason.contains("\"three\""), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }
}
