//! The PostgreSQL backend, for more than one instance: every guarantee is one statement,
//! so it holds across instances.

use super::{sql::sql_store, StoreError};
use sqlx::{
    postgres::{PgListener, PgPoolOptions},
    PgPool, Postgres,
};
use std::{sync::Arc, time::Duration};
use tokio::sync::Notify;

/// PostgreSQL-backed [`Store`](super::Store).
#[derive(Clone, Debug)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to `url` and applies the migrations. 16 connections cover a busy instance
    /// on a small database server; acquiring one waits at most 5 s before failing closed.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await?;
        sqlx::migrate!("../migrations/postgres").run(&pool).await?;
        Ok(Self { pool })
    }

    /// Listens on `otpgate_event` (see migration 0006) on a connection of its own and
    /// raises the returned signal for each notification. A lost connection is re-opened by
    /// the listener; the signal is raised then too, since notifications sent meanwhile
    /// are gone and the reader must look for itself.
    async fn listen_for_events(&self) -> Result<Option<Arc<Notify>>, StoreError> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(EVENT_CHANNEL).await?;
        let signal = Arc::new(Notify::new());
        let raised = signal.clone();
        tokio::spawn(async move {
            loop {
                match listener.try_recv().await {
                    // A notification, or a dropped connection (the next call reconnects
                    // and listens again): either way the reader looks.
                    Ok(_) => raised.notify_one(),
                    Err(e) => {
                        tracing::warn!(error = ?e, "live updates: LISTEN failed; retrying");
                        raised.notify_one();
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
                // Nobody holds the signal any more: the pump has stopped.
                if Arc::strong_count(&raised) == 1 {
                    return;
                }
            }
        });
        Ok(Some(signal))
    }
}

/// The channel the event trigger notifies.
const EVENT_CHANNEL: &str = "otpgate_event";

sql_store!(PostgresStore, Postgres, "FOR UPDATE SKIP LOCKED");
