//! Stats rollups: what each event adds to the hourly counters, and how they are read.
//!
//! Every event row carries the dimensions it is counted under (its app, the verification's
//! channel and country prefix, and the provider: the one named by a delivery event, else
//! the verification's) and its `tags`, the extra counters it feeds beyond its own kind
//! (`ttv:3`, `tries:1`, `latency:2`, `receipt:delivered`, `error:rejected`, `failover`).
//! On SQLite a trigger adds each new event to `stat_hour` in the transaction that
//! recorded it. On PostgreSQL that made concurrent creates and checks wait on the hot
//! counters' row locks, so the rollups come from the event stream instead:
//! [`StatsStore::fold_stats`] (every second, from the upkeep) adds the events of ended
//! transactions to `stat_hour` and moves a mark past them in one transaction, and reads
//! add the events not folded yet, so a counter is never lost, counted twice or late.
//! [`StatsStore::rebuild_stats`] recomputes the same rows from the stored events. All are
//! one function of the event row alone, so they agree whatever happened to the
//! verification later. Hours written by an earlier version may hold several shards of a
//! counter; [`StatsStore::compact_stats`] folds them into shard 0.

use super::StoreError;
use async_trait::async_trait;
use serde_json::Value;

/// Upper bounds (exclusive, milliseconds) of the duration buckets of `ttv:` and
/// `latency:`; a duration at or above the last falls in the bucket after it.
pub const DURATION_BOUNDS_MS: [i64; 11] = [
    1_000, 2_000, 5_000, 10_000, 20_000, 30_000, 60_000, 120_000, 300_000, 600_000, 1_800_000,
];

/// Wrong codes before success are counted up to this; more fall in `tries:5`.
pub const MOST_TRIES: i64 = 5;

/// Milliseconds in an hour: rollups are per hour, starting at whole UTC hours.
pub const HOUR_MS: i64 = 3_600_000;
/// Milliseconds in a day: whole past UTC days are also kept summed (`stat_day`).
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// The bucket a duration falls in.
pub fn bucket(ms: i64) -> usize {
    DURATION_BOUNDS_MS
        .iter()
        .position(|&bound| ms < bound)
        .unwrap_or(DURATION_BOUNDS_MS.len())
}

/// The country prefix of a phone number in E.164 (`+49`), found by the longest calling
/// code of the numbering plan it starts with; empty for anything else.
pub fn country_prefix(address: &str) -> String {
    static CODES: std::sync::LazyLock<std::collections::HashSet<u16>> =
        std::sync::LazyLock::new(|| {
            phonenumber::metadata::DATABASE
                .iter()
                .map(|m| m.country_code())
                .collect()
        });
    let Some(digits) = address.strip_prefix('+') else {
        return String::new();
    };
    (1..=3)
        .rev()
        .filter_map(|n| digits.get(..n))
        .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
        .find(|p| p.parse().is_ok_and(|code: u16| CODES.contains(&code)))
        .map(|p| format!("+{p}"))
        .unwrap_or_default()
}

/// What an event of `kind` with the JSON text `detail` is counted under, as `EVENT`
/// records it: its provider ([`event_provider`]) and its tags ([`tags`]).
pub fn counted_under(kind: &str, detail: &str) -> (Option<String>, Option<String>) {
    let parsed: Value = serde_json::from_str(detail).unwrap_or(Value::Null);
    (event_provider(&parsed), tags(kind, &parsed))
}

/// The provider an event is counted under when the event names one (a send, a failure,
/// a receipt); `None` counts it under the verification's provider.
pub fn event_provider(detail: &Value) -> Option<String> {
    detail["provider"]
        .as_str()
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
}

/// A right code's `verified` event detail, for stats: how long after the create it came
/// and how many wrong codes came first.
pub fn verified_detail(after_ms: i64, wrong: u32) -> Value {
    serde_json::json!({ "after_ms": after_ms, "wrong": wrong })
}

/// The extra counters an event of `kind` with `detail` feeds, as stored in `event.tags`
/// (`None` when it feeds only its own kind's counter).
pub fn tags(kind: &str, detail: &Value) -> Option<String> {
    let mut tags: Vec<String> = Vec::new();
    match kind {
        "verified" => {
            if let Some(ms) = detail["after_ms"].as_i64() {
                tags.push(format!("ttv:{}", bucket(ms)));
            }
            if let Some(wrong) = detail["wrong"].as_i64() {
                tags.push(format!("tries:{}", wrong.clamp(0, MOST_TRIES)));
            }
        }
        "receipt" => {
            let status = detail["status"].as_str().unwrap_or_default();
            let class = match status {
                "delivered" | "read" => "delivered",
                "failed" | "undelivered" => "failed",
                _ => "other",
            };
            tags.push(format!("receipt:{class}"));
            if class == "delivered" {
                if let Some(ms) = detail["after_ms"].as_i64() {
                    tags.push(format!("latency:{}", bucket(ms)));
                }
            }
        }
        "send_failed" => {
            if let Some(class) = detail["class"].as_str() {
                tags.push(format!("error:{class}"));
            }
            let next = detail["next_provider"].as_str();
            if next.is_some_and(|next| Some(next) != detail["provider"].as_str()) {
                tags.push("failover".to_owned());
            }
        }
        _ => {}
    }
    (!tags.is_empty()).then(|| serde_json::to_string(&tags).unwrap_or_default())
}

/// The key of one rollup row, without its shard.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StatKey {
    pub app_id: i64,
    /// The hour's start, Unix milliseconds.
    pub hour: i64,
    pub channel: String,
    pub provider: String,
    pub country: String,
    /// An event kind (`created`, `sent`, `verified`, ...) or a tag (`ttv:3`).
    pub metric: String,
}

/// Which rollups to read: some apps, from `from` (inclusive) to `to` (exclusive), both
/// Unix milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsQuery {
    pub app_ids: Vec<i64>,
    pub from: i64,
    pub to: i64,
}

/// What the stats page reads, summed by the database: verifications started per bar (an
/// hour or a day, counted from the query's `from`) and channel, and every counter's total
/// per provider and country.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsSummary {
    /// (bar start, channel, verifications started)
    pub volume: Vec<(i64, String, i64)>,
    /// (provider, country, metric, total)
    pub totals: Vec<(String, String, String, i64)>,
}

/// The rollups: kept as events are recorded, read by the stats page, rebuilt on demand.
#[async_trait]
pub trait StatsStore: Send + Sync {
    /// Every counter of the query's apps and hours, summed over shards.
    async fn stats(&self, query: &StatsQuery) -> Result<Vec<(StatKey, i64)>, StoreError>;
    /// The query's counters as the stats page shows them, with bars `bar_ms` wide.
    async fn stats_summary(
        &self,
        query: &StatsQuery,
        bar_ms: i64,
    ) -> Result<StatsSummary, StoreError>;
    /// Adds the events recorded since the last fold to the hourly rollups, where the
    /// database keeps them apart until then (PostgreSQL); returns how many rollup rows it
    /// wrote. Reads count unfolded events too, so this changes no figure; the upkeep runs
    /// it every second so that reads have few to add.
    async fn fold_stats(&self) -> Result<u64, StoreError>;
    /// Folds the shards of every hour before `before` into shard 0 (same sums, fewer
    /// rows); returns how many rows it folded.
    async fn compact_stats(&self, before: i64) -> Result<u64, StoreError>;
    /// Sums the hourly rollups of every whole day not summed yet and before `before` (a
    /// UTC midnight, Unix ms) into daily ones, which [`stats_summary`](Self::stats_summary)
    /// reads for ranges by day; returns how many daily rows it wrote.
    async fn roll_days(&self, before: i64) -> Result<u64, StoreError>;
    /// Recomputes every rollup row of hours from `since` on (Unix milliseconds, rounded
    /// down to its hour) from the stored events, and the daily rollups of those days, in
    /// one transaction; returns the number of hourly rows written. Hours before `since`,
    /// and hours retention has purged events of, are kept as they are.
    async fn rebuild_stats(&self, since: i64) -> Result<u64, StoreError>;
    /// Retention: deletes up to `batch` of the verifications started before `before` (Unix
    /// ms), with their events, outbox rows and event webhook messages, and remembers
    /// `before` so [`rebuild_stats`](Self::rebuild_stats) never recomputes the hours whose
    /// events are gone. The rollups stay. Returns how many verifications went.
    async fn purge_verifications(&self, before: i64, batch: u32) -> Result<u64, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations_fall_in_their_buckets() {
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(999), 0);
        assert_eq!(bucket(1_000), 1);
        assert_eq!(bucket(59_999), 6);
        assert_eq!(bucket(1_800_000), DURATION_BOUNDS_MS.len());
        assert_eq!(bucket(i64::MAX), DURATION_BOUNDS_MS.len());
    }

    #[test]
    fn country_prefixes_follow_the_numbering_plan() {
        assert_eq!(country_prefix("+4915112345678"), "+49");
        assert_eq!(country_prefix("+14155550100"), "+1");
        assert_eq!(country_prefix("+35312345678"), "+353");
        assert_eq!(country_prefix("+971501234567"), "+971");
        assert_eq!(country_prefix("john@example.com"), "");
        assert_eq!(country_prefix("+"), "");
        assert_eq!(country_prefix("+x1"), "");
    }

    #[test]
    fn events_feed_their_tags() {
        let verified = json!({ "after_ms": 12_000, "wrong": 7 });
        assert_eq!(
            tags("verified", &verified).as_deref(),
            Some(r#"["ttv:4","tries:5"]"#)
        );
        let delivered = json!({ "provider": "sms", "status": "read", "after_ms": 1_500 });
        assert_eq!(
            tags("receipt", &delivered).as_deref(),
            Some(r#"["receipt:delivered","latency:1"]"#)
        );
        let failed = json!({ "status": "undelivered", "after_ms": 1_500 });
        assert_eq!(
            tags("receipt", &failed).as_deref(),
            Some(r#"["receipt:failed"]"#)
        );
        let over = json!({ "provider": "a", "next_provider": "b", "class": "unavailable" });
        assert_eq!(
            tags("send_failed", &over).as_deref(),
            Some(r#"["error:unavailable","failover"]"#)
        );
        let again = json!({ "provider": "a", "next_provider": "a", "class": "rejected" });
        assert_eq!(
            tags("send_failed", &again).as_deref(),
            Some(r#"["error:rejected"]"#)
        );
        assert_eq!(tags("created", &json!({})), None);
        assert_eq!(
            event_provider(&json!({ "provider": "sms" })).as_deref(),
            Some("sms")
        );
        assert_eq!(event_provider(&json!({ "via": "sms" })), None);
    }
}
