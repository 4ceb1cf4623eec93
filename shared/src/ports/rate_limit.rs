//! A counter shared by every instance, so a rate limit holds across concurrent Lambdas.

use async_trait::async_trait;

use super::StoreError;

#[async_trait]
pub trait RateCounter: Send + Sync {
    /// Adds `tokens` to `bucket`'s count in the window starting at `window_start` (epoch seconds)
    /// and returns the window's count, these tokens included.
    async fn take(&self, bucket: &str, window_start: i64, tokens: u64, expires_at: i64) -> Result<u64, StoreError>;
}
