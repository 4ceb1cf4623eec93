//! Rate-limit windows in memory: a count per (bucket, window).

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::lock;
use crate::ports::{RateCounter, StoreError};

#[derive(Default)]
pub struct MemoryRateCounter {
    windows: Mutex<HashMap<(String, i64), u64>>,
}

#[async_trait]
impl RateCounter for MemoryRateCounter {
    async fn hit(&self, bucket: &str, window_start: i64, _expires_at: i64) -> Result<u64, StoreError> {
        let mut windows = lock(&self.windows);
        let hits = windows.entry((bucket.to_string(), window_start)).or_default();
        *hits += 1;
        Ok(*hits)
    }
}
