//! A counter shared by every instance, so a rate limit holds across concurrent Lambdas.

use async_trait::async_trait;

use super::StoreError;

#[async_trait]
pub trait RateCounter: Send + Sync {
    /// Counts one request against `bucket` in the window starting at `window_start` (epoch seconds)
    /// and returns the window's count, this request included.
    async fn hit(&self, bucket: &str, window_start: i64, expires_at: i64) -> Result<u64, StoreError>;
}
