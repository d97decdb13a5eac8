//! Spend: prices per provider and country, budgets per day and month, and the periods
//! spend is counted in. Amounts are whole millionths of the provider's currency, so
//! sums are exact.

use crate::gateway::clock::{utc_midnight, utc_timestamp};
use serde::{Deserialize, Serialize};
use std::fmt;

/// An amount in millionths of a currency unit (`0.0079` is 7,900).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(pub i64);

impl Money {
    /// Millionths in one unit.
    pub const UNIT: i64 = 1_000_000;
    /// The largest amount a price or budget may name (a million units).
    pub const MAX: Money = Money(1_000_000 * Self::UNIT);

    /// `12`, `0.0079`, `1.5`: a decimal with at most six places, 0 to [`Money::MAX`].
    pub fn parse(raw: &str) -> Option<Money> {
        let raw = raw.trim();
        let (whole, frac) = raw.split_once('.').unwrap_or((raw, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || whole.len() > 7 || frac.len() > 6 || !digits(whole) || !digits(frac)
        {
            return None;
        }
        let frac_value: i64 = format!("{frac:0<6}").parse().ok()?;
        let value = whole.parse::<i64>().ok()? * Self::UNIT + frac_value;
        (value <= Self::MAX.0).then_some(Money(value))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (whole, frac) = (self.0 / Self::UNIT, self.0 % Self::UNIT);
        if frac == 0 {
            return write!(f, "{whole}");
        }
        let frac = format!("{frac:06}");
        write!(f, "{whole}.{}", frac.trim_end_matches('0'))
    }
}

impl Serialize for Money {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Money::parse(&raw).ok_or_else(|| serde::de::Error::custom("not an amount"))
    }
}

/// The price of one message through `provider` to numbers of `country` (`*`: any
/// country; a country's own price wins).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceRule {
    pub provider: String,
    pub country: String,
    pub price: Money,
}

/// The price of one message: the first table (`tables` in order: the app's, then the
/// server's) with a rule for the provider and the country, or else for the provider and
/// `*`. No rule: free (e-mail, webhooks, a provider nobody priced).
pub fn price_of(tables: &[&[PriceRule]], provider: &str, country: Option<&str>) -> Money {
    for table in tables {
        let rules = || table.iter().filter(|r| r.provider == provider);
        let own = country.and_then(|c| rules().find(|r| r.country == c));
        if let Some(rule) = own.or_else(|| rules().find(|r| r.country == "*")) {
            return rule.price;
        }
    }
    Money(0)
}

/// Budgets of one app: at most this much spent per UTC day and per UTC month.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Budgets {
    pub daily: Option<Money>,
    pub monthly: Option<Money>,
}

impl Budgets {
    /// The app's own budgets where set, else the server's.
    pub fn over(self, server: Budgets) -> Budgets {
        Budgets {
            daily: self.daily.or(server.daily),
            monthly: self.monthly.or(server.monthly),
        }
    }
}

/// The periods spend is counted in: a UTC day (`d2026-12-05`) and month (`m2026-12`),
/// with when each ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Periods {
    pub day: String,
    pub day_ends_at: i64,
    pub month: String,
    pub month_ends_at: i64,
}

impl Periods {
    pub fn at(now_ms: i64) -> Periods {
        let date = utc_timestamp(now_ms);
        let (year, month) = (&date[..4], &date[5..7]);
        let day_start = utc_midnight(&date[..10]).unwrap_or(now_ms);
        let next_month = match month.parse::<u32>().unwrap_or(12) {
            12 => format!("{:04}-01-01", year.parse::<u32>().unwrap_or(1970) + 1),
            m => format!("{year}-{:02}-01", m + 1),
        };
        Periods {
            day: format!("d{}", &date[..10]),
            day_ends_at: day_start + 86_400_000,
            month: format!("m{}", &date[..7]),
            month_ends_at: utc_midnight(&next_month).unwrap_or(day_start + 86_400_000),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_exact_decimals() {
        assert_eq!(Money::parse("0.0079"), Some(Money(7_900)));
        assert_eq!(Money::parse("12"), Some(Money(12_000_000)));
        assert_eq!(Money::parse(" 1.5 "), Some(Money(1_500_000)));
        assert_eq!(Money::parse("0.000001"), Some(Money(1)));
        for bad in ["", ".5", "1.0000001", "-1", "1e3", "abc", "1,5", "99999999"] {
            assert_eq!(Money::parse(bad), None, "{bad}");
        }
        assert_eq!(Money(7_900).to_string(), "0.0079");
        assert_eq!(Money(12_000_000).to_string(), "12");
        assert_eq!(Money(1_500_000).to_string(), "1.5");
    }

    #[test]
    fn a_countrys_price_wins_and_the_app_table_first() {
        let app = [PriceRule {
            provider: "sms".into(),
            country: "IN".into(),
            price: Money(4_500),
        }];
        let server = [
            PriceRule {
                provider: "sms".into(),
                country: "*".into(),
                price: Money(50_000),
            },
            PriceRule {
                provider: "sms".into(),
                country: "US".into(),
                price: Money(7_900),
            },
        ];
        let tables: [&[PriceRule]; 2] = [&app, &server];
        assert_eq!(price_of(&tables, "sms", Some("IN")), Money(4_500));
        // Not in the app's table: the server's.
        assert_eq!(price_of(&tables, "sms", Some("US")), Money(7_900));
        let tables: [&[PriceRule]; 1] = [&server];
        assert_eq!(price_of(&tables, "sms", Some("US")), Money(7_900));
        assert_eq!(price_of(&tables, "sms", Some("DE")), Money(50_000));
        assert_eq!(price_of(&tables, "sms", None), Money(50_000));
        assert_eq!(price_of(&tables, "smtp", Some("DE")), Money(0));
    }

    #[test]
    fn periods_are_utc_days_and_months() {
        // 2026-12-31T23:59:59.999Z
        let p = Periods::at(1_798_761_599_999);
        assert_eq!(p.day, "d2026-12-31");
        assert_eq!(p.month, "m2026-12");
        assert_eq!(p.day_ends_at, 1_798_761_600_000);
        assert_eq!(p.month_ends_at, 1_798_761_600_000);
        let p = Periods::at(1_798_761_600_000);
        assert_eq!(p.day, "d2027-01-01");
        assert_eq!(p.month, "m2027-01");
    }
}
