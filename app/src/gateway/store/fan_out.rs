//! SQLite: what a write batch adds, just before its commit, for the events its writes
//! recorded: their counts in the hourly rollups (`stat_hour`), and a message for each of
//! the app's webhooks that takes their kind (`webhook_message`).
//!
//! Two triggers on `event` did this for each event as it was written (migrations 0012 and
//! 0013). Each ran a program of its own inside the event's statement and made SQLite keep
//! a statement journal for it: together about a fifth of the writer's time per event. Now
//! one statement of each kind covers the whole batch (`group_commit.rs`), in the batch's
//! transaction, so an event is committed with its counts and its webhook messages, or none
//! of them is.
//!
//! A batch's events are those above the largest event id when it opened (its mark): SQLite
//! gives a new row the largest id plus one, and only the writer adds events. A write on
//! the sqlx connection may delete the newest events (retention's purge, an app deleted),
//! after which new events take ids at or below the mark again; the writer lowers the mark
//! to the largest id left after each write on that connection, so none is missed. No write
//! both deletes events and records one.

use sqlx::SqliteConnection;

/// The largest event id, 0 for none.
const LAST_EVENT: &str = "SELECT COALESCE(MAX(event_id), 0) FROM event";

/// Counts the events above `$1` (their kind and each of their tags) in `stat_hour`, as
/// the stats read them.
const TO_STATS: &str = "INSERT INTO stat_hour \
     (app_id, hour, channel, provider, country, metric, shard, n) \
     SELECT app_id, hour, channel, provider, country, metric, 0, COUNT(*) FROM ( \
       SELECT e.app_id, e.created_at - e.created_at % 3600000 AS hour, e.channel, \
              e.provider, e.country, e.kind AS metric \
       FROM event e WHERE e.event_id > $1 AND e.app_id IS NOT NULL \
       UNION ALL \
       SELECT e.app_id, e.created_at - e.created_at % 3600000, e.channel, e.provider, \
              e.country, t.value \
       FROM event e, json_each(e.tags) t \
       WHERE e.event_id > $1 AND e.app_id IS NOT NULL AND e.tags IS NOT NULL) \
     GROUP BY app_id, hour, channel, provider, country, metric \
     ON CONFLICT (app_id, hour, channel, provider, country, metric, shard) \
     DO UPDATE SET n = n + excluded.n";

/// Queues, for each event above `$1`, a message to each webhook of its app that takes its
/// kind, in the order the events were written.
const TO_WEBHOOKS: &str = "INSERT INTO webhook_message \
     (webhook_id, event_id, next_attempt_at, created_at, updated_at) \
     SELECT w.webhook_id, e.event_id, e.created_at, e.created_at, e.created_at \
     FROM event e JOIN app_webhook w ON w.app_id = e.app_id \
     WHERE e.event_id > $1 AND instr(w.kinds, ',' || e.kind || ',') > 0 \
     ORDER BY e.event_id, w.webhook_id";

/// The largest event id on the direct connection (a batch's mark).
pub(super) fn last(db: &rusqlite::Connection) -> rusqlite::Result<i64> {
    db.prepare_cached(LAST_EVENT)?
        .query_row([], |row| row.get(0))
}

/// The largest event id on the sqlx connection.
pub(super) async fn last_sqlx(conn: &mut SqliteConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(LAST_EVENT).fetch_one(conn).await
}

/// Adds the events above `mark` to the rollups and the webhook queue, on the direct
/// connection.
pub(super) fn add(db: &rusqlite::Connection, mark: i64) -> rusqlite::Result<()> {
    for sql in [TO_STATS, TO_WEBHOOKS] {
        db.prepare_cached(sql)?.execute([mark])?;
    }
    Ok(())
}

/// [`add`] on the sqlx connection.
pub(super) async fn add_sqlx(conn: &mut SqliteConnection, mark: i64) -> Result<(), sqlx::Error> {
    for sql in [TO_STATS, TO_WEBHOOKS] {
        sqlx::query(sql).bind(mark).execute(&mut *conn).await?;
    }
    Ok(())
}
