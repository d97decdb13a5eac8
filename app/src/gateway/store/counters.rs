//! Counters and single-use keys: rate buckets, used token ids, idempotent answers.

use super::StoreError;
use async_trait::async_trait;

/// A stored answer to an idempotent create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotentAnswer {
    pub request_hash: Vec<u8>,
    pub status: u16,
    pub response: String,
}

/// Rate buckets, token single use and idempotency.
#[async_trait]
pub trait CounterStore: Send + Sync {
    /// Adds `hits` to the fixed-window counter `key` (the window starting at
    /// `window_start`) and returns the window's total, in one upsert.
    async fn hit(&self, key: &str, window_start: i64, hits: i64) -> Result<i64, StoreError>;
    /// The current window's total for `key` without changing it.
    async fn peek(&self, key: &str, window_start: i64) -> Result<i64, StoreError>;
    /// Records a token's single use; false if its `jti` was used before.
    async fn use_token(
        &self,
        jti: &str,
        app_id: i64,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError>;
    /// The stored answer for an idempotency key.
    async fn idempotency_get(
        &self,
        app_id: i64,
        key: &str,
    ) -> Result<Option<IdempotentAnswer>, StoreError>;
    /// Stores an answer; false when another request stored one first.
    async fn idempotency_put(
        &self,
        app_id: i64,
        key: &str,
        answer: &IdempotentAnswer,
        now: i64,
    ) -> Result<bool, StoreError>;
    /// Upkeep: among the next `batch` rate buckets after the key `after` (in key order),
    /// deletes those whose window started at or before `ended_by` (Unix ms). Returns how
    /// many went and the last key looked at, or `None` once the last bucket was reached.
    async fn purge_buckets(
        &self,
        after: &str,
        ended_by: i64,
        batch: u32,
    ) -> Result<(u64, Option<String>), StoreError>;
    /// Upkeep: deletes up to `batch` records of used tokens that expired before `before`
    /// (Unix ms); how many went.
    async fn purge_used_tokens(&self, before: i64, batch: u32) -> Result<u64, StoreError>;
    /// Upkeep: deletes up to `batch` idempotent answers stored before `before` (Unix ms);
    /// how many went.
    async fn purge_idempotency(&self, before: i64, batch: u32) -> Result<u64, StoreError>;
}
