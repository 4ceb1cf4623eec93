//! The events queue in memory: what was published, and the backoffs asked for.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use super::lock;
use crate::domain::webhook::EventDelivery;
use crate::ports::{DeadEvent, DeadEvents, EventQueue, QueueError};

#[derive(Default)]
pub struct MemoryEvents {
    published: Mutex<Vec<EventDelivery>>,
    retries: Mutex<Vec<(String, Duration)>>,
    /// Publishes still to fail, as an SQS outage would.
    failures: Mutex<u32>,
}

impl MemoryEvents {
    pub fn published(&self) -> Vec<EventDelivery> {
        lock(&self.published).clone()
    }

    /// The receipt handles hidden for a backoff, and for how long.
    pub fn retries(&self) -> Vec<(String, Duration)> {
        lock(&self.retries).clone()
    }

    /// The next `count` publishes fail.
    pub fn fail_next(&self, count: u32) {
        *lock(&self.failures) = count;
    }
}

#[async_trait]
impl EventQueue for MemoryEvents {
    async fn publish(&self, deliveries: &[EventDelivery]) -> Result<(), QueueError> {
        {
            let mut failures = lock(&self.failures);
            if *failures > 0 {
                *failures -= 1;
                return Err(QueueError::new("injected", "the events queue is down"));
            }
        }
        lock(&self.published).extend_from_slice(deliveries);
        Ok(())
    }

    async fn retry_later(&self, receipt_handle: &str, delay: Duration) -> Result<(), QueueError> {
        lock(&self.retries).push((receipt_handle.to_string(), delay));
        Ok(())
    }
}

/// The events dead-letter queue in memory: bodies by receipt handle, and which are hidden.
#[derive(Default)]
pub struct MemoryDeadEvents {
    /// `(receipt handle, body, hidden)`, oldest first.
    messages: Mutex<Vec<(String, String, bool)>>,
}

impl MemoryDeadEvents {
    pub fn push(&self, body: &str) {
        let mut messages = lock(&self.messages);
        let handle = format!("dead-{}", messages.len());
        messages.push((handle, body.to_string(), false));
    }

    /// The bodies still on the queue, hidden or not.
    pub fn bodies(&self) -> Vec<String> {
        lock(&self.messages).iter().map(|(_, body, _)| body.clone()).collect()
    }
}

#[async_trait]
impl DeadEvents for MemoryDeadEvents {
    async fn take(&self, _hold: Duration) -> Result<Vec<DeadEvent>, QueueError> {
        let mut messages = lock(&self.messages);
        Ok(messages
            .iter_mut()
            .filter(|(_, _, hidden)| !*hidden)
            .take(10)
            .map(|(handle, body, hidden)| {
                *hidden = true;
                DeadEvent { receipt_handle: handle.clone(), body: body.clone() }
            })
            .collect())
    }

    async fn remove(&self, receipt_handle: &str) -> Result<(), QueueError> {
        lock(&self.messages).retain(|(handle, _, _)| handle != receipt_handle);
        Ok(())
    }

    async fn put_back(&self, receipt_handle: &str) -> Result<(), QueueError> {
        for (handle, _, hidden) in lock(&self.messages).iter_mut() {
            if handle == receipt_handle {
                *hidden = false;
            }
        }
        Ok(())
    }
}
