//! Per-key rate limits in fixed one-minute windows, counted in the shared store so they hold
//! across every concurrent instance.

use std::sync::Arc;

use tracing::warn;

use crate::domain::tenant::ApiKeyRecord;
use crate::domain::time::Timestamp;
use crate::ports::RateCounter;
use crate::telemetry::chain;

const WINDOW_SECS: i64 = 60;

/// Where a key stands in the current window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateStatus {
    pub limit: u32,
    pub remaining: u32,
    /// Epoch seconds when the window resets.
    pub reset: i64,
    /// Set when this request is over the limit: seconds until it may be retried.
    pub retry_after: Option<u64>,
}

#[derive(Clone)]
pub struct RateLimiter {
    counter: Arc<dyn RateCounter>,
    /// Requests per minute for keys without their own limit; `None` switches limiting off.
    default_per_minute: Option<u32>,
}

impl RateLimiter {
    pub fn new(counter: Arc<dyn RateCounter>, default_per_minute: Option<u32>) -> RateLimiter {
        RateLimiter { counter, default_per_minute }
    }

    /// Counts this request; `None` when limiting is off (then no store request is made).
    /// If the counter is unavailable the request is let through: a limiter must not take the API down.
    pub async fn check(&self, key: &ApiKeyRecord, now: Timestamp) -> Option<RateStatus> {
        let default = self.default_per_minute?;
        let limit = key.rate_limit.unwrap_or(default);
        let now = now.epoch_secs();
        let window_start = now - now.rem_euclid(WINDOW_SECS);
        let reset = window_start + WINDOW_SECS;
        let hits = match self.counter.hit(&key.key_id, window_start, reset + WINDOW_SECS).await {
            Ok(hits) => hits,
            Err(err) => {
                warn!(key_id = %key.key_id, error = %chain(&err), "rate counter unavailable; letting the request through");
                return Some(RateStatus { limit, remaining: limit, reset, retry_after: None });
            }
        };
        let remaining = u64::from(limit).saturating_sub(hits) as u32;
        let retry_after = (hits > u64::from(limit)).then(|| (reset - now).max(1) as u64);
        Some(RateStatus { limit, remaining, reset, retry_after })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::{ManualClock, MemoryRateCounter};
    use crate::domain::ids::OrgId;
    use crate::domain::tenant::NewApiKey;
    use crate::ports::Clock;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_epoch_secs(secs).unwrap()
    }

    fn key(limit: Option<u32>) -> ApiKeyRecord {
        NewApiKey::generate(OrgId::from("org-1"), limit, at(0)).record
    }

    #[tokio::test]
    async fn remaining_counts_down_then_the_limit_answers_retry_after() {
        let limiter = RateLimiter::new(Arc::new(MemoryRateCounter::default()), Some(100));
        let key = key(Some(3));
        let clock = ManualClock::at(at(1_700_000_010));
        let mut seen = vec![];
        for _ in 0..4 {
            let status = limiter.check(&key, clock.now()).await.unwrap();
            seen.push((status.remaining, status.retry_after));
            assert_eq!((status.limit, status.reset), (3, 1_700_000_040));
        }
        assert_eq!(seen, [(2, None), (1, None), (0, None), (0, Some(30))]);
        // A new window starts afresh.
        clock.advance(std::time::Duration::from_secs(30));
        assert_eq!(limiter.check(&key, clock.now()).await.unwrap().remaining, 2);
    }

    #[tokio::test]
    async fn keys_without_a_limit_use_the_default_and_off_means_off() {
        let counter = Arc::new(MemoryRateCounter::default());
        let now = at(1_700_000_000);
        let on = RateLimiter::new(counter.clone(), Some(600));
        assert_eq!(on.check(&key(None), now).await.unwrap().limit, 600);
        let off = RateLimiter::new(counter, None);
        assert_eq!(off.check(&key(Some(1)), now).await, None);
    }
}
