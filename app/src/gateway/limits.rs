//! Rate limits: fixed-window counters kept in the database, so they hold across restarts
//! and instances. Addresses appear in bucket keys only as a SHA-256 digest.

use sha2::{Digest, Sha256};
use std::net::IpAddr;

/// One limit: at most `max` hits per `window_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max: i64,
    pub window_secs: i64,
}

impl Limit {
    pub const fn new(max: i64, window_secs: i64) -> Self {
        Self { max, window_secs }
    }

    /// The start of the window containing `now_ms`, and the seconds until it ends.
    pub fn window(self, now_ms: i64) -> (i64, u64) {
        let len = self.window_secs * 1000;
        let start = now_ms - now_ms.rem_euclid(len);
        (
            start,
            u64::try_from((start + len - now_ms + 999) / 1000)
                .unwrap_or(1)
                .max(1),
        )
    }
}

/// The limits the engine enforces. Defaults are ours, chosen for a busy but honest app.
#[derive(Debug, Clone)]
pub struct LimitSettings {
    /// Creates per client IP (`None`: unlimited).
    pub create_per_ip: Option<Limit>,
    /// Creates per app.
    pub create_per_app: Option<Limit>,
    /// Checks per client IP.
    pub check_per_ip: Option<Limit>,
    /// Checks per app.
    pub check_per_app: Option<Limit>,
    /// Wrong codes per (app, address), whatever the verification: new verifications do not
    /// reset it (RFC 4226 §7.3).
    pub failed_checks_per_address: Limit,
    /// Messages per (app, address); over it, sends are silently skipped.
    pub sends_per_address: Limit,
    /// Resends per client IP.
    pub resend_per_ip: Option<Limit>,
    /// Seconds between two sends of one verification.
    pub resend_cooldown_secs: i64,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            create_per_ip: Some(Limit::new(60, 60)),
            create_per_app: Some(Limit::new(6000, 60)),
            check_per_ip: Some(Limit::new(120, 60)),
            check_per_app: Some(Limit::new(12000, 60)),
            failed_checks_per_address: Limit::new(20, 3600),
            sends_per_address: Limit::new(10, 3600),
            resend_per_ip: Some(Limit::new(30, 60)),
            resend_cooldown_secs: 30,
        }
    }
}

/// How long the upkeep keeps a rate bucket after its window started, at the least: a
/// day, longer than the window of every limit outside the settings (sign-in and
/// second-step tries, sign-ups, provider tests, an hour at most).
pub const BUCKETS_KEPT_AT_LEAST_SECS: i64 = 24 * 60 * 60;

impl LimitSettings {
    /// How long after its window started a rate bucket may still count: the longest
    /// window of these limits, and at least [`BUCKETS_KEPT_AT_LEAST_SECS`]. A bucket whose
    /// window started earlier counts nothing (a hit on it starts a new window), and the
    /// upkeep deletes it.
    pub fn bucket_lifetime_secs(&self) -> i64 {
        [
            self.create_per_ip,
            self.create_per_app,
            self.check_per_ip,
            self.check_per_app,
            self.resend_per_ip,
            Some(self.failed_checks_per_address),
            Some(self.sends_per_address),
        ]
        .into_iter()
        .flatten()
        .map(|limit| limit.window_secs)
        .fold(BUCKETS_KEPT_AT_LEAST_SECS, i64::max)
    }

    /// No per-IP or per-app request limits, only the per-address and per-verification ones
    /// (load tests, or a deployment that limits callers in front of otpgate).
    pub fn without_caller_limits(mut self) -> Self {
        self.create_per_ip = None;
        self.create_per_app = None;
        self.check_per_ip = None;
        self.check_per_app = None;
        self.resend_per_ip = None;
        self
    }
}

/// A bucket key for `(kind, app, subject)`.
pub fn key(kind: &str, app_id: i64, subject: &str) -> String {
    format!("{kind}:{app_id}:{subject}")
}

/// The bucket subject for an address: a digest, so no address is stored in clear here.
pub fn address_subject(address: &str) -> String {
    let digest = Sha256::digest(address.as_bytes());
    crate::gateway::secret::hex(&digest[..16])
}

/// The send cap's bucket for `address` of app `app_id`.
pub fn send_key(app_id: i64, address: &str) -> String {
    key("send_addr", app_id, &address_subject(address))
}

/// The bucket subject for a client IP (IPv6 by its /64, which one host usually owns).
pub fn ip_subject(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_align_and_report_the_seconds_left() {
        let limit = Limit::new(5, 60);
        assert_eq!(limit.window(120_000), (120_000, 60));
        assert_eq!(limit.window(179_500), (120_000, 1));
        assert_eq!(limit.window(150_000), (120_000, 30));
    }

    #[test]
    fn buckets_outlive_every_window() {
        use crate::gateway::tenants::{
            providers::TESTS_PER_HOUR,
            sessions::{SIGN_IN_PER_ACCOUNT, SIGN_IN_PER_IP},
            two_factor::SECOND_STEP_PER_MEMBER,
            SIGN_UP_PER_IP,
        };
        let defaults = LimitSettings::default();
        assert_eq!(defaults.bucket_lifetime_secs(), BUCKETS_KEPT_AT_LEAST_SECS);
        for fixed in [
            TESTS_PER_HOUR,
            SIGN_IN_PER_ACCOUNT,
            SIGN_IN_PER_IP,
            SECOND_STEP_PER_MEMBER,
            SIGN_UP_PER_IP,
        ] {
            assert!(fixed.window_secs <= BUCKETS_KEPT_AT_LEAST_SECS);
        }
        let weekly = LimitSettings {
            sends_per_address: Limit::new(10, 7 * 86_400),
            ..defaults.clone()
        };
        assert_eq!(weekly.bucket_lifetime_secs(), 7 * 86_400);
        let per_ip = LimitSettings {
            create_per_ip: Some(Limit::new(10, 2 * 86_400)),
            ..defaults.without_caller_limits()
        };
        assert_eq!(per_ip.bucket_lifetime_secs(), 2 * 86_400);
    }

    #[test]
    fn subjects_hide_addresses_and_group_ipv6_by_prefix() {
        let s = address_subject("john@example.com");
        // The first half of its SHA-256, as buckets already stored name it.
        assert_eq!(s, "855f96e983f1f8e8be944692b6f719fd");
        assert!(!s.contains("john"));
        let a: IpAddr = "2001:db8:1:2:3:4:5:6".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::1".parse().unwrap();
        assert_eq!(ip_subject(a), ip_subject(b));
        assert_eq!(ip_subject("10.0.0.1".parse().unwrap()), "10.0.0.1");
    }
}
