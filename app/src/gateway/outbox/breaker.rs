//! Circuit breakers, one per provider: a provider that keeps failing is given a rest
//! instead of every message waiting on it.

use crate::gateway::metrics::{self, Circuit as Shown};
use std::{collections::HashMap, sync::Mutex, time::Duration};
use tokio::time::Instant;

/// One provider's circuit: closed while it works, open after repeated failures (calls
/// fail at once, without waiting on it), half-open after the cooldown (one trial call).
#[derive(Debug, Default)]
struct Circuit {
    failures: u32,
    open_until: Option<Instant>,
    trial_in_flight: bool,
}

/// The circuits of all providers, for this process.
#[derive(Debug, Default)]
pub struct Breakers {
    circuits: Mutex<HashMap<String, Circuit>>,
}

impl Breakers {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Circuit>> {
        self.circuits.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a call to `provider` may go ahead now.
    pub fn allow(&self, provider: &str) -> bool {
        let mut all = self.lock();
        let c = all.entry(provider.to_owned()).or_default();
        match c.open_until {
            None => true,
            Some(until) if Instant::now() < until => false,
            Some(_) if c.trial_in_flight => false,
            Some(_) => {
                c.trial_in_flight = true;
                metrics::circuit(provider, Shown::HalfOpen);
                true
            }
        }
    }

    pub fn success(&self, provider: &str) {
        if let Some(was) = self.lock().insert(provider.to_owned(), Circuit::default()) {
            if was.open_until.is_some() {
                metrics::circuit(provider, Shown::Closed);
            }
        }
    }

    /// Counts a failure; opens the circuit at `threshold` or when a trial call fails.
    /// Returns whether the circuit is now open.
    pub fn failure(&self, provider: &str, threshold: u32, cooldown: Duration) -> bool {
        let mut all = self.lock();
        let c = all.entry(provider.to_owned()).or_default();
        c.failures += 1;
        let trial_failed = c.trial_in_flight;
        c.trial_in_flight = false;
        if trial_failed || c.failures >= threshold {
            c.open_until = Some(Instant::now() + cooldown);
            metrics::circuit(provider, Shown::Open);
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn circuits_open_after_failures_and_let_one_trial_through_after_cooldown() {
        let b = Breakers::default();
        let cooldown = Duration::from_millis(50);
        assert!(b.allow("p"));
        assert!(!b.failure("p", 3, cooldown));
        assert!(!b.failure("p", 3, cooldown));
        assert!(b.failure("p", 3, cooldown));
        assert!(!b.allow("p"), "open");
        assert!(b.allow("q"), "circuits are per provider");
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(b.allow("p"), "half-open: one trial");
        assert!(!b.allow("p"), "only one trial at a time");
        assert!(b.failure("p", 3, cooldown), "a failed trial reopens");
        assert!(!b.allow("p"));
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(b.allow("p"));
        b.success("p");
        assert!(b.allow("p") && b.allow("p"), "closed again");
    }
}
