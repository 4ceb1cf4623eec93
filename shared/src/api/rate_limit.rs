//! Per-key rate limits in fixed one-minute windows, counted in the shared store so they hold
//! across every concurrent instance. An instance takes tokens from the shared counter in blocks
//! (`block_size`) and spends them locally, so a busy key costs one counter write per block, not one
//! per request. A block an instance does not finish counts as spent: with N instances a key may be
//! refused up to N × (block − 1) requests early (at most 2% of its limit each), never let past it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tracing::warn;

use crate::domain::tenant::ApiKeyRecord;
use crate::domain::time::Timestamp;
use crate::ports::RateCounter;
use crate::telemetry::chain;

const WINDOW_SECS: i64 = 60;
/// The most tokens an instance takes at once.
const MAX_BLOCK: u32 = 20;

/// Tokens an instance takes from the shared counter at once for a key allowed `limit` a minute:
/// one below 100 (exact counting where a token matters), up to `MAX_BLOCK` at 2% of the limit.
pub fn block_size(limit: u32) -> u32 {
    (limit / 50).clamp(1, MAX_BLOCK)
}

/// Where a key stands in the current window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateStatus {
    pub limit: u32,
    /// Tokens left in the window as this instance last saw the shared counter, less what it spent since.
    pub remaining: u32,
    /// Epoch seconds when the window resets.
    pub reset: i64,
    /// Set when this request is over the limit: seconds until it may be retried.
    pub retry_after: Option<u64>,
}

/// The block of tokens this instance holds for one key in one window: tokens `next..=last` of
/// the window's count are its to spend.
#[derive(Debug, Clone, Copy)]
struct Block {
    window_start: i64,
    next: u64,
    last: u64,
}

#[derive(Clone)]
pub struct RateLimiter {
    counter: Arc<dyn RateCounter>,
    /// Requests per minute for keys without their own limit; `None` switches limiting off.
    default_per_minute: Option<u32>,
    /// Per key id, the block in hand; entries of past windows are dropped as new ones are taken.
    blocks: Arc<Mutex<HashMap<String, Block>>>,
}

impl RateLimiter {
    pub fn new(counter: Arc<dyn RateCounter>, default_per_minute: Option<u32>) -> RateLimiter {
        RateLimiter { counter, default_per_minute, blocks: Arc::default() }
    }

    fn blocks(&self) -> std::sync::MutexGuard<'_, HashMap<String, Block>> {
        // Plain numbers: a panic elsewhere cannot leave them inconsistent.
        self.blocks.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Spends the next token of the block in hand for this key and window, if one is left.
    fn spend(&self, key_id: &str, window_start: i64) -> Option<u64> {
        let mut blocks = self.blocks();
        let block = blocks.get_mut(key_id).filter(|b| b.window_start == window_start && b.next <= b.last)?;
        block.next += 1;
        Some(block.next - 1)
    }

    /// Counts this request; `None` when limiting is off (then no store request is made).
    /// If the counter is unavailable the request is let through: a limiter must not take the API down.
    pub async fn check(&self, key: &ApiKeyRecord, now: Timestamp) -> Option<RateStatus> {
        let default = self.default_per_minute?;
        let limit = key.rate_limit.unwrap_or(default);
        let now = now.epoch_secs();
        let window_start = now - now.rem_euclid(WINDOW_SECS);
        let reset = window_start + WINDOW_SECS;
        let token = match self.spend(&key.key_id, window_start) {
            Some(token) => token,
            None => {
                let size = u64::from(block_size(limit));
                match self.counter.take(&key.key_id, window_start, size, reset + WINDOW_SECS).await {
                    Ok(count) => {
                        // Concurrent requests of this instance may each take a block; the latest is kept.
                        let first = count.saturating_sub(size) + 1;
                        let block = Block { window_start, next: first + 1, last: count };
                        let mut blocks = self.blocks();
                        blocks.retain(|_, b| b.window_start >= window_start);
                        blocks.insert(key.key_id.clone(), block);
                        first
                    }
                    Err(err) => {
                        warn!(key_id = %key.key_id, error = %chain(&err), "rate counter unavailable; letting the request through");
                        return Some(RateStatus { limit, remaining: limit, reset, retry_after: None });
                    }
                }
            }
        };
        let remaining = u64::from(limit).saturating_sub(token) as u32;
        let retry_after = (token > u64::from(limit)).then(|| (reset - now).max(1) as u64);
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
    async fn a_busy_key_takes_tokens_in_blocks_and_two_instances_never_pass_the_limit_together() {
        let counter = Arc::new(MemoryRateCounter::default());
        let (one, two) = (RateLimiter::new(counter.clone(), Some(600)), RateLimiter::new(counter.clone(), Some(600)));
        let key = key(Some(1000));
        assert_eq!(block_size(1000), 20);
        let now = at(1_700_000_000);
        let mut allowed = 0;
        for i in 0..1_200 {
            let limiter = if i % 3 == 0 { &two } else { &one };
            if limiter.check(&key, now).await.unwrap().retry_after.is_none() {
                allowed += 1;
            }
        }
        // Each instance leaves at most one block unfinished.
        assert!((1000 - 2 * 19..=1000).contains(&allowed), "{allowed}");
        assert!(counter.takes() <= 1_200 / 20 + 2, "{} counter writes", counter.takes());
    }

    #[test]
    fn small_limits_count_every_request_and_large_ones_cap_the_block() {
        assert_eq!(
            [block_size(1), block_size(99), block_size(100), block_size(600), block_size(100_000)],
            [1, 1, 2, 12, 20]
        );
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
