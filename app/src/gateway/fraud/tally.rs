//! Pumping detection's counts and rules. Each process counts the SMS it queues and the
//! verifications that follow them per (app, country, minute) and per (app, block of 100
//! numbers, minute) in memory ([`Tallies`]); the guard writes them to the database every
//! second or so, and judges the sums of every process over a sliding window
//! ([`judge_country`], [`judge_block`]).

use std::{collections::HashMap, sync::Mutex};

pub const MINUTE_MS: i64 = 60_000;

/// The subject written for a number of no country (`+800 …`).
pub const NO_COUNTRY: &str = "ZZ";

/// The start of the minute `ms` falls in.
pub fn minute_of(ms: i64) -> i64 {
    ms - ms.rem_euclid(MINUTE_MS)
}

/// What a tally or a hold is about: one country of one app, or one block of its numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    Country,
    Block,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Country => "country",
            Scope::Block => "block",
        }
    }

    pub fn parse(raw: &str) -> Option<Scope> {
        match raw {
            "country" => Some(Scope::Country),
            "block" => Some(Scope::Block),
            _ => None,
        }
    }
}

/// One row of counts: an app's sends and verifications to one subject in one minute.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TallyKey {
    pub app_id: i64,
    pub scope: Scope,
    pub subject: String,
    pub minute: i64,
}

impl TallyKey {
    pub fn new(app_id: i64, scope: Scope, subject: &str, minute: i64) -> Self {
        Self {
            app_id,
            scope,
            subject: subject.to_owned(),
            minute,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub sent: i64,
    pub verified: i64,
}

/// A block seen by this process within the window: its sends, and when it was last sent
/// to.
#[derive(Debug, Clone, Copy)]
struct Seen {
    sends: i64,
    last_minute: i64,
}

#[derive(Default)]
struct Pending {
    counts: HashMap<TallyKey, Counts>,
    blocks: HashMap<(i64, String), Seen>,
}

/// Counts not written yet. A block's counts are written once this process has seen two
/// sends to it within the window, so random numbers (one send per block) add no rows.
pub struct Tallies {
    pending: Mutex<Pending>,
    window_ms: i64,
}

/// At most this many blocks are remembered between writes; more are not judged.
pub const MAX_BLOCKS: usize = 200_000;

impl Tallies {
    /// Tallies for a detector judging windows of `window_ms`.
    pub fn new(window_ms: i64) -> Self {
        Self {
            pending: Mutex::default(),
            window_ms,
        }
    }

    /// An SMS (or WhatsApp, voice) message queued for `app_id` to a number of `country`
    /// in `block`.
    pub fn sent(&self, app_id: i64, country: &str, block: Option<&str>, now_ms: i64) {
        let minute = minute_of(now_ms);
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let key = TallyKey::new(app_id, Scope::Country, country, minute);
        p.counts.entry(key).or_default().sent += 1;
        let Some(block) = block else { return };
        let full = p.blocks.len() >= MAX_BLOCKS;
        let oldest = minute_of(now_ms - self.window_ms);
        let seen = match p.blocks.get_mut(&(app_id, block.to_owned())) {
            // Seen before the window: it starts over.
            Some(seen) if seen.last_minute < oldest => {
                seen.sends = 0;
                seen
            }
            Some(seen) => seen,
            None if full => return,
            None => p.blocks.entry((app_id, block.to_owned())).or_insert(Seen {
                sends: 0,
                last_minute: minute,
            }),
        };
        seen.sends += 1;
        seen.last_minute = minute;
        let key = TallyKey::new(app_id, Scope::Block, block, minute);
        p.counts.entry(key).or_default().sent += 1;
    }

    /// A verification of a message sent at `sent_at_ms` succeeded: counted in the minute
    /// of that send, so a window's conversion compares like with like.
    pub fn verified(&self, app_id: i64, country: &str, block: Option<&str>, sent_at_ms: i64) {
        let minute = minute_of(sent_at_ms);
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let scopes = [(Scope::Country, Some(country)), (Scope::Block, block)];
        for (scope, subject) in scopes {
            let Some(subject) = subject else { continue };
            let key = TallyKey::new(app_id, scope, subject, minute);
            p.counts.entry(key).or_default().verified += 1;
        }
    }

    /// The counts to write, taken out: every country's, and the blocks seen at least
    /// twice within the window (their verifications are written only onto rows that
    /// exist: see `GuardStore::add_tallies`). Blocks not sent to within the window are
    /// forgotten.
    pub fn take(&self, now_ms: i64) -> Vec<(TallyKey, Counts)> {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let counts = std::mem::take(&mut p.counts);
        let oldest = minute_of(now_ms - self.window_ms);
        p.blocks.retain(|_, seen| seen.last_minute >= oldest);
        let blocks = &p.blocks;
        let mut out: Vec<_> = counts
            .into_iter()
            .filter(|(k, c)| {
                k.scope == Scope::Country
                    || c.sent == 0
                    || blocks
                        .get(&(k.app_id, k.subject.clone()))
                        .is_some_and(|seen| seen.sends >= 2)
            })
            .collect();
        // A fixed order: two writers lock rows in the same order.
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Counts taken but not written (the database was out of reach): kept for the next
    /// write.
    pub fn put_back(&self, rows: Vec<(TallyKey, Counts)>) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        for (key, c) in rows {
            let entry = p.counts.entry(key).or_default();
            entry.sent += c.sent;
            entry.verified += c.verified;
        }
    }
}

/// The detector's thresholds. The defaults are documented in the README.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PumpingSettings {
    pub enabled: bool,
    /// The sliding window sends and verifications are compared over.
    pub window_ms: i64,
    /// A minute's sends count toward conversion once this long has passed after it ends
    /// (people take a while to type a code).
    pub settle_ms: i64,
    /// Settled sends needed before a country's conversion is judged.
    pub min_sends: i64,
    /// Conversion (verified per hundred sent) below which sends are held.
    pub min_conversion_pct: i64,
    /// A surge: at least this many sends in the window …
    pub surge_floor: i64,
    /// … and more than this many times the country's usual sends per window …
    pub surge_factor: i64,
    /// … counted over this long before the window, while their conversion is low.
    pub baseline_ms: i64,
    /// Sends to one block of 100 numbers in the window that, while their conversion is
    /// low, hold the block.
    pub block_sends: i64,
}

impl Default for PumpingSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            window_ms: 10 * MINUTE_MS,
            settle_ms: MINUTE_MS,
            min_sends: 30,
            min_conversion_pct: 20,
            surge_floor: 100,
            surge_factor: 10,
            baseline_ms: 24 * 60 * MINUTE_MS,
            block_sends: 10,
        }
    }
}

/// A subject's counts over the window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    pub sent: i64,
    pub verified: i64,
    /// Of the minutes that have settled.
    pub settled_sent: i64,
    pub settled_verified: i64,
}

impl Window {
    /// Adds one minute's counts, settled or not as of `now_ms`.
    pub fn add(&mut self, s: &PumpingSettings, minute: i64, c: Counts, now_ms: i64) {
        self.sent += c.sent;
        self.verified += c.verified;
        if minute + MINUTE_MS <= now_ms - s.settle_ms {
            self.settled_sent += c.sent;
            self.settled_verified += c.verified;
        }
    }
}

/// Why sends were held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldReason {
    /// Few of the settled sends were verified.
    LowConversion,
    /// Far more sends than usual, and few verified.
    Surge,
    /// Many sends to one block of numbers, and few verified.
    SequentialNumbers,
}

impl HoldReason {
    pub fn as_str(self) -> &'static str {
        match self {
            HoldReason::LowConversion => "low_conversion",
            HoldReason::Surge => "surge",
            HoldReason::SequentialNumbers => "sequential_numbers",
        }
    }
}

fn low(s: &PumpingSettings, verified: i64, sent: i64) -> bool {
    verified * 100 < s.min_conversion_pct * sent
}

/// Whether a country's window calls for a hold; `baseline_sent` is its sends over the
/// `baseline_ms` before the window.
pub fn judge_country(s: &PumpingSettings, w: Window, baseline_sent: i64) -> Option<HoldReason> {
    if w.settled_sent >= s.min_sends && low(s, w.settled_verified, w.settled_sent) {
        return Some(HoldReason::LowConversion);
    }
    // The usual sends per window, rounded up.
    let usual = (baseline_sent * s.window_ms + s.baseline_ms - 1) / s.baseline_ms.max(1);
    if w.sent >= s.surge_floor && w.sent > s.surge_factor * usual && low(s, w.verified, w.sent) {
        return Some(HoldReason::Surge);
    }
    None
}

/// Whether a block's window calls for a hold.
pub fn judge_block(s: &PumpingSettings, w: Window) -> Option<HoldReason> {
    (w.sent >= s.block_sends && low(s, w.verified, w.sent)).then_some(HoldReason::SequentialNumbers)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn blocks_are_written_once_seen_twice() {
        let t = Tallies::new(600_000);
        t.sent(1, "US", Some("+1415555010"), NOW);
        t.sent(1, "US", Some("+1415555020"), NOW);
        let rows = t.take(NOW);
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0].0.scope, Scope::Country);
        assert_eq!(rows[0].1.sent, 2);
        // A second send to a block seen before: its count is written from now on.
        t.sent(1, "US", Some("+1415555010"), NOW + 1000);
        let rows = t.take(NOW + 1000);
        assert!(rows
            .iter()
            .any(|(k, c)| k.scope == Scope::Block && k.subject == "+1415555010" && c.sent == 1));
        // Forgotten after the window.
        t.sent(1, "US", Some("+1415555020"), NOW + 700_000);
        let rows = t.take(NOW + 700_000);
        assert!(rows.iter().all(|(k, _)| k.scope == Scope::Country));
    }

    #[test]
    fn verifications_count_in_the_minute_of_their_send() {
        let t = Tallies::new(600_000);
        t.verified(1, "IN", Some("+9198765432"), NOW - 90_000);
        let rows = t.take(NOW);
        assert_eq!(rows.len(), 2);
        assert!(rows
            .iter()
            .all(|(k, c)| k.minute == minute_of(NOW - 90_000) && c.verified == 1 && c.sent == 0));
    }

    fn window(s: &PumpingSettings, minutes: &[(i64, i64, i64)]) -> Window {
        let mut w = Window::default();
        for &(ago_min, sent, verified) in minutes {
            let minute = minute_of(NOW) - ago_min * MINUTE_MS;
            w.add(s, minute, Counts { sent, verified }, NOW);
        }
        w
    }

    #[test]
    fn conversion_is_judged_on_settled_minutes() {
        let s = PumpingSettings::default();
        // 40 sends this minute, none verified yet: not settled, not judged on conversion.
        let fresh = window(&s, &[(0, 40, 0)]);
        assert_eq!(fresh.settled_sent, 0);
        assert_eq!(judge_country(&s, fresh, 100_000), None);
        // The same 5 minutes ago with 2 verified: held.
        let old = window(&s, &[(5, 40, 2)]);
        assert_eq!(
            judge_country(&s, old, 100_000),
            Some(HoldReason::LowConversion)
        );
        // Healthy: 40 sent, 30 verified.
        assert_eq!(judge_country(&s, window(&s, &[(5, 40, 30)]), 100_000), None);
    }

    #[test]
    fn a_surge_is_judged_against_the_usual_volume() {
        let s = PumpingSettings::default();
        let burst = window(&s, &[(0, 500, 0)]);
        assert_eq!(judge_country(&s, burst, 0), Some(HoldReason::Surge));
        // Usually 60 a window (8,640 a day): 500 is under 10×.
        assert_eq!(judge_country(&s, burst, 8_640), None);
        // A surge that verifies is not held.
        assert_eq!(judge_country(&s, window(&s, &[(0, 500, 200)]), 0), None);
        // Under the floor.
        assert_eq!(judge_country(&s, window(&s, &[(0, 99, 0)]), 0), None);
    }

    #[test]
    fn a_block_is_held_on_many_sends_that_do_not_verify() {
        let s = PumpingSettings::default();
        assert_eq!(
            judge_block(&s, window(&s, &[(0, 10, 1)])),
            Some(HoldReason::SequentialNumbers)
        );
        assert_eq!(judge_block(&s, window(&s, &[(0, 10, 2)])), None);
        assert_eq!(judge_block(&s, window(&s, &[(0, 9, 0)])), None);
    }
}
