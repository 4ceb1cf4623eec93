//! `queue_position`: SQS's approximate depth, fetched at most once per `max_age` per instance and
//! counted forward locally, so a send never waits for an extra round trip.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tracing::debug;

use crate::ports::JobQueue;
use crate::telemetry::chain;

/// The approximate queue depth, fetched at most once per `max_age` and counted forward locally.
pub struct QueueDepth {
    max_age: Duration,
    refreshing: AtomicBool,
    state: Mutex<DepthState>,
}

#[derive(Default)]
struct DepthState {
    depth: u64,
    fetched_at: Option<Instant>,
    added_since: u64,
}

impl QueueDepth {
    pub fn new(max_age: Duration) -> QueueDepth {
        QueueDepth { max_age, refreshing: AtomicBool::new(false), state: Mutex::new(DepthState::default()) }
    }

    /// The number of jobs ahead of a new one; counts the new one for the next caller.
    pub async fn position(&self, queue: &dyn JobQueue) -> u64 {
        let stale = self.lock().fetched_at.is_none_or(|at| at.elapsed() >= self.max_age);
        // One refresh at a time; concurrent callers use the previous value.
        if stale && !self.refreshing.swap(true, Ordering::AcqRel) {
            match queue.approximate_depth().await {
                Ok(depth) => *self.lock() = DepthState { depth, fetched_at: Some(Instant::now()), added_since: 0 },
                Err(err) => debug!(error = %chain(&err), "queue depth unavailable; keeping the last value"),
            }
            self.refreshing.store(false, Ordering::Release);
        }
        let mut state = self.lock();
        let position = state.depth + state.added_since;
        state.added_since += 1;
        position
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DepthState> {
        // The state is plain numbers: a panic elsewhere cannot leave it inconsistent.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
