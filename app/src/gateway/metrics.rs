//! What the engine counts and times for `/metrics`. Each function names one metric, so
//! the names and labels live here and the code that records them reads as what happened.
//! With no recorder installed (tests, the CLI) they cost next to nothing. Labels are
//! bounded: apps, channels, providers and fixed outcome names, never an address or id.

use std::time::Duration;

/// A verification of `app` on `channel` was created, verified, locked or expired
/// (`otpgate_verifications_total`).
pub fn verification(app: &str, channel: &str, event: &'static str) {
    metrics::counter!(
        "otpgate_verifications_total",
        "app" => app.to_owned(),
        "channel" => channel.to_owned(),
        "event" => event,
    )
    .increment(1);
}

/// An app secret was checked against its argon2id hashes (a pair not remembered from
/// the last minute): `otpgate_app_secret_checks_total{result="match|mismatch"}`. A high
/// rate of mismatches is someone guessing secrets.
pub fn secret_checked(matched: bool) {
    let result = if matched { "match" } else { "mismatch" };
    metrics::counter!("otpgate_app_secret_checks_total", "result" => result).increment(1);
}

/// A check of a code at `app` was answered with `result` (`otpgate_checks_total`).
pub fn check(app: &str, result: &'static str) {
    metrics::counter!("otpgate_checks_total", "app" => app.to_owned(), "result" => result)
        .increment(1);
}

/// A message went out through `provider` (`otpgate_messages_sent_total`).
pub fn message_sent(provider: &str) {
    metrics::counter!("otpgate_messages_sent_total", "provider" => provider.to_owned())
        .increment(1);
}

/// A send through `provider` failed, of error class `class`
/// (`otpgate_messages_failed_total`).
pub fn message_failed(provider: &str, class: &'static str) {
    metrics::counter!(
        "otpgate_messages_failed_total",
        "provider" => provider.to_owned(),
        "class" => class,
    )
    .increment(1);
}

/// A provider's circuit breaker changed state (`otpgate_provider_circuit`: 0 closed,
/// 1 open, 2 half-open: one trial call let through).
pub fn circuit(provider: &str, state: Circuit) {
    metrics::gauge!("otpgate_provider_circuit", "provider" => provider.to_owned())
        .set(state as u8 as f64);
}

/// A circuit breaker's state, as `/metrics` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Circuit {
    Closed = 0,
    Open = 1,
    HalfOpen = 2,
}

/// The outbox right now: messages waiting to be sent (due or leased), and how long the
/// oldest due one has waited (`otpgate_outbox_depth`, `otpgate_outbox_oldest_due_seconds`).
pub fn outbox(depth: i64, oldest_due: Duration) {
    metrics::gauge!("otpgate_outbox_depth").set(depth as f64);
    metrics::gauge!("otpgate_outbox_oldest_due_seconds").set(oldest_due.as_secs_f64());
}

/// The worker took `rows` outbox rows to send (`otpgate_outbox_taken_total{how}`):
/// `handed` by the create that leased them to it as it wrote them, or `claimed` from the
/// table (a retry, a resend, a row another worker left, or one queued while too many
/// waited to be handed over).
pub fn outbox_taken(how: &'static str, rows: usize) {
    if rows > 0 {
        metrics::counter!("otpgate_outbox_taken_total", "how" => how).increment(rows as u64);
    }
}

/// Tasks alive in the runtime right now (`otpgate_runtime_tasks`): a figure that only
/// climbs is a leak.
pub fn runtime_tasks(alive: usize) {
    metrics::gauge!("otpgate_runtime_tasks").set(alive as f64);
}

/// The database pool right now (`otpgate_db_connections{state="busy|idle"}`).
pub fn db_connections(busy: u32, idle: u32) {
    metrics::gauge!("otpgate_db_connections", "state" => "busy").set(f64::from(busy));
    metrics::gauge!("otpgate_db_connections", "state" => "idle").set(f64::from(idle));
}

/// A write waited this long for SQLite's writer connection
/// (`otpgate_write_queue_seconds`).
pub fn write_queued(wait: Duration) {
    metrics::histogram!("otpgate_write_queue_seconds").record(wait.as_secs_f64());
}

/// A write held SQLite's writer this long, from its first statement to its last
/// (`otpgate_write_hold_seconds{connection="direct|sqlx"}`: the hot writes' synchronous
/// connection or the other): the writes of a batch run one after another, so this bounds
/// how many a second the writer takes.
pub fn write_held(connection: &'static str, held: Duration) {
    metrics::histogram!("otpgate_write_hold_seconds", "connection" => connection)
        .record(held.as_secs_f64());
}

/// A write batch (SQLite's group commit, or one of PostgreSQL's write batchers) was
/// committed: how many writes it held, how long its `COMMIT` took and how long it was open.
pub fn batch_committed(writes: usize, commit: Duration, open: Duration) {
    metrics::histogram!("otpgate_write_batch_writes").record(writes as f64);
    metrics::histogram!("otpgate_write_commit_seconds").record(commit.as_secs_f64());
    metrics::histogram!("otpgate_write_batch_open_seconds").record(open.as_secs_f64());
}

/// PostgreSQL read this many verifications in one statement (`otpgate_read_batch_reads`):
/// the hot reads that came while the batch before was out.
pub fn read_batch(reads: usize) {
    metrics::histogram!("otpgate_read_batch_reads").record(reads as f64);
}

/// SQLite's writer tried to copy the WAL's last frames into the database file between two
/// batches, this long (`otpgate_wal_catch_up_seconds`; a try that finds the checkpoint
/// thread copying gives up in microseconds): the writes queued meanwhile wait.
pub fn wal_caught_up(took: Duration) {
    metrics::histogram!("otpgate_wal_catch_up_seconds").record(took.as_secs_f64());
}

/// The fraud guard refused a message of `app` for `reason` (`country_not_allowed`,
/// `suspected_fraud`, `budget_exceeded`): `otpgate_guard_refusals_total`.
pub fn guard_refused(app: &str, reason: &'static str) {
    metrics::counter!(
        "otpgate_guard_refusals_total",
        "app" => app.to_owned(),
        "reason" => reason,
    )
    .increment(1);
}

/// The pumping detector held sends to a country or a block of numbers
/// (`otpgate_guard_holds_total{scope="country|block"}`); the dashboard names the app.
pub fn guard_held(scope: &'static str) {
    metrics::counter!("otpgate_guard_holds_total", "scope" => scope).increment(1);
}
