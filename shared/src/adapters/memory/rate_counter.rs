//! Rate-limit windows in memory: a count per (bucket, window).

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::lock;
use crate::ports::{RateCounter, StoreError};

#[derive(Default)]
pub struct MemoryRateCounter {
    windows: Mutex<HashMap<(String, i64), u64>>,
    takes: Mutex<u64>,
}

impl MemoryRateCounter {
    /// How many times tokens were taken: the counter writes a store would have made.
    pub fn takes(&self) -> u64 {
        *lock(&self.takes)
    }
}

#[async_trait]
impl RateCounter for MemoryRateCounter {
    async fn take(&self, bucket: &str, window_start: i64, tokens: u64, _expires_at: i64) -> Result<u64, StoreError> {
        *lock(&self.takes) += 1;
        let mut windows = lock(&self.windows);
        let count = windows.entry((bucket.to_string(), window_start)).or_default();
        *count += tokens;
        Ok(*count)
    }
}
