//! Stats as a tenant reads them, for one app or all the tenant's apps over a range: volume
//! over time, the funnel, per-provider delivery and speed, failures, wrong codes before
//! success. Everything is summed from the hourly rollups (`store/stats.rs`), never from
//! the verifications themselves, so reading 30 days costs the same at any volume.

use crate::gateway::{
    clock::utc_midnight,
    error::EngineError,
    handle::Gateway,
    store::{
        stats::{DURATION_BOUNDS_MS, HOUR_MS, MOST_TRIES},
        AppRecord, StatsQuery, StatsSummary,
    },
    tenants::Session,
};
use std::collections::BTreeMap;

const DAY_MS: i64 = 24 * HOUR_MS;
/// The longest custom range, in days.
pub const MOST_DAYS: i64 = 366;

/// The range a report covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    /// The last 24 hours, by hour.
    Day,
    /// The last 7 days, by day.
    Week,
    /// The last 30 days, by day.
    Month,
    /// Whole UTC days from `from` to `to` (both Unix ms at midnight, `to` exclusive).
    Custom { from: i64, to: i64 },
}

impl Range {
    /// Reads `range` (`24h`, `7d`, `30d`, `custom`) and, for `custom`, the `from` and
    /// `to` dates (`YYYY-MM-DD`, both included).
    pub fn parse(range: &str, from: &str, to: &str) -> Result<Self, EngineError> {
        match range {
            "" | "24h" => Ok(Range::Day),
            "7d" => Ok(Range::Week),
            "30d" => Ok(Range::Month),
            "custom" => {
                let from = utc_midnight(from).ok_or_else(|| {
                    EngineError::invalid("from", "must be a date such as 2026-01-31")
                })?;
                let to = utc_midnight(to).ok_or_else(|| {
                    EngineError::invalid("to", "must be a date such as 2026-01-31")
                })? + DAY_MS;
                if to <= from {
                    return Err(EngineError::invalid("to", "must not be before the start"));
                }
                if to - from > MOST_DAYS * DAY_MS {
                    return Err(EngineError::invalid(
                        "to",
                        "must be at most 366 days after the start",
                    ));
                }
                Ok(Range::Custom { from, to })
            }
            _ => Err(EngineError::invalid(
                "range",
                "must be one of 24h, 7d, 30d, custom",
            )),
        }
    }

    /// The range's name in links (`24h`, `7d`, `30d`, `custom`).
    pub fn name(self) -> &'static str {
        match self {
            Range::Day => "24h",
            Range::Week => "7d",
            Range::Month => "30d",
            Range::Custom { .. } => "custom",
        }
    }

    /// Its bounds at `now` (Unix ms; `to` exclusive, whole hours) and the width of one
    /// bar of its volume chart.
    fn bounds(self, now: i64) -> (i64, i64, i64) {
        let next_hour = now - now.rem_euclid(HOUR_MS) + HOUR_MS;
        let next_day = now - now.rem_euclid(DAY_MS) + DAY_MS;
        match self {
            Range::Day => (next_hour - DAY_MS, next_hour, HOUR_MS),
            Range::Week => (next_day - 7 * DAY_MS, next_day, DAY_MS),
            Range::Month => (next_day - 30 * DAY_MS, next_day, DAY_MS),
            Range::Custom { from, to } if to - from <= 2 * DAY_MS => (from, to, HOUR_MS),
            Range::Custom { from, to } => (from, to, DAY_MS),
        }
    }
}

/// One bar of the volume chart: verifications started in it, by channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeBar {
    /// The bar's start, Unix ms.
    pub at: i64,
    pub by_channel: BTreeMap<String, i64>,
}

/// How one provider did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderStats {
    pub provider: String,
    pub sent: i64,
    pub failed: i64,
    pub delivered: i64,
    pub undelivered: i64,
    pub verified: i64,
    /// Time from start to verification, p50 and p95 (see [`Percentile`]).
    pub time_to_verify: (Percentile, Percentile),
    /// Time from the provider's acceptance to its "delivered" receipt.
    pub delivery_latency: (Percentile, Percentile),
}

/// A percentile read from the rollups' duration buckets: at most `Within(ms)`, at least
/// `Over(ms)` for the last bucket, or `None` when nothing was measured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Percentile {
    #[default]
    None,
    Within(i64),
    Over(i64),
}

/// Failures of one provider with one kind of error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureRow {
    pub provider: String,
    pub error: String,
    pub count: i64,
}

/// One country prefix's traffic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CountryRow {
    /// `+49`, or empty for addresses that are not phone numbers.
    pub country: String,
    pub created: i64,
    pub sent: i64,
    pub verified: i64,
}

/// Everything the stats page shows for one range.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsReport {
    pub from: i64,
    pub to: i64,
    /// The width of one volume bar: an hour or a day.
    pub bar_ms: i64,
    pub volume: Vec<VolumeBar>,
    pub created: i64,
    pub sent: i64,
    pub delivered: i64,
    pub verified: i64,
    /// Verifications that expired unverified.
    pub abandoned: i64,
    pub locked: i64,
    pub cancelled: i64,
    pub resent: i64,
    pub wrong_codes: i64,
    pub failovers: i64,
    pub dead: i64,
    pub suppressed: i64,
    pub providers: Vec<ProviderStats>,
    pub countries: Vec<CountryRow>,
    pub failures: Vec<FailureRow>,
    /// Verifications that succeeded after 0, 1, …, 5 or more wrong codes.
    pub tries: [i64; MOST_TRIES as usize + 1],
}

impl StatsReport {
    /// `part` of `whole` in percent, one decimal; `None` when `whole` is 0.
    pub fn percent(part: i64, whole: i64) -> Option<f64> {
        (whole > 0).then(|| (part as f64 * 1000.0 / whole as f64).round() / 10.0)
    }

    /// The report of `[from, to)` with bars `bar_ms` wide, from the database's sums.
    pub fn from_summary(summary: &StatsSummary, from: i64, to: i64, bar_ms: i64) -> Self {
        let mut r = StatsReport {
            from,
            to,
            bar_ms,
            ..StatsReport::default()
        };
        let mut bars: BTreeMap<i64, BTreeMap<String, i64>> = BTreeMap::new();
        let mut at = from;
        while at < to {
            bars.insert(at, BTreeMap::new());
            at += bar_ms;
        }
        for (bar, channel, n) in &summary.volume {
            if let Some(bar) = bars.get_mut(bar) {
                *bar.entry(channel.clone()).or_default() += n;
            }
        }
        let mut providers: BTreeMap<&str, ProviderStats> = BTreeMap::new();
        let mut durations: BTreeMap<(&str, &str), Vec<i64>> = BTreeMap::new();
        let mut countries: BTreeMap<&str, CountryRow> = BTreeMap::new();
        let mut failures: BTreeMap<(&str, &str), i64> = BTreeMap::new();
        for (provider, country, metric, n) in &summary.totals {
            let n = *n;
            let p = providers.entry(provider.as_str()).or_default();
            let c = countries.entry(country.as_str()).or_default();
            let metric = metric.as_str();
            match metric {
                "created" => {
                    r.created += n;
                    c.created += n;
                }
                "sent" => {
                    r.sent += n;
                    p.sent += n;
                    c.sent += n;
                }
                "send_failed" => p.failed += n,
                "receipt:delivered" => {
                    r.delivered += n;
                    p.delivered += n;
                }
                "receipt:failed" => p.undelivered += n,
                "verified" => {
                    r.verified += n;
                    p.verified += n;
                    c.verified += n;
                }
                "expired" => r.abandoned += n,
                "locked" => r.locked += n,
                "cancelled" => r.cancelled += n,
                "resent" => r.resent += n,
                "attempt" => r.wrong_codes += n,
                "failover" => r.failovers += n,
                "dead_lettered" => r.dead += n,
                "suppressed" => r.suppressed += n,
                _ => {
                    if let Some(error) = metric.strip_prefix("error:") {
                        *failures.entry((provider.as_str(), error)).or_default() += n;
                    } else if let Some(tries) = metric.strip_prefix("tries:") {
                        if let Some(slot) =
                            tries.parse::<usize>().ok().and_then(|t| r.tries.get_mut(t))
                        {
                            *slot += n;
                        }
                    } else if let Some((what, bucket)) = metric.split_once(':') {
                        if matches!(what, "ttv" | "latency") {
                            if let Ok(bucket) = bucket.parse::<usize>() {
                                let counts = durations
                                    .entry((provider.as_str(), what))
                                    .or_insert_with(|| vec![0; DURATION_BOUNDS_MS.len() + 1]);
                                if let Some(slot) = counts.get_mut(bucket) {
                                    *slot += n;
                                }
                            }
                        }
                    }
                }
            }
        }
        r.volume = bars
            .into_iter()
            .map(|(at, by_channel)| VolumeBar { at, by_channel })
            .collect();
        for ((provider, what), counts) in &durations {
            if let Some(p) = providers.get_mut(provider) {
                let pair = (percentile(counts, 0.5), percentile(counts, 0.95));
                match *what {
                    "ttv" => p.time_to_verify = pair,
                    _ => p.delivery_latency = pair,
                }
            }
        }
        r.providers = providers
            .into_iter()
            .filter(|(_, p)| p.sent + p.failed + p.undelivered + p.verified > 0)
            .map(|(name, p)| ProviderStats {
                provider: name.to_owned(),
                ..p
            })
            .collect();
        r.countries = countries
            .into_iter()
            .filter(|(_, c)| c.created + c.sent + c.verified > 0)
            .map(|(name, c)| CountryRow {
                country: name.to_owned(),
                ..c
            })
            .collect();
        r.countries
            .sort_by(|a, b| b.created.cmp(&a.created).then(a.country.cmp(&b.country)));
        r.failures = failures
            .into_iter()
            .map(|((provider, error), count)| FailureRow {
                provider: provider.to_owned(),
                error: error.to_owned(),
                count,
            })
            .collect();
        r.failures.sort_by_key(|f| std::cmp::Reverse(f.count));
        r
    }
}

/// The `q` quantile of bucket counts: the upper bound of the bucket it falls in.
fn percentile(counts: &[i64], q: f64) -> Percentile {
    let total: i64 = counts.iter().sum();
    if total == 0 {
        return Percentile::None;
    }
    let rank = (q * total as f64).ceil().max(1.0) as i64;
    let mut seen = 0;
    for (i, n) in counts.iter().enumerate() {
        seen += n;
        if seen >= rank {
            return match DURATION_BOUNDS_MS.get(i) {
                Some(bound) => Percentile::Within(*bound),
                None => Percentile::Over(DURATION_BOUNDS_MS[DURATION_BOUNDS_MS.len() - 1]),
            };
        }
    }
    Percentile::None
}

impl Gateway {
    /// The stats of one of the tenant's apps over `range` (every member).
    pub async fn app_stats(
        &self,
        session: &Session,
        namespace: &str,
        range: Range,
    ) -> Result<(AppRecord, StatsReport), EngineError> {
        let app = self.tenant_app(session, namespace).await?;
        let report = self.stats_of(vec![app.app_id], range).await?;
        Ok((app, report))
    }

    /// The stats of all the tenant's apps together over `range` (every member).
    pub async fn tenant_stats(
        &self,
        session: &Session,
        range: Range,
    ) -> Result<StatsReport, EngineError> {
        let apps = self.tenant_apps(session).await?;
        self.stats_of(apps.iter().map(|a| a.app_id).collect(), range)
            .await
    }

    async fn stats_of(&self, app_ids: Vec<i64>, range: Range) -> Result<StatsReport, EngineError> {
        let (from, to, bar_ms) = range.bounds(self.now_ms());
        let summary = self
            .store()
            .stats_summary(&StatsQuery { app_ids, from, to }, bar_ms)
            .await?;
        Ok(StatsReport::from_summary(&summary, from, to, bar_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The summary the database would give for these (hour, channel, provider, metric,
    /// count) rows, bars one hour wide from 0.
    fn summary(rows: &[(i64, &str, &str, &str, i64)]) -> StatsSummary {
        let mut s = StatsSummary::default();
        for (hour, channel, provider, metric, n) in rows {
            if *metric == "created" {
                s.volume.push((*hour, channel.to_string(), *n));
            }
            s.totals
                .push((provider.to_string(), "+49".into(), metric.to_string(), *n));
        }
        s
    }

    #[test]
    fn ranges_are_read_and_refused() {
        assert_eq!(Range::parse("", "", "").unwrap(), Range::Day);
        assert_eq!(Range::parse("30d", "", "").unwrap(), Range::Month);
        let custom = Range::parse("custom", "2026-01-01", "2026-01-02").unwrap();
        assert_eq!(
            custom,
            Range::Custom {
                from: 1_767_225_600_000,
                to: 1_767_225_600_000 + 2 * DAY_MS
            }
        );
        assert_eq!(custom.bounds(0).2, HOUR_MS, "two days are shown by hour");
        assert!(Range::parse("custom", "2026-01-02", "2026-01-01").is_err());
        assert!(Range::parse("custom", "2026-01-01", "2027-06-01").is_err());
        assert!(Range::parse("custom", "yesterday", "2026-01-01").is_err());
        assert!(Range::parse("1y", "", "").is_err());
    }

    #[test]
    fn the_last_day_ends_with_the_current_hour() {
        let now = 1_767_225_600_000 + 90 * 60_000;
        let (from, to, bar) = Range::Day.bounds(now);
        assert_eq!(to, 1_767_225_600_000 + 2 * HOUR_MS);
        assert_eq!(to - from, DAY_MS);
        assert_eq!(bar, HOUR_MS);
    }

    #[test]
    fn rows_add_up_to_the_report() {
        let from = 0;
        let rows = summary(&[
            (0, "sms", "twilio", "created", 10),
            (HOUR_MS, "email", "smtp", "created", 4),
            (HOUR_MS, "sms", "twilio", "sent", 9),
            (HOUR_MS, "sms", "twilio", "receipt:delivered", 8),
            (HOUR_MS, "sms", "twilio", "verified", 6),
            (HOUR_MS, "sms", "twilio", "ttv:3", 5),
            (HOUR_MS, "sms", "twilio", "ttv:9", 1),
            (HOUR_MS, "sms", "twilio", "tries:0", 5),
            (HOUR_MS, "sms", "twilio", "tries:2", 1),
            (HOUR_MS, "sms", "twilio", "error:rejected", 2),
            (HOUR_MS, "sms", "twilio", "send_failed", 2),
            (HOUR_MS, "sms", "twilio", "expired", 3),
        ]);
        let r = StatsReport::from_summary(&rows, from, 3 * HOUR_MS, HOUR_MS);
        assert_eq!((r.created, r.sent, r.delivered, r.verified), (14, 9, 8, 6));
        assert_eq!(r.abandoned, 3);
        assert_eq!(r.volume.len(), 3);
        assert_eq!(r.volume[0].by_channel["sms"], 10);
        assert_eq!(r.volume[1].by_channel["email"], 4);
        assert!(r.volume[2].by_channel.is_empty());
        assert_eq!(r.tries, [5, 0, 1, 0, 0, 0]);
        let twilio = &r.providers.iter().find(|p| p.provider == "twilio").unwrap();
        assert_eq!((twilio.sent, twilio.failed, twilio.delivered), (9, 2, 8));
        assert_eq!(
            twilio.time_to_verify,
            (Percentile::Within(10_000), Percentile::Within(600_000))
        );
        assert_eq!(
            twilio.delivery_latency,
            (Percentile::None, Percentile::None)
        );
        assert_eq!(
            r.failures,
            vec![FailureRow {
                provider: "twilio".into(),
                error: "rejected".into(),
                count: 2
            }]
        );
        assert_eq!(r.countries[0].created, 14);
        assert_eq!(StatsReport::percent(6, 14), Some(42.9));
        assert_eq!(StatsReport::percent(1, 0), None);
    }

    #[test]
    fn percentiles_come_from_the_buckets() {
        let mut counts = vec![0; DURATION_BOUNDS_MS.len() + 1];
        assert_eq!(percentile(&counts, 0.5), Percentile::None);
        counts[0] = 1;
        counts[DURATION_BOUNDS_MS.len()] = 99;
        assert_eq!(percentile(&counts, 0.01), Percentile::Within(1_000));
        assert_eq!(percentile(&counts, 0.5), Percentile::Over(1_800_000));
    }
}
