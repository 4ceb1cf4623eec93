//! A local stand-in for Lambda's SQS event source mapping: long-polls a queue, hands batches of up
//! to 10 (with all attributes) to the same handler the Lambda binary runs, deletes the successes
//! and leaves the reported failures to their visibility timeout.

use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage, SqsMessageAttribute};
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName, QueueAttributeName};
use tokio::sync::watch;
use tracing::{debug, warn};

use crate::domain::time::Timestamp;
use crate::ports::{Clock, SystemClock};
use crate::telemetry::chain;

/// Where to poll, and how.
#[derive(Clone, Debug)]
pub struct EventSource {
    pub sqs: Client,
    pub queue_url: String,
    /// Long-poll wait; Lambda uses 20 s, shorter keeps shutdown and tests snappy.
    pub wait: Duration,
    /// The function's timeout: each batch's deadline is this long after it arrives, as in Lambda.
    pub timeout: Duration,
}

impl EventSource {
    /// Runs until `shutdown` turns true; a batch in progress is always finished first.
    pub async fn run<H, F>(&self, handler: H, mut shutdown: watch::Receiver<bool>)
    where
        H: Fn(SqsEvent, Timestamp) -> F,
        F: Future<Output = SqsBatchResponse>,
    {
        let arn = self.queue_arn().await;
        while !*shutdown.borrow() {
            let received = tokio::select! {
                received = self.receive(&arn) => received,
                _ = shutdown.changed() => break,
            };
            let event = match received {
                Ok(event) => event,
                Err(err) => {
                    warn!(queue = %self.queue_url, error = %err, "receive failed; retrying in 1 s");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = shutdown.changed() => {}
                    }
                    continue;
                }
            };
            if event.records.is_empty() {
                continue;
            }
            let receipts = receipts_of(&event);
            // What Lambda hands a function as `Context::deadline`.
            let deadline = SystemClock.now().plus(self.timeout);
            let response = handler(event, deadline).await;
            self.acknowledge(receipts, &response).await;
        }
    }

    /// One long-poll: up to 10 messages with all their attributes, as Lambda's records.
    pub async fn receive(&self, arn: &str) -> Result<SqsEvent, String> {
        let output = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(self.wait.as_secs() as i32)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|err| chain(&err).to_string())?;
        let mut event = SqsEvent::default();
        event.records = output.messages.unwrap_or_default().into_iter().map(|m| to_record(m, arn)).collect();
        Ok(event)
    }

    /// Deletes every received message the handler did not report as failed, as the event source mapping does.
    pub async fn acknowledge(&self, receipts: Vec<(String, String)>, response: &SqsBatchResponse) {
        let failed: HashSet<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
        self.delete(receipts.into_iter().filter(|(id, _)| !failed.contains(id.as_str())).collect()).await;
    }

    pub async fn queue_arn(&self) -> String {
        let attributes = self
            .sqs
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await;
        attributes
            .ok()
            .and_then(|output| output.attributes)
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .unwrap_or_default()
    }

    async fn delete(&self, done: Vec<(String, String)>) {
        if done.is_empty() {
            return;
        }
        let entries: Vec<DeleteMessageBatchRequestEntry> = done
            .iter()
            .enumerate()
            .filter_map(|(i, (_, receipt))| {
                DeleteMessageBatchRequestEntry::builder().id(i.to_string()).receipt_handle(receipt).build().ok()
            })
            .collect();
        match self.sqs.delete_message_batch().queue_url(&self.queue_url).set_entries(Some(entries)).send().await {
            Ok(output) if !output.failed.is_empty() => {
                warn!(
                    failed = output.failed.len(),
                    "some processed messages could not be deleted; they will be seen again"
                )
            }
            Ok(_) => debug!(deleted = done.len(), "batch acknowledged"),
            Err(err) => {
                warn!(error = %chain(&err), "delete failed; the batch will be seen again")
            }
        }
    }
}

/// (message id, receipt handle) of each record.
pub fn receipts_of(event: &SqsEvent) -> Vec<(String, String)> {
    event
        .records
        .iter()
        .map(|r| (r.message_id.clone().unwrap_or_default(), r.receipt_handle.clone().unwrap_or_default()))
        .collect()
}

/// An SQS message as Lambda would hand it over.
fn to_record(message: Message, arn: &str) -> SqsMessage {
    let mut record = SqsMessage::default();
    record.attributes = message
        .attributes
        .unwrap_or_default()
        .into_iter()
        .map(|(name, value)| (name.as_str().to_string(), value))
        .collect();
    record.message_attributes = message
        .message_attributes
        .unwrap_or_default()
        .into_iter()
        .map(|(name, value)| {
            let mut attribute = SqsMessageAttribute::default();
            attribute.string_value = value.string_value;
            attribute.data_type = Some(value.data_type);
            (name, attribute)
        })
        .collect();
    record.message_id = message.message_id;
    record.receipt_handle = message.receipt_handle;
    record.body = message.body;
    record.md5_of_body = message.md5_of_body;
    record.md5_of_message_attributes = message.md5_of_message_attributes;
    record.event_source = Some("aws:sqs".into());
    record.event_source_arn = Some(arn.to_string());
    record.aws_region = Some("us-east-1".into());
    record
}
