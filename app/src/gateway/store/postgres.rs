//! The PostgreSQL backend, for more than one instance: every guarantee is one statement,
//! so it holds across instances.

use super::{sql::sql_store, StoreError};
use sqlx::{postgres::PgPoolOptions, PgPool, Postgres};
use std::time::Duration;

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
}

sql_store!(PostgresStore, Postgres, "FOR UPDATE SKIP LOCKED");
