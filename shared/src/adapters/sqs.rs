//! SQS: the delivery queue and its dead-letter queue, and the webhook events queue.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{MessageAttributeValue, QueueAttributeName, SendMessageBatchRequestEntry};
use futures_util::{StreamExt, stream};
use tracing::warn;

use super::aws::LazyClient;
use crate::domain::ids::QueueId;
use crate::domain::job::{Job, MAX_SQS_DELAY_SECS};
use crate::domain::time::Timestamp;
use crate::domain::webhook::EventDelivery;
use crate::ports::{DeadEvent, DeadEvents, EventQueue, JobQueue, QueueError};
use crate::telemetry::chain;

/// SQS takes at most 10 messages per batch call.
const SQS_BATCH: usize = 10;
/// Batch calls in flight at once when queueing a broadcast.
const CONCURRENT_BATCHES: usize = 8;

/// SQS caps a message's visibility timeout at 12 hours.
const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 60 * 60);

#[derive(Clone, Debug)]
pub struct SqsQueue {
    client: LazyClient<Client>,
    queue_url: String,
    dlq_url: String,
    /// The longest `DelaySeconds` a job is sent with (`Config::max_delay`).
    max_delay: Duration,
}

impl SqsQueue {
    pub fn new(
        client: impl Into<LazyClient<Client>>,
        queue_url: impl Into<String>,
        dlq_url: impl Into<String>,
    ) -> SqsQueue {
        let max_delay = Duration::from_secs(MAX_SQS_DELAY_SECS as u64);
        SqsQueue { client: client.into(), queue_url: queue_url.into(), dlq_url: dlq_url.into(), max_delay }
    }

    /// Sends jobs with at most `max_delay` (instead of SQS's 15 minutes).
    pub fn with_max_delay(self, max_delay: Duration) -> SqsQueue {
        SqsQueue { max_delay, ..self }
    }
}

fn queue_error(err: impl std::error::Error + Send + Sync + 'static) -> QueueError {
    QueueError::new("an SQS request failed", err)
}

/// Hides a received message for `delay` (at most SQS's 12 hours): a retry's backoff.
async fn hide(client: &Client, queue_url: &str, receipt_handle: &str, delay: Duration) -> Result<(), QueueError> {
    client
        .change_message_visibility()
        .queue_url(queue_url)
        .receipt_handle(receipt_handle)
        .visibility_timeout(delay.min(MAX_VISIBILITY).as_secs() as i32)
        .send()
        .await
        .map_err(queue_error)?;
    Ok(())
}

impl SqsQueue {
    /// One SendMessageBatch call; returns the queue_ids SQS did not take.
    async fn send_batch(&self, batch: &[Job], now: i64) -> Vec<QueueId> {
        let entries: Vec<SendMessageBatchRequestEntry> = batch
            .iter()
            .enumerate()
            .filter_map(|(i, job)| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(job.encode())
                    .delay_seconds(job.delay(now, self.max_delay).as_secs() as i32)
                    .build()
                    .ok()
            })
            .collect();
        match self.client.send_message_batch().queue_url(&self.queue_url).set_entries(Some(entries)).send().await {
            Ok(output) => output
                .failed
                .iter()
                .filter_map(|f| f.id.parse::<usize>().ok().and_then(|i| batch.get(i)))
                .map(|job| job.queue_id.clone())
                .collect(),
            Err(err) => {
                warn!(error = %chain(&err), jobs = batch.len(), "a batch of jobs could not be queued");
                batch.iter().map(|job| job.queue_id.clone()).collect()
            }
        }
    }
}

#[async_trait]
impl JobQueue for SqsQueue {
    async fn enqueue(&self, job: &Job, now: Timestamp) -> Result<(), QueueError> {
        let delay = job.delay(now.epoch_secs(), self.max_delay).as_secs() as i32;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(job.encode())
            .delay_seconds(delay)
            .send()
            .await
            .map_err(queue_error)?;
        Ok(())
    }

    async fn enqueue_many(&self, jobs: &[Job], now: Timestamp) -> Vec<QueueId> {
        let batches: Vec<_> = jobs.chunks(SQS_BATCH).map(|batch| self.send_batch(batch, now.epoch_secs())).collect();
        stream::iter(batches).buffer_unordered(CONCURRENT_BATCHES).collect::<Vec<Vec<QueueId>>>().await.concat()
    }

    async fn change_visibility(&self, receipt_handle: &str, delay: Duration) -> Result<(), QueueError> {
        hide(&self.client, &self.queue_url, receipt_handle, delay).await
    }

    async fn dead_letter(&self, body: &str, reason: &str) -> Result<(), QueueError> {
        let reason =
            MessageAttributeValue::builder().data_type("String").string_value(reason).build().map_err(queue_error)?;
        self.client
            .send_message()
            .queue_url(&self.dlq_url)
            .message_body(body)
            .message_attributes("outbox-reason", reason)
            .send()
            .await
            .map_err(queue_error)?;
        Ok(())
    }

    async fn approximate_depth(&self) -> Result<u64, QueueError> {
        let output = self
            .client
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .map_err(queue_error)?;
        let depth = output
            .attributes
            .and_then(|attributes| attributes.get(&QueueAttributeName::ApproximateNumberOfMessages).cloned())
            .and_then(|value| value.parse().ok())
            .unwrap_or(0);
        Ok(depth)
    }
}

/// The webhook events queue (its dead-letter queue is the redrive policy's, read by `outbox-admin`).
#[derive(Clone, Debug)]
pub struct SqsEvents {
    client: LazyClient<Client>,
    queue_url: String,
}

impl SqsEvents {
    pub fn new(client: impl Into<LazyClient<Client>>, queue_url: impl Into<String>) -> SqsEvents {
        SqsEvents { client: client.into(), queue_url: queue_url.into() }
    }

    /// One SendMessageBatch call; an entry SQS did not take fails the whole call.
    async fn send_batch(&self, batch: &[EventDelivery]) -> Result<(), QueueError> {
        let entries = batch
            .iter()
            .enumerate()
            .map(|(i, delivery)| {
                SendMessageBatchRequestEntry::builder().id(i.to_string()).message_body(delivery.encode()).build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(queue_error)?;
        let output = self
            .client
            .send_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(queue_error)?;
        match output.failed.first() {
            None => Ok(()),
            Some(failed) => Err(QueueError::new(
                format!("SQS did not take {} of {} events", output.failed.len(), batch.len()),
                failed.message.clone().unwrap_or_else(|| failed.code.clone()),
            )),
        }
    }
}

#[async_trait]
impl EventQueue for SqsEvents {
    async fn publish(&self, deliveries: &[EventDelivery]) -> Result<(), QueueError> {
        let batches: Vec<_> = deliveries.chunks(SQS_BATCH).map(|batch| self.send_batch(batch)).collect();
        stream::iter(batches).buffer_unordered(CONCURRENT_BATCHES).collect::<Vec<_>>().await.into_iter().collect()
    }

    async fn retry_later(&self, receipt_handle: &str, delay: Duration) -> Result<(), QueueError> {
        hide(&self.client, &self.queue_url, receipt_handle, delay).await
    }
}

/// The events dead-letter queue, read by a replay.
#[derive(Clone, Debug)]
pub struct SqsDeadEvents {
    client: LazyClient<Client>,
    dlq_url: String,
}

impl SqsDeadEvents {
    pub fn new(client: impl Into<LazyClient<Client>>, dlq_url: impl Into<String>) -> SqsDeadEvents {
        SqsDeadEvents { client: client.into(), dlq_url: dlq_url.into() }
    }
}

#[async_trait]
impl DeadEvents for SqsDeadEvents {
    async fn take(&self, hold: Duration) -> Result<Vec<DeadEvent>, QueueError> {
        let output = self
            .client
            .receive_message()
            .queue_url(&self.dlq_url)
            .max_number_of_messages(SQS_BATCH as i32)
            .visibility_timeout(hold.min(MAX_VISIBILITY).as_secs() as i32)
            // A short wait: SQS's short poll may answer empty while messages remain on other hosts.
            .wait_time_seconds(1)
            .send()
            .await
            .map_err(queue_error)?;
        Ok(output
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|message| Some(DeadEvent { receipt_handle: message.receipt_handle?, body: message.body? }))
            .collect())
    }

    async fn remove(&self, receipt_handle: &str) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(&self.dlq_url)
            .receipt_handle(receipt_handle)
            .send()
            .await
            .map_err(queue_error)?;
        Ok(())
    }

    async fn put_back(&self, receipt_handle: &str) -> Result<(), QueueError> {
        hide(&self.client, &self.dlq_url, receipt_handle, Duration::ZERO).await
    }
}
