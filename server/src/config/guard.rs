//! `[guard]`: the SMS fraud guard's server-wide countries, budgets and price table, and the
//! pumping detector's thresholds; and the same lists and budgets of one `[auth.<name>]`.

use super::{invalid, ConfigError, DurationValue};
use app::gateway::{
    fraud::{
        geo::GeoPolicy,
        money::{Budgets, Money, PriceRule},
        tally::PumpingSettings,
    },
    settings::{check_prices, AppGuard, GuardSettings},
};
use serde::Deserialize;
use std::collections::BTreeMap;

/// An amount as the file writes it: `"0.0045"` (exact) or `0.0045`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(super) enum Amount {
    Text(String),
    Number(f64),
    Whole(i64),
}

impl Amount {
    fn resolve(&self, key: &str) -> Result<Money, ConfigError> {
        let text = match self {
            Amount::Text(t) => t.clone(),
            Amount::Number(n) => n.to_string(),
            Amount::Whole(n) => n.to_string(),
        };
        Money::parse(&text).ok_or_else(|| {
            invalid(
                key,
                format!("{text:?}: write an amount such as \"0.0045\" (at most six decimals)"),
            )
        })
    }
}

/// Prices per provider, then per country (`*`: any other).
pub(super) type PriceTable = BTreeMap<String, BTreeMap<String, Amount>>;

/// The lists, budgets and prices `[guard]` and an `[auth.<name>]` share.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct GuardLists {
    pub(super) countries: Vec<String>,
    pub(super) blocked_countries: Vec<String>,
    pub(super) daily_budget: Option<Amount>,
    pub(super) monthly_budget: Option<Amount>,
    pub(super) prices: PriceTable,
}

/// `[guard]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct GuardSection {
    countries: Vec<String>,
    blocked_countries: Vec<String>,
    daily_budget: Option<Amount>,
    monthly_budget: Option<Amount>,
    prices: PriceTable,
    pumping: PumpingSection,
}

/// `[guard.pumping]`: the detector's thresholds (see the README for the defaults).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct PumpingSection {
    enabled: Option<bool>,
    window: Option<DurationValue>,
    settle: Option<DurationValue>,
    min_sends: Option<i64>,
    min_conversion: Option<i64>,
    surge_floor: Option<i64>,
    surge_factor: Option<i64>,
    baseline: Option<DurationValue>,
    block_sends: Option<i64>,
}

/// The checked lists, budgets and prices under `prefix` (`guard` or `auth.<name>`).
pub(super) fn app_guard(prefix: &str, lists: &GuardLists) -> Result<AppGuard, ConfigError> {
    let key = |k: &str| format!("{prefix}.{k}");
    let countries = GeoPolicy {
        allowed: lists.countries.clone(),
        blocked: lists.blocked_countries.clone(),
    }
    .normalised();
    if let Some(entry) = countries.invalid_entry() {
        return Err(invalid(
            key("countries"),
            format!("{entry:?}: write a country code such as IN or DE"),
        ));
    }
    let budget = |k: &str, amount: &Option<Amount>| -> Result<Option<Money>, ConfigError> {
        amount.as_ref().map(|a| a.resolve(&key(k))).transpose()
    };
    let budgets = Budgets {
        daily: budget("daily_budget", &lists.daily_budget)?,
        monthly: budget("monthly_budget", &lists.monthly_budget)?,
    };
    let mut prices = Vec::new();
    for (provider, by_country) in &lists.prices {
        for (country, amount) in by_country {
            let k = key(&format!("prices.{provider}.{country}"));
            let country = if country == "*" {
                country.clone()
            } else {
                country.to_ascii_uppercase()
            };
            prices.push(PriceRule {
                provider: provider.clone(),
                country,
                price: amount.resolve(&k)?,
            });
        }
    }
    check_prices(&prices).map_err(|reason| invalid(key("prices"), reason))?;
    Ok(AppGuard {
        countries,
        budgets,
        prices,
    })
}

/// `[guard]`, checked.
pub(super) fn guard_settings(section: &GuardSection) -> Result<GuardSettings, ConfigError> {
    let lists = GuardLists {
        countries: section.countries.clone(),
        blocked_countries: section.blocked_countries.clone(),
        daily_budget: section.daily_budget.clone(),
        monthly_budget: section.monthly_budget.clone(),
        prices: section.prices.clone(),
    };
    let own = app_guard("guard", &lists)?;
    let p = &section.pumping;
    let mut pumping = PumpingSettings::default();
    let ms = |d: &Option<DurationValue>, k: &str, default: i64| -> Result<i64, ConfigError> {
        match d {
            Some(d) => {
                let ms = i64::try_from(d.resolve(k)?.as_millis()).unwrap_or(i64::MAX);
                if !(60_000..=30 * 86_400_000).contains(&ms) {
                    return Err(invalid(k, "must be between 1 minute and 30 days"));
                }
                Ok(ms)
            }
            None => Ok(default),
        }
    };
    pumping.enabled = p.enabled.unwrap_or(true);
    pumping.window_ms = ms(&p.window, "guard.pumping.window", pumping.window_ms)?;
    pumping.settle_ms = ms(&p.settle, "guard.pumping.settle", pumping.settle_ms)?;
    pumping.baseline_ms = ms(&p.baseline, "guard.pumping.baseline", pumping.baseline_ms)?;
    if pumping.settle_ms >= pumping.window_ms {
        return Err(invalid(
            "guard.pumping.settle",
            "must be shorter than the window",
        ));
    }
    let count = |v: Option<i64>, k: &str, max: i64, default: i64| -> Result<i64, ConfigError> {
        match v {
            Some(n) if !(1..=max).contains(&n) => {
                Err(invalid(k, format!("must be between 1 and {max}")))
            }
            Some(n) => Ok(n),
            None => Ok(default),
        }
    };
    pumping.min_sends = count(
        p.min_sends,
        "guard.pumping.min_sends",
        1_000_000,
        pumping.min_sends,
    )?;
    pumping.min_conversion_pct = count(
        p.min_conversion,
        "guard.pumping.min_conversion",
        100,
        pumping.min_conversion_pct,
    )?;
    pumping.surge_floor = count(
        p.surge_floor,
        "guard.pumping.surge_floor",
        1_000_000,
        pumping.surge_floor,
    )?;
    pumping.surge_factor = count(
        p.surge_factor,
        "guard.pumping.surge_factor",
        1000,
        pumping.surge_factor,
    )?;
    pumping.block_sends = count(
        p.block_sends,
        "guard.pumping.block_sends",
        100,
        pumping.block_sends,
    )?;
    Ok(GuardSettings {
        geo: own.countries,
        budgets: own.budgets,
        prices: own.prices,
        pumping,
    })
}
