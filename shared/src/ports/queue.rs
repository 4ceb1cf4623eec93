//! The delivery queue.

use std::time::Duration;

use async_trait::async_trait;

use super::QueueError;
use crate::domain::ids::QueueId;
use crate::domain::job::Job;
use crate::domain::time::Timestamp;

/// The delivery queue.
#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Puts `job` on the queue, held back until it is due (at most 15 minutes at a time from `now`).
    async fn enqueue(&self, job: &Job, now: Timestamp) -> Result<(), QueueError>;
    /// Enqueues many jobs in batches, concurrently; returns the queue_ids of the jobs not queued.
    async fn enqueue_many(&self, jobs: &[Job], now: Timestamp) -> Vec<QueueId>;
    /// Hides a received job for `delay` (the retry backoff).
    async fn change_visibility(&self, receipt_handle: &str, delay: Duration) -> Result<(), QueueError>;
    /// Moves a body that cannot be processed straight to the dead-letter queue.
    async fn dead_letter(&self, body: &str, reason: &str) -> Result<(), QueueError>;
    /// Jobs waiting to be picked up, approximately (SQS ApproximateNumberOfMessages).
    async fn approximate_depth(&self) -> Result<u64, QueueError>;
}
