//! How the worker paces itself and what a failed send leads to: the next provider at
//! once, a retry after an exponential backoff with jitter, or a dead letter.

use crate::gateway::{
    delivery::DeliveryError,
    store::{ClaimedDelivery, DeliveryOutcome},
};
use rand::Rng;
use std::time::Duration;

/// How the worker paces itself.
#[derive(Debug, Clone)]
pub struct OutboxSettings {
    /// How often to look for due rows when nothing woke the worker.
    pub poll_interval: Duration,
    /// How long a claimed row stays with this worker; longer than any provider timeout.
    pub lease: Duration,
    /// Rows claimed per query.
    pub batch: u32,
    /// Messages in flight at once.
    pub concurrency: usize,
    /// First retry delay; doubles per attempt up to `retry_max`, with jitter.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// Consecutive failures that open a provider's circuit, and how long it stays open.
    pub breaker_failures: u32,
    pub breaker_cooldown: Duration,
    /// How long shutdown waits for sends in flight before giving their rows back.
    pub shutdown_grace: Duration,
}

impl Default for OutboxSettings {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(1),
            lease: Duration::from_secs(60),
            batch: 32,
            concurrency: 64,
            retry_base: Duration::from_secs(2),
            retry_max: Duration::from_secs(120),
            breaker_failures: 5,
            breaker_cooldown: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// The delay before retry number `attempt` (1-based): `base · 2^(attempt-1)`, at most
/// `max`, then a uniformly random point in its upper half so that retries spread out.
pub fn backoff(settings: &OutboxSettings, attempt: u32, rng: &mut impl Rng) -> Duration {
    let exp = settings
        .retry_base
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
        .min(settings.retry_max);
    let half = exp / 2;
    half + half.mul_f64(rng.random::<f64>())
}

/// Where a failed attempt leads: the next provider at once, a later retry, or the end.
pub fn after_failure(
    claimed: &ClaimedDelivery,
    error: &DeliveryError,
    now: i64,
    delay: Duration,
) -> DeliveryOutcome {
    let expires_at = claimed.verification.expires_at;
    let last = claimed.route_index as usize + 1 >= claimed.route.len();
    if !last {
        return DeliveryOutcome::Retry {
            route_index: claimed.route_index + 1,
            next_attempt_at: now,
            error: error.to_string(),
        };
    }
    if error.is_permanent() && claimed.route.len() == 1 {
        return DeliveryOutcome::Closed {
            status: "dead",
            error: error.to_string(),
        };
    }
    let next_attempt_at = now + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2);
    if next_attempt_at >= expires_at {
        return DeliveryOutcome::Closed {
            status: "dead",
            error: format!("{error}; the code expires before the next try"),
        };
    }
    DeliveryOutcome::Retry {
        route_index: 0,
        next_attempt_at,
        error: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::store::VerificationRecord;

    fn claimed(route: &[&str], index: u32, expires_at: i64) -> ClaimedDelivery {
        ClaimedDelivery {
            delivery_id: 1,
            route: route.iter().map(|s| s.to_string()).collect(),
            route_index: index,
            attempts: 1,
            send_counted: false,
            sends: None,
            address: "+14155550100".into(),
            verification: VerificationRecord {
                provider: route[0].into(),
                channel: "sms".into(),
                address: "+14155550100".into(),
                max_sends: 5,
                expires_at,
                ..VerificationRecord::sample(1, "x")
            },
            namespace: "demo".into(),
            templates_rev: 0,
            providers_rev: 0,
            app_name: "Demo".into(),
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_and_stays_under_the_cap() {
        let s = OutboxSettings {
            retry_base: Duration::from_secs(2),
            retry_max: Duration::from_secs(60),
            ..OutboxSettings::default()
        };
        let mut rng = rand::rng();
        for attempt in 1..=12u32 {
            let full = Duration::from_secs(2 * 2u64.pow(attempt - 1)).min(Duration::from_secs(60));
            for _ in 0..50 {
                let d = backoff(&s, attempt, &mut rng);
                assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
            }
        }
        let spread: std::collections::HashSet<_> =
            (0..20).map(|_| backoff(&s, 3, &mut rng)).collect();
        assert!(spread.len() > 1, "jitter spreads retries");
    }

    #[test]
    fn failures_fall_over_then_back_off_then_dead_letter() {
        let unavailable = DeliveryError::Unavailable("500".into());
        let rejected = DeliveryError::Rejected("400".into());
        let delay = Duration::from_secs(4);
        // The next provider at once.
        let c = claimed(&["a", "b"], 0, 100_000);
        assert_eq!(
            after_failure(&c, &unavailable, 1_000, delay),
            DeliveryOutcome::Retry {
                route_index: 1,
                next_attempt_at: 1_000,
                error: unavailable.to_string()
            }
        );
        // The last provider failed: back to the first, later.
        let c = claimed(&["a", "b"], 1, 100_000);
        assert!(matches!(
            after_failure(&c, &unavailable, 1_000, delay),
            DeliveryOutcome::Retry {
                route_index: 0,
                next_attempt_at: 5_000,
                ..
            }
        ));
        // A refusal with nowhere else to go is final.
        let c = claimed(&["a"], 0, 100_000);
        assert!(matches!(
            after_failure(&c, &rejected, 1_000, delay),
            DeliveryOutcome::Closed { status: "dead", .. }
        ));
        // A retry that would land after expiry is a dead letter instead.
        let c = claimed(&["a"], 0, 4_000);
        assert!(matches!(
            after_failure(&c, &unavailable, 1_000, delay),
            DeliveryOutcome::Closed { status: "dead", .. }
        ));
    }
}
