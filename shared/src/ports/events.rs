//! The webhook events queue: status changes become one message per subscribed webhook and event,
//! which the webhook function posts; a message it could not post comes back after a backoff.

use std::time::Duration;

use async_trait::async_trait;

use super::QueueError;
use crate::domain::webhook::EventDelivery;

#[async_trait]
pub trait EventQueue: Send + Sync {
    /// Queues every delivery, or fails (the caller retries the lot; a copy queued twice carries
    /// the same event id, which receivers dedupe on).
    async fn publish(&self, deliveries: &[EventDelivery]) -> Result<(), QueueError>;
    /// Hides a received delivery for `delay`, the retry backoff.
    async fn retry_later(&self, receipt_handle: &str, delay: Duration) -> Result<(), QueueError>;
}

/// A delivery on the events dead-letter queue, as read for a replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadEvent {
    pub receipt_handle: String,
    pub body: String,
}

/// The events dead-letter queue, as `outbox-admin webhooks replay` works through it.
#[async_trait]
pub trait DeadEvents: Send + Sync {
    /// Up to 10 dead-lettered deliveries, each hidden from other readers for `hold`; empty when
    /// none is left to see.
    async fn take(&self, hold: Duration) -> Result<Vec<DeadEvent>, QueueError>;
    /// Deletes one that went back on the events queue.
    async fn remove(&self, receipt_handle: &str) -> Result<(), QueueError>;
    /// Makes one visible again at once (one a replay did not select).
    async fn put_back(&self, receipt_handle: &str) -> Result<(), QueueError>;
}
